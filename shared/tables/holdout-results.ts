/**
 * Incremental revenue against the holdout, per analysis window and pre-period segment: sufficient
 * statistics from the history (one row per window, segment and group), the statistics in TypeScript.
 */
import { col } from '../catalog.js';
import { daysFrom, shiftDate } from '../dates.js';
import { channelHoldouts, GLOBAL_HOLDOUT } from '../holdout/assign-sql.js';
import { holdoutReport, returnOnCost, type ResultRow, type StatRow } from '../holdout/report.js';
import { analysisWindows, holdoutStatsSql, WATCHED_WINDOW } from '../holdout/results-sql.js';
import { dateLiteral, literal, valuesRelation } from '../sql/dialect.js';
import { customerScores } from './customer-scores.js';
import { crmCosts } from './crm-costs.js';
import { earlierPartition, wholeHistory, type TableModel } from './model.js';

/** The verdicts a row can carry ({@link holdoutReport}). */
const verdicts = (config: { holdout: { min_group_size: number; min_buyers: number } }) => [
  'significant gain',
  'significant loss',
  'inconclusive',
  `suppressed: fewer than ${config.holdout.min_group_size} customers in a group`,
  `suppressed: fewer than ${config.holdout.min_buyers} buyers in a group`,
];

/** Columns as the report and Slack state them: the anytime-valid one for the watched window, the fixed one otherwise. */
const judged = (columns: Readonly<Record<string, string>>) =>
  Object.entries(columns)
    .map(([fixed, sequential]) => `CASE WHEN "window" = '${WATCHED_WINDOW}' THEN ${sequential} ELSE ${fixed} END AS ${fixed}`)
    .join(', ');

/** The interval and p-value each row's verdict judges by, as a select list over holdout_results. */
export const JUDGED_INTERVAL = judged({ ci_low: 'seq_ci_low', ci_high: 'seq_ci_high', p_value: 'seq_p_value' });

/** The rows of the holdout of every channel, in holdout_results or holdout_leaks (SQL). */
export const GLOBAL_HOLDOUT_ROWS = `holdout = ${literal(GLOBAL_HOLDOUT)}`;

/** The interval of the ROI as stated (the payback sentence). */
export const JUDGED_ROI_INTERVAL = judged({ roi_ci_low: 'roi_seq_ci_low', roi_ci_high: 'roi_seq_ci_high' });

const num = <const N extends string>(name: N, description: string) => col(name, 'double', description, true);

export const holdoutResults = {
  name: 'holdout_results',
  description:
    'Incremental revenue, future value and ROI of CRM communication: treatment vs the holdout control, per holdout (all channels, or one), analysis window and pre-period segment ("ALL" for everyone).',
  columns: [
    col('holdout', 'string', '"global" (the control group receives no CRM communication) or a CRM channel of holdout.channels (within the treatment group, its control receives everything but that channel).'),
    col('window', 'string', '"last_<N>_days" (holdout.window_days) or "since_start" (from holdout.started_at, the salt\'s first day; default the start of the history).'),
    col('segment', 'string', 'Segment at the start of the window (from the scores of the day before), "unknown" without one, or "ALL".'),
    col('n_treatment', 'bigint', 'Treatment customers known by the end of the window.'),
    col('n_control', 'bigint', 'Control customers known by the end of the window.'),
    num('revenue_treatment', 'Net revenue of the treatment group in the window.'),
    num('revenue_control', 'Net revenue of the control group in the window.'),
    num('mean_treatment', 'Revenue per treatment customer.'),
    num('mean_control', 'Revenue per control customer.'),
    num('sd_treatment', 'Standard deviation of revenue per treatment customer.'),
    num('sd_control', 'Standard deviation of revenue per control customer.'),
    num('delta_per_customer', 'mean_treatment − mean_control.'),
    num('df', 'Welch–Satterthwaite degrees of freedom of the test.'),
    num('incremental_revenue', '(revenue_treatment / n_treatment − revenue_control / n_control) × n_treatment.'),
    num('ci_low', '95 % CI of incremental_revenue: n_treatment × Welch CI of the difference in means.'),
    num('ci_high', 'Upper end of that CI.'),
    num('p_value', "Two-sided Welch t-test p-value (Welch–Satterthwaite df)."),
    num('p_value_bh', 'Benjamini–Hochberg adjusted p-value across the segments of the window (NULL for ALL).'),
    num('relative_lift', 'mean_treatment / mean_control − 1.'),
    num('relative_ci_low', '95 % CI of the relative lift (delta method).'),
    num('relative_ci_high', 'Upper end of that CI.'),
    num('mde_per_customer', 'Minimum detectable difference in revenue per customer at 80 % power.'),
    num('conversion_treatment', 'Share of treatment customers who purchased in the window.'),
    num('conversion_control', 'Share of control customers who purchased in the window.'),
    num('conversion_difference', 'conversion_treatment − conversion_control.'),
    num('conversion_p_value', 'Two-proportion z-test p-value of the conversion difference.'),
    num('cuped_incremental_revenue', 'incremental_revenue with CUPED (covariate: revenue in the equally long period before the window).'),
    num('cuped_ci_low', '95 % CI of the CUPED estimate.'),
    num('cuped_ci_high', 'Upper end of that CI.'),
    num('cuped_p_value', 'p-value of the CUPED estimate.'),
    num('winsor_cap', 'Cap on per-customer revenue: the pooled holdout.winsor_quantile of the window.'),
    num('winsorized_incremental_revenue', 'incremental_revenue with per-customer revenue capped at winsor_cap.'),
    num('winsorized_ci_low', '95 % CI of the winsorized estimate.'),
    num('winsorized_ci_high', 'Upper end of that CI.'),
    num('winsorized_p_value', 'p-value of the winsorized estimate.'),
    num('seq_ci_low', '95 % confidence sequence of incremental_revenue (Waudby-Smith et al. 2023, as GrowthBook\'s sequential testing; N* = holdout.sequential_tuning): valid however often the row is read.'),
    num('seq_ci_high', 'Upper end of that interval.'),
    num('seq_p_value', 'Always-valid p-value: below 0.05 exactly when the sequence excludes 0.'),
    num('incremental_equity', 'Incremental customer equity: (mean CLV of treatment − mean CLV of control) × n_treatment, CLV as scored at the end of the window, CUPED-adjusted with CLV as scored the day before it (clv.margin applied, as in customer_scores).'),
    num('equity_ci_low', '95 % CI of incremental_equity.'),
    num('equity_ci_high', 'Upper end of that CI.'),
    num('incremental_value', 'clv.margin × incremental_revenue + incremental_equity: the profit now and the change in future value.'),
    num('value_ci_low', '95 % CI of incremental_value, from the per-customer value (margin × window revenue + CLV at the end, adjusted as the equity), so that the two parts\' correlation is honoured.'),
    num('value_ci_high', 'Upper end of that CI.'),
    num('value_p_value', 'Two-sided Welch p-value of incremental_value.'),
    num('value_seq_ci_low', '95 % confidence sequence of incremental_value (as seq_ci_low): valid however often the row is read.'),
    num('value_seq_ci_high', 'Upper end of that interval.'),
    num('cost', 'Programme cost in the window, ALL rows only (the programme is not costed per segment): for "global", crm_costs (every channel and campaign) plus roi.fixed_cost_per_day per day; for a channel, its crm_costs.'),
    num('roi', '(incremental_value − cost) / cost: what CRM returned per unit of cost, net of it; NULL without a cost.'),
    num('roi_ci_low', '95 % CI of roi (from value_ci_low/high: the cost is known).'),
    num('roi_ci_high', 'Upper end of that CI.'),
    num('roi_seq_ci_low', 'The anytime-valid interval of roi (from value_seq_ci_low/high); the since_start window, read every night, is stated by it.'),
    num('roi_seq_ci_high', 'Upper end of that interval.'),
    num('srm_p_value', 'Chi-square p-value of the group sizes against holdout.control_share.'),
    col('srm_flag', 'boolean', 'True when srm_p_value < 0.001: the split is not what was configured, distrust the row.'),
    col('verdict', 'string', '"significant gain", "significant loss", "inconclusive", or "suppressed: …" for groups below holdout.min_group_size customers or holdout.min_buyers buyers in the window. The since_start window, read every night, judges by seq_p_value (its interval by seq_ci_low/high); the rolling window by p_value.'),
  ],
  orderBy: ['holdout', 'window', 'segment'],
  key: ['holdout', 'window', 'segment'],
  checks: { accepted: { verdict: verdicts } },
  facts: (config, date) => ({ windows: analysisWindows(config.holdout, date) }),
  build: async (ctx): Promise<string> => {
    const { holdout } = ctx.config;
    // The history's first day, from the per-customer assignment rather than the history.
    const [first] = await ctx.engine.query<{ first: string | null }>(`SELECT CAST(min(assigned_at) AS VARCHAR) AS first FROM (${ctx.assignment}) AS a`);
    const windows = analysisWindows(holdout, ctx.date).map((w) => ({ ...w, start: w.start ?? first!.first ?? ctx.date }));
    // Each window's segments are the customers' segments the day before it starts, when scored.
    // … and their CLV then is the covariate of the change in CLV since.
    const startScores = new Map<string, string>();
    for (const w of windows) {
      const before = await earlierPartition(ctx, customerScores, shiftDate(w.start, -1));
      if (before) startScores.set(w.name, `SELECT customer_id, segment, clv FROM (${before}) AS p`);
    }
    const endScores = `SELECT customer_id, clv FROM (${ctx.scored}) AS s`;
    const channels = channelHoldouts(holdout);
    const stats = holdoutStatsSql(ctx.customers, ctx.assignment, windows, (w) => startScores.get(w.name), endScores, holdout.winsor_quantile, channels);
    const rows = holdoutReport(await ctx.engine.query<StatRow>(stats), {
      controlShare: (name) => holdout.channels[name]?.control_share ?? holdout.control_share,
      minGroupSize: holdout.min_group_size,
      minBuyers: holdout.min_buyers,
      sequentialTuning: holdout.sequential_tuning,
      margin: ctx.config.clv.margin,
    });
    // Each window's cost: what the CRM platform booked per channel, and the programme's fixed cost per day.
    const costs = await wholeHistory(ctx, crmCosts);
    // Per channel and in all (channel NULL), summed as decimals: exact, whatever the rows' order.
    const booked = await ctx.engine.query<{ window: string; channel: string | null; cost: number }>(windows
      .map((w) => `SELECT ${literal(w.name)} AS "window", channel, CAST(sum(amount) AS DOUBLE) AS cost FROM (${costs}) AS c
        WHERE cost_date BETWEEN ${dateLiteral(w.start)} AND ${dateLiteral(w.end)} GROUP BY GROUPING SETS ((channel), ())`)
      .join(' UNION ALL '));
    const costOf = (row: ResultRow) => {
      const w = windows.find((w) => w.name === row.window)!;
      const global = row.holdout === GLOBAL_HOLDOUT;
      const platform = booked.find((b) => b.window === w.name && (global ? b.channel === null : b.channel === row.holdout))?.cost ?? 0;
      return platform + (global ? ctx.config.roi.fixed_cost_per_day * (daysFrom(w.start, w.end) + 1) : 0);
    };
    for (const row of rows.filter((r) => r.segment === 'ALL')) {
      const cost = costOf(row);
      Object.assign(row, { cost }, returnOnCost(row, cost));
    }
    return valuesRelation(holdoutResults, rows);
  },
} as const satisfies TableModel;
