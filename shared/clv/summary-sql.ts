/**
 * The per-customer summary the CLV models are fitted on, from the night's customer facts
 * (`shared/history/customer-facts.ts`).
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
 * One row per customer with a purchase up to the run date, from the all-channel customer facts as
 * of that date: customer_id, x, t_x, age, mean_repeat_value, first_purchase_date.
 */
export function customerSummarySql(facts: string, runDate: string, unit: TimeUnit): string {
  const days = DAYS_PER_UNIT[unit];
  return `SELECT customer_id, CAST(purchase_days - 1 AS INTEGER) AS x,
  CAST(${daysBetween('first_purchase_date', 'last_purchase_date')} AS DOUBLE) / ${days} AS t_x,
  CAST(${daysBetween('first_purchase_date', dateLiteral(runDate))} AS DOUBLE) / ${days} AS age,
  CASE WHEN purchase_days > 1 THEN CAST(purchase_amount - first_day_amount AS DOUBLE) / (purchase_days - 1) END AS mean_repeat_value,
  first_purchase_date
FROM (${facts}) AS f
WHERE purchase_orders > 0`;
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
