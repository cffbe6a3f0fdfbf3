/**
 * Sufficient statistics of the holdout analysis, per window, segment and group, in SQL: the engine
 * reduces a million customers to a few dozen rows; `report.ts` turns them into the statistics.
 *
 * Per customer and window: revenue = net spend in the window (returns included), converted = any
 * purchase in it, pre = net spend in the equally long period just before the window (the CUPED
 * covariate), capped = revenue winsorized at the pooled quantile of the window; clv_end = CLV as
 * scored at the run date (the window's end), clv_start = CLV as scored the day before the window
 * (the equity's CUPED covariate; 0 without that run). The value's sums (margin × revenue + clv_end)
 * follow from these and the cross sums. CLV is summed as a decimal of 8 places, as revenue is:
 * exact, so the sums do not depend on the order the rows come in (the fanned-out night's scores
 * arrive from shard files).
 */
import { shiftDate } from '../dates.js';
import { factColumn } from '../history/customer-facts.js';
import { dateLiteral, ident, literal, quantileByGroupSql } from '../sql/dialect.js';
import { GLOBAL_HOLDOUT, inChannelControlSql } from './assign-sql.js';

export interface AnalysisWindow {
  name: string;
  start: string;
  end: string;
}

const SUMS = {
  n: 'count(*)',
  revenue: 'sum(revenue)',
  revenue_squares: 'sum(revenue * revenue)',
  conversions: 'count(*) FILTER (WHERE converted)',
  pre: 'sum(pre)',
  pre_squares: 'sum(pre * pre)',
  pre_revenue: 'sum(pre * revenue)',
  capped: 'sum(capped)',
  capped_squares: 'sum(capped * capped)',
  clv_end: 'sum(clv_end)',
  clv_end_squares: 'sum(clv_end * clv_end)',
  clv_start: 'sum(clv_start)',
  clv_start_squares: 'sum(clv_start * clv_start)',
  clv_start_end: 'sum(clv_start * clv_end)',
  revenue_clv_end: 'sum(revenue * clv_end)',
  clv_start_revenue: 'sum(clv_start * revenue)',
};

/** The window a team reads every morning: its verdict, interval and p-value are the anytime-valid ones. */
export const WATCHED_WINDOW = 'since_start';

/**
 * The analysis windows of a run date: the last `window_days` days, and since the holdout started
 * (`started_at`; without it, since the history's first day: `start` undefined).
 */
export function analysisWindows(holdout: { window_days: number; started_at?: string | undefined }, date: string): { name: string; start?: string; end: string }[] {
  return [
    { name: `last_${holdout.window_days}_days`, start: shiftDate(date, 1 - holdout.window_days), end: date },
    { name: WATCHED_WINDOW, ...(holdout.started_at ? { start: holdout.started_at } : {}), end: date },
  ];
}

/**
 * One row per (holdout, window, segment, holdout_group) plus the segment 'ALL', from the
 * all-channel customer facts (computed for these windows, which end at the run date) and the
 * assignment; segments and start CLV come from `startScores` (customer_id, segment, clv as scored
 * the day before the window), 'unknown' and 0 when absent; `endScores` (customer_id, clv) are
 * tonight's. Holdout "global" compares the groups; each of `channels` compares, within the
 * treatment group, the customers held out of the channel with the rest. Only the channel controls
 * are summed again (a twentieth of the treated): the channel's treatment is the global treatment
 * minus them, exactly, the sums being decimals until the end.
 */
export function holdoutStatsSql(
  facts: string,
  assignment: string,
  windows: readonly AnalysisWindow[],
  startScores: (window: AnalysisWindow) => string | undefined,
  endScores: string,
  winsorQuantile: number,
  channels: readonly string[] = [],
): string {
  const clvDecimal = (clv: string) => `CAST(coalesce(${clv}, 0) AS DECIMAL(30,8))`;
  const perWindow = windows.map((w) => {
    const start = startScores(w);
    const startJoin = start ? `LEFT JOIN (${start}) AS s ON s.customer_id = a.customer_id` : '';
    const revenue = `CAST(coalesce(f.${ident(factColumn.windowRevenue(w.name))}, 0) AS DECIMAL(38,4))`;
    return `SELECT ${literal(w.name)} AS "window", a.customer_id, a.holdout_group, a.channel_controls,
        ${start ? `coalesce(s.segment, 'unknown')` : `'unknown'`} AS segment,
        ${revenue} AS revenue,
        coalesce(f.last_purchase_date >= ${dateLiteral(w.start)}, false) AS converted,
        CAST(coalesce(f.${ident(factColumn.windowPreRevenue(w.name))}, 0) AS DECIMAL(38,4)) AS pre,
        ${clvDecimal('e.clv')} AS clv_end, ${clvDecimal(start ? 's.clv' : 'NULL')} AS clv_start
      FROM (${assignment}) AS a
      JOIN (${facts}) AS f ON f.customer_id = a.customer_id
      LEFT JOIN (${endScores}) AS e ON e.customer_id = a.customer_id
      ${startJoin}
      WHERE a.assigned_at <= ${dateLiteral(w.end)}`;
  });
  const caps = quantileByGroupSql('SELECT * FROM per_customer', 'revenue', '"window"', winsorQuantile);
  const capped = `SELECT p.*, least(p.revenue, CAST(c.cap AS DECIMAL(38,4))) AS capped, c.cap
    FROM per_customer AS p JOIN caps AS c ON c."window" = p."window"`;
  const arms = [
    `SELECT ${literal(GLOBAL_HOLDOUT)} AS holdout, holdout_group AS arm, * FROM capped`,
    ...channels.map((channel) => `SELECT ${literal(channel)}, 'control', * FROM capped
      WHERE holdout_group = 'treatment' AND ${inChannelControlSql('channel_controls', literal(channel))}`),
  ];
  const names = Object.keys(SUMS);
  const asDouble = (value: (name: string) => string) => names.map((name) => `CAST(${value(name)} AS DOUBLE) AS ${name}`).join(', ');
  const channelTreatment = channels.length
    ? `UNION ALL
    SELECT h.holdout, g."window", g.segment, 'treatment', g.cap, ${asDouble((name) => `g.${name} - coalesce(c.${name}, 0)`)}
    FROM grouped AS g CROSS JOIN (VALUES ${channels.map((channel) => `(${literal(channel)})`).join(', ')}) AS h(holdout)
    LEFT JOIN grouped AS c ON c.holdout = h.holdout AND c."window" = g."window" AND c.segment = g.segment AND c.holdout_group = 'control'
    WHERE g.holdout = ${literal(GLOBAL_HOLDOUT)} AND g.holdout_group = 'treatment'`
    : '';
  return `WITH per_customer AS (${perWindow.join('\nUNION ALL\n')}),
    caps AS (${caps}),
    capped AS (${capped}),
    grouped AS (
      SELECT holdout, "window", coalesce(segment, 'ALL') AS segment, arm AS holdout_group, max(cap) AS cap,
        ${Object.entries(SUMS).map(([name, sum]) => `${sum} AS ${name}`).join(', ')}
      FROM (${arms.join('\nUNION ALL\n')}) AS x
      GROUP BY GROUPING SETS ((holdout, "window", arm), (holdout, "window", segment, arm)))
    SELECT holdout, "window", segment, holdout_group, cap, ${asDouble((name) => name)} FROM grouped
    ${channelTreatment}`;
}
