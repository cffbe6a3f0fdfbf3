/**
 * Sufficient statistics of the holdout analysis, per window, segment and group, in SQL: the engine
 * reduces a million customers to a few dozen rows; `report.ts` turns them into the statistics.
 *
 * Per customer and window: revenue = net spend in the window (returns included), converted = any
 * purchase in it, pre = net spend in the equally long period just before the window (the CUPED
 * covariate), capped = revenue winsorized at the pooled quantile of the window.
 */
import { daysFrom, shiftDate } from '../dates.js';
import { dateLiteral, DUCKDB, literal, type Dialect } from '../sql/dialect.js';

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
};

/**
 * One row per (window, segment, holdout_group) plus the segment 'ALL'; segments come from
 * `segments` (customer_id, segment as assigned at the start of the window), 'unknown' when absent.
 */
export function holdoutStatsSql(
  transactions: string,
  assignment: string,
  windows: readonly AnalysisWindow[],
  segments: (window: AnalysisWindow) => string | undefined,
  winsorQuantile: number,
  dialect: Dialect = DUCKDB,
): string {
  const perWindow = windows.map((w) => {
    const start = dateLiteral(w.start);
    const end = dateLiteral(w.end);
    // The pre-period is as long as the window and ends the day before it starts.
    const preStart = dateLiteral(shiftDate(w.start, -(daysFrom(w.start, w.end) + 1)));
    const segmentsOf = segments(w);
    const segmentJoin = segmentsOf ? `LEFT JOIN (${segmentsOf}) AS s ON s.customer_id = a.customer_id` : '';
    return `SELECT ${literal(w.name)} AS "window", a.customer_id, a.holdout_group,
        ${segmentsOf ? `coalesce(s.segment, 'unknown')` : `'unknown'`} AS segment,
        CAST(coalesce(sum(t.amount) FILTER (WHERE t.order_date BETWEEN ${start} AND ${end}), 0) AS DECIMAL(38,4)) AS revenue,
        coalesce(bool_or(NOT t.is_return AND t.order_date BETWEEN ${start} AND ${end}), false) AS converted,
        CAST(coalesce(sum(t.amount) FILTER (WHERE t.order_date >= ${preStart} AND t.order_date < ${start}), 0) AS DECIMAL(38,4)) AS pre
      FROM (${assignment}) AS a
      ${segmentJoin}
      -- Only the pre-period and the window count: a short window then joins a few days, not the history.
      LEFT JOIN (${transactions}) AS t ON t.customer_id = a.customer_id AND t.order_date BETWEEN ${preStart} AND ${end}
      WHERE a.assigned_at <= ${end}
      GROUP BY 1, 2, 3, 4`;
  });
  const caps = dialect.quantileByGroup('SELECT * FROM per_customer', 'revenue', '"window"', winsorQuantile);
  const capped = `SELECT p.*, least(p.revenue, CAST(c.cap AS DECIMAL(38,4))) AS capped, c.cap
    FROM per_customer AS p JOIN caps AS c ON c."window" = p."window"`;
  const sums = Object.entries(SUMS).map(([name, sum]) => `CAST(${sum} AS DOUBLE) AS ${name}`);
  return `WITH per_customer AS (${perWindow.join('\nUNION ALL\n')}),
    caps AS (${caps})
    SELECT "window", coalesce(segment, 'ALL') AS segment, holdout_group, max(cap) AS cap, ${sums.join(', ')}
    FROM (${capped}) AS x
    GROUP BY GROUPING SETS (("window", holdout_group), ("window", segment, holdout_group))`;
}
