/**
 * Is the CRM base gaining value, and can the forecasts be trusted? Two tables from the scores of
 * earlier runs and the history since then:
 *
 * - `roc`, Return on Customer (Peppers & Rogers, "Return on Customer", 2005):
 *   ROC = (cash flow from customers in the period + change in customer equity) / customer equity
 *   at the start. Customer equity is the sum of the customers' CLV (the `clv` column). The cohort
 *   is the customers scored at the period's start, grouped by their segment then; customers
 *   acquired during the period are left out, so that buying new customers does not count as a
 *   return on the existing ones.
 * - `forecast_accuracy`: each segment_forecast whose horizon ends at the run date, beside the value
 *   of the purchases its customers actually made in that horizon.
 */
import { FORECAST_HORIZON_DAYS } from '../catalog.js';
import { dateLiteral, exactSum } from '../sql/dialect.js';

export interface Period {
  name: string;
  /** The run date the period starts at (its scores are the starting equity). */
  start: string;
  /** customer_id, segment, clv at the start. */
  startScores: string;
  /** customer_id, amount: each customer's net spend in the period (NULL or no row: none). */
  cashFlow: string;
}

/** Rows of `roc` for each period whose starting scores exist; `scores` is this run's (customer_id, clv). */
export function rocSql(periods: readonly Period[], scores: string): string | undefined {
  if (periods.length === 0) return undefined;
  return periods
    .map(
      (p) => `SELECT '${p.name}' AS period, ${dateLiteral(p.start)} AS period_start,
  CASE WHEN grouping(s.segment) = 1 THEN 'ALL' ELSE s.segment END AS segment,
  count(*) AS customers,
  ${exactSum('s.clv')} AS equity_start,
  ${exactSum('e.clv')} AS equity_end,
  CAST(coalesce(sum(c.cash_flow), 0) AS DOUBLE) AS cash_flow,
  ${exactSum('e.clv')} - ${exactSum('s.clv')} AS equity_change,
  (CAST(coalesce(sum(c.cash_flow), 0) AS DOUBLE) + ${exactSum('e.clv')} - ${exactSum('s.clv')}) / nullif(${exactSum('s.clv')}, 0) AS roc
FROM (${p.startScores}) AS s
JOIN (${scores}) AS e ON e.customer_id = s.customer_id
LEFT JOIN (SELECT customer_id, amount AS cash_flow FROM (${p.cashFlow}) AS f) AS c ON c.customer_id = s.customer_id
GROUP BY GROUPING SETS ((s.segment), ())`,
    )
    .join('\nUNION ALL\n');
}

export interface MaturedForecast {
  horizonDays: (typeof FORECAST_HORIZON_DAYS)[number];
  /** The run date the forecast was made on (run date − horizon). */
  forecastDate: string;
  /** customer_id, segment, grade at the forecast date. */
  scores: string;
  /** That run's segment_forecast. */
  forecast: string;
  /** customer_id, amount: the value of the purchases since the forecast date (NULL or no row: none). */
  purchases: string;
}

/** Rows of `forecast_accuracy` for the forecasts whose horizon ends at the run date. */
export function forecastAccuracySql(matured: readonly MaturedForecast[]): string | undefined {
  if (matured.length === 0) return undefined;
  return matured
    .map(({ horizonDays, forecastDate, scores, forecast, purchases }) => {
      const expected = `expected_revenue_${horizonDays}d`;
      return `SELECT ${dateLiteral(forecastDate)} AS forecast_dt, ${horizonDays} AS horizon_days, a.segment, a.grade, a.customers,
  f.expected_revenue, a.actual_revenue,
  f.expected_revenue - a.actual_revenue AS error,
  (f.expected_revenue - a.actual_revenue) / nullif(a.actual_revenue, 0) AS relative_error
FROM (
  SELECT CASE WHEN grouping(s.segment) = 1 THEN 'ALL' ELSE s.segment END AS segment,
    CASE WHEN grouping(s.grade) = 1 THEN 'ALL' ELSE s.grade END AS grade,
    count(*) AS customers, CAST(coalesce(sum(p.purchases), 0) AS DOUBLE) AS actual_revenue
  FROM (${scores}) AS s
  LEFT JOIN (SELECT customer_id, amount AS purchases FROM (${purchases}) AS b) AS p ON p.customer_id = s.customer_id
  GROUP BY GROUPING SETS ((s.segment, s.grade), ())
) AS a
LEFT JOIN (
  SELECT segment, grade, ${expected} AS expected_revenue FROM (${forecast}) AS x
  UNION ALL
  SELECT 'ALL', 'ALL', ${exactSum(expected)} FROM (${forecast}) AS y
) AS f ON f.segment = a.segment AND f.grade = a.grade`;
    })
    .join('\nUNION ALL\n');
}
