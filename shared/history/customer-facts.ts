/**
 * The night's one pass over the history: every per-customer figure a table needs from the
 * transactions (RFM inputs, the CLV summary now and at the validation's calibration end, the
 * holdout windows' revenue, the KPI period, spend since earlier run dates), aggregated in one
 * statement into `customer_facts`. Everything after it reads these rows — a million, where the
 * history has ten times more — in the embedded engine; on Athena it is one UNLOAD (two with the
 * per-channel rows), where there were seven.
 *
 * One row per customer, and one per customer and sales channel with the KPI figures only (a
 * second, narrower aggregate of the same rows). Throughout, D is the run date, a
 * purchase is an order that is not a return, and only orders dated up to D count, except
 * `first_order_date` (when the customer first appears, as the holdout assignment records it).
 */
import { daysFrom, shiftDate } from '../dates.js';
import { dateLiteral, DUCKDB, ident, type Dialect } from '../sql/dialect.js';

/** The temp tables of the embedded engine the facts are in: one row per customer, and per customer and channel. */
export const FACTS_TABLE = 'customer_facts';
export const CHANNEL_FACTS_TABLE = 'customer_channel_facts';

/** What the facts are computed for: dates derived from the run date and the configuration. */
export interface FactsSpec {
  /** The run date D. */
  date: string;
  /** The KPI period (D − period_days, D] and the activity window before it. */
  kpi?: { period_days: number };
  /** The validation's calibration end C: purchase days up to C and in (C, D]. */
  calibrationEnd?: string | undefined;
  /** Holdout analysis windows ending at D; without `start`, since the history's first day. */
  windows?: readonly { name: string; start?: string }[];
  /** Net spend (returns included) in the last N days, per N. */
  netSpendDays?: readonly number[];
  /** Purchase value (returns excluded) in the last N days, per N. */
  purchaseSpendDays?: readonly number[];
}

/** What one table asks of the facts (see `TableModel.facts`). */
export type FactsNeeds = Omit<FactsSpec, 'date'>;

/** The spec that serves every table's needs at once. */
export function factsSpec(date: string, needs: readonly (FactsNeeds | undefined)[]): FactsSpec {
  const union = <T>(pick: (n: FactsNeeds) => readonly T[] | undefined) => [...new Set(needs.flatMap((n) => (n && pick(n)) ?? []))];
  const spec: FactsSpec = { date, windows: union((n) => n.windows), netSpendDays: union((n) => n.netSpendDays), purchaseSpendDays: union((n) => n.purchaseSpendDays) };
  for (const n of needs) {
    if (n?.kpi) spec.kpi = n.kpi;
    if (n?.calibrationEnd) spec.calibrationEnd = n.calibrationEnd;
  }
  return spec;
}

/** Column names of the spec-dependent figures. */
export const factColumn = {
  windowRevenue: (window: string) => `revenue_${window}`,
  windowPreRevenue: (window: string) => `pre_revenue_${window}`,
  netSpend: (days: number) => `net_spend_${days}d`,
  purchaseSpend: (days: number) => `purchase_spend_${days}d`,
};

/** One figure: its aggregate over the history's rows, and whether the per-channel rows carry it. */
interface Fact {
  name: string;
  sql: string;
  byChannel?: true;
}

function facts(spec: FactsSpec, dialect: Dialect): Fact[] {
  const d = dateLiteral(spec.date);
  const upToD = `order_date <= ${d}`;
  const purchase = `NOT is_return AND ${upToD}`;
  const shared = (name: string, sql: string): Fact => ({ name, sql, byChannel: true });
  const list: Fact[] = [
    { name: 'first_order_date', sql: 'min(order_date)' },
    shared('first_purchase_date', `min(order_date) FILTER (WHERE ${purchase})`),
    shared('last_purchase_date', `max(order_date) FILTER (WHERE ${purchase})`),
    shared('purchase_orders', `count(*) FILTER (WHERE ${purchase})`),
    { name: 'purchase_days', sql: dialect.distinctCount('order_date', purchase) },
    { name: 'purchase_amount', sql: `sum(amount) FILTER (WHERE ${purchase})` },
    { name: 'net_amount', sql: `sum(amount) FILTER (WHERE ${upToD})` },
  ];
  if (spec.kpi) {
    const start = dateLiteral(shiftDate(spec.date, -spec.kpi.period_days));
    const inPeriod = `${purchase} AND order_date > ${start}`;
    list.push(
      shared('last_purchase_before_period', `max(order_date) FILTER (WHERE ${purchase} AND order_date <= ${start})`),
      shared('period_orders', `count(*) FILTER (WHERE ${inPeriod})`),
      shared('period_gross', `sum(amount) FILTER (WHERE ${inPeriod})`),
      shared('period_returned', `-sum(amount) FILTER (WHERE is_return AND ${upToD} AND order_date > ${start})`),
      shared('period_units', `sum(quantity) FILTER (WHERE ${inPeriod})`),
      shared('period_orders_with_units', `count(quantity) FILTER (WHERE ${inPeriod})`),
    );
  }
  if (spec.calibrationEnd) {
    const c = dateLiteral(spec.calibrationEnd);
    list.push(
      { name: 'calibration_last_purchase_date', sql: `max(order_date) FILTER (WHERE ${purchase} AND order_date <= ${c})` },
      { name: 'calibration_purchase_days', sql: dialect.distinctCount('order_date', `${purchase} AND order_date <= ${c}`) },
    );
  }
  for (const w of spec.windows ?? []) {
    if (w.start === undefined) {
      // Since the first day: everything up to D, and nothing before it.
      list.push({ name: factColumn.windowRevenue(w.name), sql: `sum(amount) FILTER (WHERE ${upToD})` });
      list.push({ name: factColumn.windowPreRevenue(w.name), sql: 'CAST(NULL AS DECIMAL(38,4))' });
      continue;
    }
    // The pre-period is as long as the window and ends the day before it starts.
    const [start, preStart] = [dateLiteral(w.start), dateLiteral(shiftDate(w.start, -(daysFrom(w.start, spec.date) + 1)))];
    list.push({ name: factColumn.windowRevenue(w.name), sql: `sum(amount) FILTER (WHERE order_date >= ${start} AND ${upToD})` });
    list.push({ name: factColumn.windowPreRevenue(w.name), sql: `sum(amount) FILTER (WHERE order_date >= ${preStart} AND order_date < ${start})` });
  }
  const since = (days: number) => `order_date > ${dateLiteral(shiftDate(spec.date, -days))} AND ${upToD}`;
  for (const days of spec.netSpendDays ?? []) list.push({ name: factColumn.netSpend(days), sql: `sum(amount) FILTER (WHERE ${since(days)})` });
  for (const days of spec.purchaseSpendDays ?? []) {
    list.push({ name: factColumn.purchaseSpend(days), sql: `sum(amount) FILTER (WHERE NOT is_return AND ${since(days)})` });
  }
  return list;
}

/**
 * Each distinct aggregate once (at 10M rows each costs about 0.1 s, and tables ask for the same
 * figure under different names: a window since the first day is the net amount), as
 * `SELECT` items over the history and the outer query's columns naming them.
 */
function distinctAggregates(list: readonly Fact[]): { aggregates: string[]; columns: string[] } {
  const first = new Map<string, string>();
  for (const f of list) if (!first.has(f.sql)) first.set(f.sql, f.name);
  return {
    aggregates: [...first].map(([sql, name]) => `${sql} AS ${ident(name)}`),
    columns: list.map((f) => `c.${ident(first.get(f.sql)!)} AS ${ident(f.name)}`),
  };
}

/**
 * The all-channel facts (see the module comment) from a relation of curated transactions, in
 * `dialect`. The spend of each customer's first purchase day (for the Gamma-Gamma model's repeat
 * spend, which leaves the first purchase out) needs the first day known: a join of the same rows.
 * Two figures follow from the others: the returned amount (purchases − net) and the purchase days
 * in the validation's holdout (all − calibration).
 */
export function customerFactsSql(history: string, spec: FactsSpec, dialect: Dialect = DUCKDB): string {
  const { aggregates, columns } = distinctAggregates(facts(spec, dialect));
  const derived = ['coalesce(c.purchase_amount, 0) - c.net_amount AS returned_amount'];
  if (spec.calibrationEnd) derived.push('c.purchase_days - c.calibration_purchase_days AS holdout_purchase_days');
  return `WITH customers AS (
  SELECT customer_id, ${aggregates.join(',\n    ')}
  FROM (${history}) AS t
  GROUP BY customer_id
),
first_day AS (
  SELECT t.customer_id, sum(t.amount) AS first_day_amount
  FROM (${history}) AS t
  JOIN customers AS c ON c.customer_id = t.customer_id AND t.order_date = c.first_purchase_date
  WHERE NOT t.is_return
  GROUP BY t.customer_id
)
SELECT c.customer_id, ${[...columns, ...derived].join(', ')}, f.first_day_amount
FROM customers AS c LEFT JOIN first_day AS f ON f.customer_id = c.customer_id`;
}

/**
 * The per-channel facts: one row per customer and sales channel ("unknown" for orders without
 * one) with the figures marked `byChannel` (the KPIs'), over the orders up to the run date.
 */
export function channelFactsSql(history: string, spec: FactsSpec, dialect: Dialect = DUCKDB): string {
  const list = facts(spec, dialect).filter((f) => f.byChannel);
  return `SELECT customer_id, coalesce(channel, 'unknown') AS channel, ${list.map((f) => `${f.sql} AS ${ident(f.name)}`).join(',\n    ')}
FROM (${history}) AS t
WHERE order_date <= ${dateLiteral(spec.date)}
GROUP BY customer_id, coalesce(channel, 'unknown')`;
}
