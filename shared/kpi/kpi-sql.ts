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
 * The KPI period (D − P, D] for the tables reading the CRM kinds' histories: its first day, and
 * the condition on a date column or on a timestamp (as bounds on the timestamp itself, which the
 * Parquet reader can skip row groups by, where a cast to DATE would hide them).
 */
export function kpiPeriod(date: string, kpi: { period_days: number }) {
  const firstDay = shiftDate(date, 1 - kpi.period_days);
  return {
    firstDay,
    onDate: (expr: string) => `${expr} BETWEEN ${dateLiteral(firstDay)} AND ${dateLiteral(date)}`,
    onTime: (expr: string) => `${expr} >= ${dateLiteral(firstDay)} AND ${expr} < ${dateLiteral(shiftDate(date, 1))}`,
  };
}

/** The customer facts the KPIs read, per customer and per customer and channel. */
const KPI_FACTS = [
  'customer_id',
  'first_purchase_date',
  'last_purchase_date',
  'purchase_orders',
  'last_purchase_before_period',
  'period_orders',
  'period_gross',
  'period_returned',
  'period_units',
  'period_orders_with_units',
];

/**
 * One row per channel (and ALL) with a column per KPI, except the shares, which need ALL's revenue
 * and are derived by {@link kpiRows}. `customers` and `channels` are the customer facts computed
 * for the KPI period, one row per customer and one per customer and channel; `assignment` is a
 * relation of (customer_id, holdout_group).
 */
export function kpiWideSql(customers: string, channels: string, assignment: string, date: string, kpi: Config['kpi']): string {
  // Period sums are NULL without an order in the period: zero here, as a sum over no orders.
  const zeroed = KPI_FACTS.map((c) => (c === 'period_gross' || c === 'period_returned' ? `coalesce(${c}, 0) AS ${c}` : c));
  const facts = `SELECT channel, ${zeroed.join(', ')}
    FROM (SELECT CAST(NULL AS VARCHAR) AS channel, ${KPI_FACTS.join(', ')} FROM (${customers}) AS c
      UNION ALL SELECT channel, ${KPI_FACTS.join(', ')} FROM (${channels}) AS h) AS u`;
  const periodStart = dateLiteral(shiftDate(date, -kpi.period_days));
  const activeSince = dateLiteral(shiftDate(date, -kpi.activity_days));
  const activeAtStartSince = dateLiteral(shiftDate(date, -kpi.period_days - kpi.activity_days));
  const ratio = (numerator: string, denominator: string) => `CAST(${numerator} AS DOUBLE) / nullif(CAST(${denominator} AS DOUBLE), 0)`;
  // Active now: a purchase after activeSince; active at the period start: one in the A days up to it.
  const activeNow = `last_purchase_date > ${activeSince}`;
  const activeAtStart = `last_purchase_before_period > ${activeAtStartSince}`;
  return `SELECT CASE WHEN p.channel IS NULL THEN 'ALL' ELSE p.channel END AS channel,
  CAST(count(CASE WHEN ${activeNow} THEN 1 END) AS DOUBLE) AS active_customers,
  CAST(count(CASE WHEN first_purchase_date > ${periodStart} THEN 1 END) AS DOUBLE) AS new_customers,
  CAST(count(CASE WHEN last_purchase_date > ${periodStart} AND last_purchase_before_period <= ${activeAtStartSince} THEN 1 END) AS DOUBLE) AS reactivated_customers,
  CAST(count(CASE WHEN ${activeAtStart} AND NOT coalesce(${activeNow}, false) THEN 1 END) AS DOUBLE) AS churned_customers,
  ${ratio(`count(CASE WHEN ${activeAtStart} AND ${activeNow} THEN 1 END)`, `count(CASE WHEN ${activeAtStart} THEN 1 END)`)} AS retention_rate,
  ${ratio('count(CASE WHEN purchase_orders >= 2 THEN 1 END)', 'count(CASE WHEN purchase_orders >= 1 THEN 1 END)')} AS repeat_purchase_rate,
  CAST(sum(period_orders) AS DOUBLE) AS orders,
  CAST(sum(period_gross) - sum(period_returned) AS DOUBLE) AS revenue,
  CAST(sum(period_gross) AS DOUBLE) AS gross_revenue,
  CAST(sum(period_returned) AS DOUBLE) AS returned_revenue,
  ${ratio('sum(period_gross)', 'sum(period_orders)')} AS average_order_value,
  ${ratio('sum(period_units)', 'sum(period_orders_with_units)')} AS units_per_transaction,
  ${ratio('sum(period_returned)', 'sum(period_gross)')} AS return_rate,
  CAST(sum(CASE WHEN g.holdout_group = 'treatment' THEN period_gross - period_returned ELSE 0 END) AS DOUBLE) AS revenue_treatment,
  CAST(sum(CASE WHEN g.holdout_group = 'control' THEN period_gross - period_returned ELSE 0 END) AS DOUBLE) AS revenue_control
FROM (${facts}) AS p LEFT JOIN (${assignment}) AS g ON g.customer_id = p.customer_id
-- By the channel itself, NULL for the total: a sales channel delivered as "ALL" then stays a row of its
-- own (which kpi_daily's unique check refuses, by name) instead of being summed into the total.
GROUP BY p.channel
ORDER BY 1`;
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
