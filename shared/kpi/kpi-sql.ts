/**
 * CRM KPIs as of the run date D, per sales channel and for all channels together ("ALL").
 *
 * With A = kpi.activity_days and P = kpi.period_days (purchases are orders that are not returns):
 * - a customer is *active* at a date when their last purchase is at most A − 1 days before it
 *   (a purchase in the A days ending at that date);
 * - the *period* is the P days ending at D, (D − P, D]; its start is D − P.
 * Per channel, everything is computed on that channel's orders alone ("unknown" collects orders
 * without a channel): orders and revenue add up to ALL; customer counts need not, since a customer
 * may buy in several channels (and is "new" to each channel at their first purchase there).
 */
import type { Config } from '../config.js';
import { shiftDate } from '../dates.js';
import { dateLiteral } from '../sql/dialect.js';

/** Every KPI, in the order of the README's definitions. */
export const KPI_DEFINITIONS = {
  active_customers: 'Customers with a purchase in the A days ending at D.',
  new_customers: "Customers whose first purchase (in the channel, for a channel's row) falls in the period.",
  reactivated_customers: 'Customers inactive at the period start (no purchase in the A days before it, but one earlier) who purchased in the period.',
  churned_customers: 'Customers active at the period start who are no longer active at D.',
  retention_rate: 'Of the customers active at the period start, the share still active at D.',
  repeat_purchase_rate: 'Of the customers with a purchase up to D, the share with two or more.',
  orders: 'Purchase orders in the period.',
  revenue: 'Net revenue in the period: purchases minus returns.',
  gross_revenue: 'Value of the purchases in the period.',
  returned_revenue: 'Value of the returns in the period (positive).',
  average_order_value: 'gross_revenue / orders.',
  units_per_transaction: 'Units bought / purchase orders in the period (orders delivered with a quantity).',
  return_rate: 'returned_revenue / gross_revenue.',
  revenue_share: "The channel's revenue / revenue of ALL (1 for ALL).",
  revenue_share_treatment: 'Share of the revenue from customers in the holdout treatment group (CRM-treated).',
  revenue_share_control: 'Share of the revenue from customers in the holdout control group (no CRM).',
} as const;

export type KpiMetric = keyof typeof KPI_DEFINITIONS;

/**
 * One row per channel (and ALL) with a column per KPI, except the shares, which need ALL's revenue
 * and are derived by {@link kpiRows}. `assignment` is a relation of (customer_id, holdout_group).
 */
export function kpiWideSql(history: string, assignment: string, date: string, kpi: Config['kpi']): string {
  const d = dateLiteral(date);
  const periodStart = dateLiteral(shiftDate(date, -kpi.period_days));
  const activeSince = dateLiteral(shiftDate(date, -kpi.activity_days));
  const activeAtStartSince = dateLiteral(shiftDate(date, -kpi.period_days - kpi.activity_days));
  const purchase = 'NOT is_return';
  const inPeriod = `order_date > ${periodStart}`;
  const ratio = (numerator: string, denominator: string) => `CAST(${numerator} AS DOUBLE) / nullif(CAST(${denominator} AS DOUBLE), 0)`;
  return `WITH
h AS (
  SELECT customer_id, coalesce(channel, 'unknown') AS channel, order_date, amount, quantity, is_return
  FROM (${history}) AS t WHERE order_date <= ${d}
),
per_customer AS (
  SELECT CASE WHEN grouping(channel) = 1 THEN 'ALL' ELSE channel END AS channel, customer_id,
    min(CASE WHEN ${purchase} THEN order_date END) AS first_purchase,
    count(CASE WHEN ${purchase} THEN 1 END) AS purchases,
    max(CASE WHEN ${purchase} AND order_date > ${activeSince} THEN 1 ELSE 0 END) AS active_now,
    max(CASE WHEN ${purchase} AND order_date > ${activeAtStartSince} AND order_date <= ${periodStart} THEN 1 ELSE 0 END) AS active_at_start,
    max(CASE WHEN ${purchase} AND order_date <= ${periodStart} THEN order_date END) AS last_before_period,
    max(CASE WHEN ${purchase} AND ${inPeriod} THEN 1 ELSE 0 END) AS purchased_in_period,
    count(CASE WHEN ${purchase} AND ${inPeriod} THEN 1 END) AS orders,
    sum(CASE WHEN ${purchase} AND ${inPeriod} THEN amount ELSE 0 END) AS gross,
    -sum(CASE WHEN is_return AND ${inPeriod} THEN amount ELSE 0 END) AS returned,
    sum(CASE WHEN ${purchase} AND ${inPeriod} THEN quantity END) AS units,
    count(CASE WHEN ${purchase} AND ${inPeriod} AND quantity IS NOT NULL THEN 1 END) AS orders_with_units
  FROM h
  GROUP BY GROUPING SETS ((channel, customer_id), (customer_id))
)
SELECT p.channel,
  CAST(count(CASE WHEN active_now = 1 THEN 1 END) AS DOUBLE) AS active_customers,
  CAST(count(CASE WHEN first_purchase > ${periodStart} THEN 1 END) AS DOUBLE) AS new_customers,
  CAST(count(CASE WHEN purchased_in_period = 1 AND last_before_period <= ${activeAtStartSince} THEN 1 END) AS DOUBLE) AS reactivated_customers,
  CAST(count(CASE WHEN active_at_start = 1 AND active_now = 0 THEN 1 END) AS DOUBLE) AS churned_customers,
  ${ratio('count(CASE WHEN active_at_start = 1 AND active_now = 1 THEN 1 END)', 'count(CASE WHEN active_at_start = 1 THEN 1 END)')} AS retention_rate,
  ${ratio('count(CASE WHEN purchases >= 2 THEN 1 END)', 'count(CASE WHEN purchases >= 1 THEN 1 END)')} AS repeat_purchase_rate,
  CAST(sum(orders) AS DOUBLE) AS orders,
  CAST(sum(gross) - sum(returned) AS DOUBLE) AS revenue,
  CAST(sum(gross) AS DOUBLE) AS gross_revenue,
  CAST(sum(returned) AS DOUBLE) AS returned_revenue,
  ${ratio('sum(gross)', 'sum(orders)')} AS average_order_value,
  ${ratio('sum(units)', 'sum(orders_with_units)')} AS units_per_transaction,
  ${ratio('sum(returned)', 'sum(gross)')} AS return_rate,
  CAST(sum(CASE WHEN g.holdout_group = 'treatment' THEN gross - returned ELSE 0 END) AS DOUBLE) AS revenue_treatment,
  CAST(sum(CASE WHEN g.holdout_group = 'control' THEN gross - returned ELSE 0 END) AS DOUBLE) AS revenue_control
FROM per_customer AS p LEFT JOIN (${assignment}) AS g ON g.customer_id = p.customer_id
GROUP BY p.channel
ORDER BY p.channel`;
}

type WideRow = Record<string, string | number | null>;

/** The wide rows in the table's long format, with the revenue shares derived. */
export function kpiRows(wide: readonly WideRow[]): { metric: KpiMetric; channel: string; value: number | null }[] {
  const all = wide.find((row) => row['channel'] === 'ALL');
  const num = (row: WideRow, column: string) => (row[column] === null || row[column] === undefined ? null : Number(row[column]));
  const share = (part: number | null, whole: number | null) => (part === null || !whole ? null : part / whole);
  return wide.flatMap((row) => {
    const revenue = num(row, 'revenue');
    const derived: Partial<Record<KpiMetric, number | null>> = {
      revenue_share: share(revenue, all ? num(all, 'revenue') : null),
      revenue_share_treatment: share(num(row, 'revenue_treatment'), revenue),
      revenue_share_control: share(num(row, 'revenue_control'), revenue),
    };
    return (Object.keys(KPI_DEFINITIONS) as KpiMetric[]).map((metric) => ({
      metric,
      channel: String(row['channel']),
      value: metric in derived ? derived[metric]! : num(row, metric),
    }));
  });
}
