/**
 * The holdout report from sufficient statistics: per window and segment, the raw, CUPED and
 * winsorized incremental revenue with CIs and p-values, the anytime-valid interval and p-value
 * (`sequential.ts`), conversion, sample-ratio check, MDE and a verdict; Benjamini-Hochberg across
 * the segments of a window. Pure: rows in, rows out.
 */
import {
  benjaminiHochberg,
  conversion,
  cuped,
  minimumDetectableEffect,
  sampleRatioMismatch,
  welch,
  type CupedGroupStats,
} from './stats.js';
import { GLOBAL_HOLDOUT } from './assign-sql.js';
import { WATCHED_WINDOW } from './results-sql.js';
import { sequentialWelch } from './sequential.js';
import type { RowOf } from '../catalog.js';
import type { holdoutResults } from '../tables/holdout-results.js';

export type StatRow = {
  holdout: string;
  window: string;
  segment: string;
  holdout_group: string;
  cap: number;
  n: number;
  revenue: number;
  revenue_squares: number;
  conversions: number;
  pre: number;
  pre_squares: number;
  pre_revenue: number;
  capped: number;
  capped_squares: number;
  clv_end: number;
  clv_end_squares: number;
  clv_start: number;
  clv_start_squares: number;
  clv_start_end: number;
  revenue_clv_end: number;
  clv_start_revenue: number;
};

/** A row of `holdout_results`; a suppressed row leaves the statistics out (NULL when written). */
export type ResultRow = Partial<RowOf<typeof holdoutResults>>;

export interface ReportOptions {
  /** Each holdout's configured control share (holdout.control_share, holdout.channels), for the sample-ratio check. */
  controlShare: (holdout: string) => number;
  minGroupSize: number;
  /** Fewest buyers in the window in either group (holdout.min_buyers). */
  minBuyers: number;
  /** N* of the confidence sequence (holdout.sequential_tuning). */
  sequentialTuning: number;
  /** Share of revenue that is profit (clv.margin): the value is margin × revenue + CLV. */
  margin: number;
  alpha?: number;
}


const finite = (v: number): number | null => (Number.isFinite(v) ? v : null);

function groupStats(row: StatRow): CupedGroupStats {
  return { n: row.n, sum: row.revenue, sumSquares: row.revenue_squares, sumX: row.pre, sumXSquares: row.pre_squares, sumXY: row.pre_revenue };
}

/** One result row per (holdout, window, segment) that has both groups. */
export function holdoutReport(rows: readonly StatRow[], options: ReportOptions): ResultRow[] {
  const alpha = options.alpha ?? 0.05;
  const cells = new Map<string, { treatment?: StatRow; control?: StatRow }>();
  for (const row of rows) {
    const key = JSON.stringify([row.holdout, row.window, row.segment]);
    cells.set(key, { ...cells.get(key), [row.holdout_group]: row });
  }
  const results: ResultRow[] = [];
  for (const [key, { treatment: t, control: c }] of cells) {
    const [holdout, window, segment] = JSON.parse(key) as [string, string, string];
    const nT = t?.n ?? 0;
    const nC = c?.n ?? 0;
    const srm = sampleRatioMismatch(nT, nC, options.controlShare(holdout));
    const base: ResultRow = {
      holdout,
      window,
      segment,
      n_treatment: nT,
      n_control: nC,
      revenue_treatment: t?.revenue ?? 0,
      revenue_control: c?.revenue ?? 0,
      mean_treatment: nT ? (t!.revenue / nT) : null,
      mean_control: nC ? (c!.revenue / nC) : null,
      srm_p_value: finite(srm.pValue),
      srm_flag: srm.mismatch,
    };
    // A missing group has no customers: below min_group_size (at least 2).
    const tooFew =
      Math.min(nT, nC) < options.minGroupSize ? `${options.minGroupSize} customers`
      : Math.min(t?.conversions ?? 0, c?.conversions ?? 0) < options.minBuyers ? `${options.minBuyers} buyers`
      : undefined;
    if (!t || !c || tooFew) {
      results.push({ ...base, verdict: `suppressed: fewer than ${tooFew} in a group` });
      continue;
    }
    const raw = welch(groupStats(t), groupStats(c), alpha);
    const adjusted = cuped(groupStats(t), groupStats(c), alpha);
    const capped = welch(
      { n: nT, sum: t.capped, sumSquares: t.capped_squares },
      { n: nC, sum: c.capped, sumSquares: c.capped_squares },
      alpha,
    );
    const sequential = sequentialWelch(raw, alpha, options.sequentialTuning);
    // The equity is the change in CLV adjusted by the CLV before the window; the value (margin ×
    // revenue + CLV) is adjusted with the equity's θ, so that it is the sum of its two parts.
    const clvStart = (g: StatRow) => ({ n: g.n, sumX: g.clv_start, sumXSquares: g.clv_start_squares });
    const equity = cuped({ ...clvStart(t), sum: t.clv_end, sumSquares: t.clv_end_squares, sumXY: t.clv_start_end }, { ...clvStart(c), sum: c.clv_end, sumSquares: c.clv_end_squares, sumXY: c.clv_start_end }, alpha);
    const m = options.margin;
    const valueOf = (g: StatRow) => ({
      ...clvStart(g),
      sum: m * g.revenue + g.clv_end,
      sumSquares: m * m * g.revenue_squares + 2 * m * g.revenue_clv_end + g.clv_end_squares,
      sumXY: m * g.clv_start_revenue + g.clv_start_end,
    });
    const value = cuped(valueOf(t), valueOf(c), alpha, equity.theta);
    const valueSequential = sequentialWelch(value, alpha, options.sequentialTuning);
    const converted = conversion({ n: nT, conversions: t.conversions }, { n: nC, conversions: c.conversions }, alpha);
    results.push({
      ...base,
      sd_treatment: finite(Math.sqrt(raw.treatment.variance)),
      sd_control: finite(Math.sqrt(raw.control.variance)),
      delta_per_customer: raw.delta,
      df: finite(raw.df),
      incremental_revenue: raw.incremental,
      ci_low: finite(raw.incrementalCi[0]),
      ci_high: finite(raw.incrementalCi[1]),
      p_value: finite(raw.pValue),
      relative_lift: finite(raw.relativeLift),
      relative_ci_low: finite(raw.relativeCi[0]),
      relative_ci_high: finite(raw.relativeCi[1]),
      mde_per_customer: finite(minimumDetectableEffect(raw.treatment.variance, raw.control.variance, nT, nC, alpha)),
      conversion_treatment: converted.rateTreatment,
      conversion_control: converted.rateControl,
      conversion_difference: converted.difference,
      conversion_p_value: finite(converted.pValue),
      cuped_incremental_revenue: finite(adjusted.incremental),
      cuped_ci_low: finite(adjusted.incrementalCi[0]),
      cuped_ci_high: finite(adjusted.incrementalCi[1]),
      cuped_p_value: finite(adjusted.pValue),
      winsor_cap: finite(t.cap),
      winsorized_incremental_revenue: finite(capped.incremental),
      winsorized_ci_low: finite(capped.incrementalCi[0]),
      winsorized_ci_high: finite(capped.incrementalCi[1]),
      winsorized_p_value: finite(capped.pValue),
      incremental_equity: finite(equity.incremental),
      equity_ci_low: finite(equity.incrementalCi[0]),
      equity_ci_high: finite(equity.incrementalCi[1]),
      incremental_value: finite(value.incremental),
      value_ci_low: finite(value.incrementalCi[0]),
      value_ci_high: finite(value.incrementalCi[1]),
      value_p_value: finite(value.pValue),
      value_seq_ci_low: finite(valueSequential.incrementalCi[0]),
      value_seq_ci_high: finite(valueSequential.incrementalCi[1]),
      seq_ci_low: finite(sequential.incrementalCi[0]),
      seq_ci_high: finite(sequential.incrementalCi[1]),
      seq_p_value: finite(sequential.pValue),
      verdict: window === WATCHED_WINDOW ? sequential.verdict : raw.verdict,
    });
  }
  // Benjamini-Hochberg over the segments of each holdout's window (the ALL row is not one of the family).
  const familyOf = (r: ResultRow) => `${r.holdout}/${r.window}`;
  for (const cell of new Set(results.map(familyOf))) {
    const family = results.filter((r) => familyOf(r) === cell && r.segment !== 'ALL' && typeof r.p_value === 'number');
    const adjusted = benjaminiHochberg(family.map((r) => r['p_value'] as number));
    family.forEach((r, i) => (r['p_value_bh'] = finite(adjusted[i]!)));
  }
  return results;
}

/**
 * Return on the programme's cost: (value − cost) / cost, its fixed and anytime-valid CIs from the
 * value's (the cost is known, so the ROI is the value rescaled); NULL without a cost (not ∞).
 */
export function returnOnCost(row: Pick<ResultRow, 'incremental_value' | 'value_ci_low' | 'value_ci_high' | 'value_seq_ci_low' | 'value_seq_ci_high'>, cost: number) {
  const roi = (v: number | null | undefined) => (cost > 0 && typeof v === 'number' ? (v - cost) / cost : null);
  return {
    roi: roi(row.incremental_value),
    roi_ci_low: roi(row.value_ci_low),
    roi_ci_high: roi(row.value_ci_high),
    roi_seq_ci_low: roi(row.value_seq_ci_low),
    roi_seq_ci_high: roi(row.value_seq_ci_high),
  };
}

/** What a window's ROI says in words (the report and Slack's `roi`): "CRM returned EUR 3.10 per EUR 1 of cost, net of it (95% CI …)". */
export function paybackSentence(
  row: { roi: number | null; roiCiLow: number | null; roiCiHigh: number | null; value: number | null; cost: number | null; holdout?: string },
  money: (amount: number, digits?: number) => string,
): string {
  // A channel's cost is its crm_costs alone (the fixed cost is the programme's).
  const channel = row.holdout !== undefined && row.holdout !== GLOBAL_HOLDOUT;
  if (!row.cost) return `ROI not available: no ${channel ? `${row.holdout} cost in the window (crm_costs)` : 'programme cost in the window (crm_costs, roi.fixed_cost_per_day)'}`;
  if (row.roi === null || row.value === null) return 'ROI not available: too few customers in a group';
  const cents = (v: number) => money(v, 2);
  const interval = row.roiCiLow !== null && row.roiCiHigh !== null ? ` (95% CI ${cents(row.roiCiLow)} to ${cents(row.roiCiHigh)})` : '';
  return `CRM returned ${cents(row.roi)} per ${money(1)} of cost, net of it${interval}: incremental value ${money(row.value)} against ${money(row.cost)} of cost`;
}
