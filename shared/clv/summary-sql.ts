/**
 * The per-customer summary the CLV models are fitted on, in SQL over the curated history (the
 * common subset of DuckDB and Trino, so it can run on Athena too).
 *
 * As in Fader, Hardie & Lee (2005) and lifetimes' `summary_data_from_transaction_data`:
 * - purchases on the same day form one purchase period; returns are not purchases;
 * - x: repeat purchase periods (periods after the first);
 * - t_x: time from the first to the last purchase period; `age` (the literature's T): from the
 *   first purchase to the end of the observation period; both in the model's unit (weeks are
 *   days / 7, unrounded). Not named T: Athena lower-cases column names, and DuckDB would then
 *   return it as `t`;
 * - mean_repeat_value: mean spend of the repeat periods (the first purchase is excluded, as the
 *   Gamma-Gamma model assumes), NULL when x = 0. Gross purchase values: a refund is not a negative
 *   order for a spend model.
 */
import { dateLiteral, daysBetween } from '../sql/dialect.js';

export type TimeUnit = 'day' | 'week';

export const DAYS_PER_UNIT: Record<TimeUnit, number> = { day: 1, week: 7 };

/**
 * One row per customer with a purchase on or before `observationEnd`, first purchase from
 * `cohortStart` on (when given): customer_id, x, t_x, age, mean_repeat_value, first_purchase_date.
 */
export function customerSummarySql(
  transactions: string,
  observationEnd: string,
  unit: TimeUnit,
  cohortStart?: string,
): string {
  const end = dateLiteral(observationEnd);
  const days = DAYS_PER_UNIT[unit];
  return `WITH
periods AS (
  SELECT customer_id, order_date, sum(amount) AS spend
  FROM (${transactions}) AS t
  WHERE NOT is_return AND order_date <= ${end}
  GROUP BY customer_id, order_date
),
customers AS (
  SELECT customer_id,
    min(order_date) AS first_purchase_date,
    max(order_date) AS last_purchase_date,
    CAST(count(*) - 1 AS INTEGER) AS x,
    sum(spend) - min_by(spend, order_date) AS repeat_spend
  FROM periods
  GROUP BY customer_id
)
SELECT customer_id, x,
  CAST(${daysBetween('first_purchase_date', 'last_purchase_date')} AS DOUBLE) / ${days} AS t_x,
  CAST(${daysBetween('first_purchase_date', end)} AS DOUBLE) / ${days} AS age,
  CASE WHEN x > 0 THEN CAST(repeat_spend AS DOUBLE) / x END AS mean_repeat_value,
  first_purchase_date
FROM customers
${cohortStart ? `WHERE first_purchase_date >= ${dateLiteral(cohortStart)}` : ''}`;
}

/**
 * The summary compressed for fitting: one row per distinct (x, t_x, T) with the number of customers
 * (`weight`), as DOUBLE columns named like `FrequencySummary`, in a fixed order so that fits are
 * reproducible.
 */
export function compressedFrequencySql(summary: string): string {
  return `SELECT CAST(x AS DOUBLE) AS x, t_x AS tx, age AS T, CAST(count(*) AS DOUBLE) AS weight
    FROM ${summary} GROUP BY x, t_x, age ORDER BY x, t_x, age`;
}
