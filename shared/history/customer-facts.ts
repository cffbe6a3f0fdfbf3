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
import { dateLiteral, ident } from '../sql/dialect.js';

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

/** The rows of the history an aggregate reads: orders, purchases or returns dated in (after, upTo]. */
interface Rows {
  of: 'orders' | 'purchases' | 'returns';
  after?: string;
  upTo: string;
}

/**
 * The condition selecting `rows`, spelled one way whatever the figure that asks for it, so that two
 * figures meaning the same aggregate are computed once (a window since yesterday is the net spend of
 * the last day).
 */
function where(rows: Rows): string {
  const parts = rows.of === 'purchases' ? ['NOT is_return'] : rows.of === 'returns' ? ['is_return'] : [];
  if (rows.after !== undefined) parts.push(`order_date > ${dateLiteral(rows.after)}`);
  parts.push(`order_date <= ${dateLiteral(rows.upTo)}`);
  return parts.join(' AND ');
}

/**
 * An aggregate of `value` over `rows`. CASE inside the aggregate, not FILTER: DuckDB evaluates a
 * FILTER clause per aggregate at a higher cost (at 10M rows and twenty figures, 0.25 s more).
 */
function over(aggregate: 'min' | 'max' | 'sum' | 'count', value: string, rows: Rows): string {
  return `${aggregate}(CASE WHEN ${where(rows)} THEN ${value} END)`;
}

/**
 * One figure: its aggregate over the history's rows, and whether the per-channel rows carry it;
 * or (`perDay`) a count of purchase days, aggregated over one row per customer and purchase day.
 */
interface Fact {
  name: string;
  sql: string;
  byChannel?: true;
  perDay?: true;
}

function facts(spec: FactsSpec): Fact[] {
  const d = spec.date;
  const purchases = (range: Omit<Rows, 'of'> = { upTo: d }): Rows => ({ of: 'purchases', ...range });
  const orders = (range: Omit<Rows, 'of'>): Rows => ({ of: 'orders', ...range });
  const shared = (name: string, sql: string): Fact => ({ name, sql, byChannel: true });
  const list: Fact[] = [
    { name: 'first_order_date', sql: 'min(order_date)' },
    shared('first_purchase_date', over('min', 'order_date', purchases())),
    shared('last_purchase_date', over('max', 'order_date', purchases())),
    shared('purchase_orders', over('count', '1', purchases())),
    { name: 'purchase_days', sql: 'count(*)', perDay: true },
    { name: 'purchase_amount', sql: over('sum', 'amount', purchases()) },
    { name: 'net_amount', sql: over('sum', 'amount', orders({ upTo: d })) },
  ];
  if (spec.kpi) {
    const start = shiftDate(d, -spec.kpi.period_days);
    const period = { after: start, upTo: d };
    list.push(
      shared('last_purchase_before_period', over('max', 'order_date', purchases({ upTo: start }))),
      shared('period_orders', over('count', '1', purchases(period))),
      shared('period_gross', over('sum', 'amount', purchases(period))),
      shared('period_returned', `-${over('sum', 'amount', { of: 'returns', ...period })}`),
      shared('period_units', over('sum', 'quantity', purchases(period))),
      shared('period_orders_with_units', over('count', 'quantity', purchases(period))),
    );
  }
  if (spec.calibrationEnd) {
    const calibration = purchases({ upTo: spec.calibrationEnd });
    list.push(
      { name: 'calibration_last_purchase_date', sql: over('max', 'order_date', calibration) },
      { name: 'calibration_purchase_days', sql: over('count', '1', orders({ upTo: spec.calibrationEnd })), perDay: true },
    );
  }
  for (const w of spec.windows ?? []) {
    if (w.start === undefined) {
      // Since the first day: everything up to D, and nothing before it.
      list.push({ name: factColumn.windowRevenue(w.name), sql: over('sum', 'amount', orders({ upTo: d })) });
      list.push({ name: factColumn.windowPreRevenue(w.name), sql: 'CAST(NULL AS DECIMAL(38,4))' });
      continue;
    }
    // The pre-period is as long as the window and ends the day before it starts.
    const dayBefore = shiftDate(w.start, -1);
    const preDayBefore = shiftDate(w.start, -(daysFrom(w.start, d) + 2));
    list.push({ name: factColumn.windowRevenue(w.name), sql: over('sum', 'amount', orders({ after: dayBefore, upTo: d })) });
    list.push({ name: factColumn.windowPreRevenue(w.name), sql: over('sum', 'amount', orders({ after: preDayBefore, upTo: dayBefore })) });
  }
  const last = (days: number) => ({ after: shiftDate(d, -days), upTo: d });
  for (const days of spec.netSpendDays ?? []) list.push({ name: factColumn.netSpend(days), sql: over('sum', 'amount', orders(last(days))) });
  for (const days of spec.purchaseSpendDays ?? []) list.push({ name: factColumn.purchaseSpend(days), sql: over('sum', 'amount', purchases(last(days))) });
  return list;
}

/**
 * Each distinct aggregate once (at 10M rows each costs about 0.05 s, and tables ask for the same
 * figure under different names), as `SELECT` items of the per-customer (`c`) and per-day (`d`)
 * aggregates, and the outer query's columns naming them in the facts' order. A customer without
 * purchase days has 0 of them.
 */
function distinctAggregates(list: readonly Fact[]): { perCustomer: string[]; perDay: string[]; columns: string[] } {
  const first = new Map<string, string>();
  const key = (f: Fact) => `${f.perDay ? 'd' : 'c'}:${f.sql}`;
  for (const f of list) if (!first.has(key(f))) first.set(key(f), f.name);
  const items = (perDay: boolean) =>
    list.filter((f) => !!f.perDay === perDay && first.get(key(f)) === f.name).map((f) => `${f.sql} AS ${ident(f.name)}`);
  return {
    perCustomer: items(false),
    perDay: items(true),
    columns: list.map((f) => {
      const source = ident(first.get(key(f))!);
      return `${f.perDay ? `coalesce(d.${source}, 0)` : `c.${source}`} AS ${ident(f.name)}`;
    }),
  };
}

/**
 * The all-channel facts (see the module comment) from a relation of curated transactions, in the
 * SQL DuckDB and Trino share. Purchase days are counted, and the spend of each customer's first
 * purchase day found (for the Gamma-Gamma model's repeat spend, which leaves the first purchase
 * out), over one row per customer and purchase day: cheaper than a distinct count or a join back to
 * the first day. Two figures follow from the others: the returned amount (purchases − net) and the
 * purchase days in the validation's holdout (all − calibration).
 */
export function customerFactsSql(history: string, spec: FactsSpec): string {
  const { perCustomer, perDay, columns } = distinctAggregates(facts(spec));
  const derived = ['coalesce(c.purchase_amount, 0) - c.net_amount AS returned_amount'];
  if (spec.calibrationEnd) derived.push('coalesce(d.purchase_days, 0) - coalesce(d.calibration_purchase_days, 0) AS holdout_purchase_days');
  return `WITH customers AS (
  SELECT customer_id, ${perCustomer.join(',\n    ')}
  FROM (${history}) AS t
  GROUP BY customer_id
),
purchase_days AS (
  SELECT customer_id, order_date, sum(amount) AS amount
  FROM (${history}) AS t
  WHERE ${where({ of: 'purchases', upTo: spec.date })}
  GROUP BY customer_id, order_date
),
days AS (
  SELECT customer_id, ${perDay.join(', ')}, min_by(amount, order_date) AS first_day_amount
  FROM purchase_days AS t
  GROUP BY customer_id
)
SELECT c.customer_id, ${[...columns, ...derived].join(', ')}, d.first_day_amount
FROM customers AS c LEFT JOIN days AS d ON d.customer_id = c.customer_id`;
}

/**
 * The per-channel facts: one row per customer and sales channel ("unknown" for orders without
 * one) with the figures marked `byChannel` (the KPIs'), over the orders up to the run date.
 */
export function channelFactsSql(history: string, spec: FactsSpec): string {
  const list = facts(spec).filter((f) => f.byChannel);
  return `SELECT customer_id, coalesce(channel, 'unknown') AS channel, ${list.map((f) => `${f.sql} AS ${ident(f.name)}`).join(',\n    ')}
FROM (${history}) AS t
WHERE order_date <= ${dateLiteral(spec.date)}
GROUP BY customer_id, coalesce(channel, 'unknown')`;
}
