/**
 * KPIs, Return on Customer and forecast accuracy on small hand-built histories whose answers are
 * worked out by hand in the comments, plus a property: channels add up to ALL.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { customerScores, kpiDaily, roc as rocTable, transactions } from '../shared/tables/index.js';
import { generateExtracts } from '../shared/demo/generate.js';
import { DuckDbEngine } from '../shared/adapters/duckdb.js';
import { kpiRows, kpiWideSql } from '../shared/kpi/kpi-sql.js';
import { forecastAccuracySql, rocSql } from '../shared/kpi/value-sql.js';
import { channelFactsSql, customerFactsSql, factColumn } from '../shared/history/customer-facts.js';
import { money, readTable, runLocal, tempDir } from './helpers.js';

let engine: DuckDbEngine;
beforeAll(async () => {
  engine = await DuckDbEngine.open({ threads: 1 });
});
afterAll(async () => {
  await engine?.close();
});

type Order = [customer: string, channel: string | null, date: string, amount: number, quantity: number | null, isReturn?: boolean];

/** A curated-history relation (the columns the KPI SQL reads) from literal orders. */
function history(orders: readonly Order[]): string {
  const rows = orders.map(
    ([c, ch, d, a, q, r]) =>
      `('${c}', ${ch === null ? 'NULL' : `'${ch}'`}, DATE '${d}', CAST(${a} AS DECIMAL(18,4)), ${q === null ? 'CAST(NULL AS INTEGER)' : q}, ${r ?? a < 0})`,
  );
  return `SELECT * FROM (VALUES ${rows.join(', ')}) AS h(customer_id, channel, order_date, amount, quantity, is_return)`;
}

/** Each customer's net spend (or purchases only) in the `days` days up to `date`, from the customer facts. */
function spendSql(orders: readonly Order[], date: string, days: number, purchasesOnly: boolean): string {
  const spec = { date, ...(purchasesOnly ? { purchaseSpendDays: [days] } : { netSpendDays: [days] }) };
  const column = purchasesOnly ? factColumn.purchaseSpend(days) : factColumn.netSpend(days);
  return `SELECT customer_id, ${column} AS amount FROM (${customerFactsSql(history(orders), spec)}) AS f`;
}

const groups = (pairs: [string, string][]) =>
  `SELECT * FROM (VALUES ${pairs.map(([c, g]) => `('${c}', '${g}')`).join(', ')}) AS g(customer_id, holdout_group)`;

async function kpis(orders: readonly Order[], assignment: [string, string][], date: string, kpi = { activity_days: 10, period_days: 5 }) {
  const spec = { date, kpi };
  const wide = await engine.query(kpiWideSql(customerFactsSql(history(orders), spec), channelFactsSql(history(orders), spec), groups(assignment), date, kpi));
  const rows = kpiRows(wide as Record<string, string | number | null>[]);
  const value = (channel: string, metric: string) => rows.find((r) => r.channel === channel && r.metric === metric)?.value;
  return Object.assign(value, { channels: [...new Set(rows.map((r) => r.channel))].filter((c) => c !== 'ALL') });
}

describe('kpi_daily', () => {
  // Run date D = 2024-01-20, activity window A = 10 days, period P = 5 days:
  // active now = a purchase in (01-10, 01-20]; the period is (01-15, 01-20]; its start 01-15;
  // active at the start = a purchase in (01-05, 01-15]; "inactive before" = last purchase ≤ 01-05.
  const ORDERS: Order[] = [
    ['c1', 'web', '2024-01-01', 30, 1], // c1: long inactive …
    ['c1', 'web', '2024-01-18', 100, 2], //     … then buys in the period: reactivated
    ['c2', 'store', '2024-01-17', 50, 1], // c2: first purchase in the period: new
    ['c3', 'web', '2024-01-12', 30, 3], // c3: active at the start and now: retained
    ['c4', 'store', '2024-01-08', 40, 1], // c4: active at the start, not now: churned
    ['c5', 'web', '2024-01-19', 80, 1], // c5: new, …
    ['c5', 'web', '2024-01-20', -20, -1], //     … and returns 20 of it
    ['c6', null, '2024-01-16', 70, null], // c6: no channel ("unknown"), no quantity, new
  ];
  const ASSIGNMENT: [string, string][] = [['c1', 'control'], ['c2', 'treatment'], ['c3', 'treatment'], ['c4', 'treatment'], ['c5', 'treatment'], ['c6', 'treatment']];

  it('computes every KPI for ALL as worked out by hand', async () => {
    const value = await kpis(ORDERS, ASSIGNMENT, '2024-01-20');
    expect(value('ALL', 'active_customers')).toBe(5); // c1 (01-18), c2, c3 (01-12), c5, c6; not c4 (01-08)
    expect(value('ALL', 'new_customers')).toBe(3); // first purchase after 01-15: c2, c5, c6
    expect(value('ALL', 'reactivated_customers')).toBe(1); // c1: last purchase before the period 01-01 ≤ 01-05
    expect(value('ALL', 'churned_customers')).toBe(1); // c4
    expect(value('ALL', 'retention_rate')).toBe(0.5); // active at start {c3, c4}, still active {c3}: 1/2
    expect(value('ALL', 'repeat_purchase_rate')).toBeCloseTo(1 / 6, 12); // two purchases: c1; buyers: c1..c6
    expect(value('ALL', 'orders')).toBe(4); // 01-18, 01-17, 01-19, 01-16
    expect(value('ALL', 'gross_revenue')).toBe(300); // 100 + 50 + 80 + 70
    expect(value('ALL', 'returned_revenue')).toBe(20);
    expect(value('ALL', 'revenue')).toBe(280); // 300 − 20
    expect(value('ALL', 'average_order_value')).toBe(75); // 300 / 4
    expect(value('ALL', 'units_per_transaction')).toBeCloseTo(4 / 3, 12); // (2 + 1 + 1) / 3 orders with a quantity
    expect(value('ALL', 'return_rate')).toBeCloseTo(20 / 300, 12);
    expect(value('ALL', 'revenue_share')).toBe(1);
    expect(value('ALL', 'revenue_share_control')).toBeCloseTo(100 / 280, 12); // c1's 100
    expect(value('ALL', 'revenue_share_treatment')).toBeCloseTo(180 / 280, 12); // 50 + 80 − 20 + 70
  });

  it('computes them per channel on that channel’s orders', async () => {
    const value = await kpis(ORDERS, ASSIGNMENT, '2024-01-20');
    // web: c1 (01-01, 01-18), c3 (01-12), c5 (01-19, return 01-20)
    expect(value('web', 'active_customers')).toBe(3);
    expect(value('web', 'new_customers')).toBe(1); // c5
    expect(value('web', 'reactivated_customers')).toBe(1); // c1
    expect(value('web', 'retention_rate')).toBe(1); // {c3} → {c3}
    expect(value('web', 'revenue')).toBe(160); // 100 + 80 − 20
    expect(value('web', 'units_per_transaction')).toBe(1.5); // (2 + 1) / 2
    expect(value('web', 'revenue_share')).toBeCloseTo(160 / 280, 12);
    expect(value('web', 'revenue_share_control')).toBeCloseTo(100 / 160, 12);
    // store: c2 (01-17), c4 (01-08)
    expect(value('store', 'churned_customers')).toBe(1); // c4
    expect(value('store', 'retention_rate')).toBe(0); // {c4} → {}
    expect(value('store', 'repeat_purchase_rate')).toBe(0);
    // unknown: c6 alone; no quantity, so no units per transaction
    expect(value('unknown', 'revenue')).toBe(70);
    expect(value('unknown', 'units_per_transaction')).toBeNull();
    expect(value('unknown', 'return_rate')).toBe(0);
  });

  it('property: channel revenues, gross revenues and orders add up to ALL', async () => {
    const day = fc.integer({ min: 1, max: 28 }).map((d) => `2024-02-${String(d).padStart(2, '0')}`);
    const order = fc.tuple(
      fc.constantFrom('a', 'b', 'c', 'd', 'e'),
      fc.constantFrom('web', 'store', 'app', null),
      day,
      fc.integer({ min: -5000, max: 20000 }).map((cents) => cents / 100),
      fc.option(fc.integer({ min: -3, max: 9 }), { nil: null }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(order, { minLength: 1, maxLength: 25 }), async (orders) => {
        const value = await kpis(orders as Order[], [['a', 'control']], '2024-02-28', { activity_days: 7, period_days: 10 });
        const { channels } = value;
        for (const metric of ['revenue', 'gross_revenue', 'returned_revenue', 'orders']) {
          const sum = channels.reduce((n, ch) => n + (value(ch, metric) ?? 0), 0);
          expect(sum).toBeCloseTo(value('ALL', metric) ?? 0, 6);
        }
        const shares = channels.reduce((n, ch) => n + (value(ch, 'revenue_share') ?? 0), 0);
        if (value('ALL', 'revenue')) expect(shares).toBeCloseTo(1, 9);
      }),
      { numRuns: 60 },
    );
  });
});

describe('roc', () => {
  it('never sums a sales channel delivered as "ALL" into the total: it stays a row of its own', async () => {
    const orders: Order[] = [
      ['c1', 'ALL', '2024-01-18', 100, 1],
      ['c2', 'web', '2024-01-18', 50, 1],
    ];
    const spec = { date: '2024-01-20', kpi: { activity_days: 10, period_days: 5 } };
    const wide = await engine.query<{ channel: string; revenue: number }>(
      kpiWideSql(customerFactsSql(history(orders), spec), channelFactsSql(history(orders), spec), groups([['c1', 'treatment']]), spec.date, spec.kpi),
    );
    // Two rows labelled ALL (kpi_daily's unique check then stops the night, naming them), the total 150.
    expect(wide.filter((r) => r.channel === 'ALL').map((r) => r.revenue).sort((a, b) => a - b)).toEqual([100, 150]);
  });

  it('matches a hand-built two-period example', async () => {
    const scores = (rows: [string, string, number][]) =>
      `SELECT * FROM (VALUES ${rows.map(([c, s, v]) => `('${c}', '${s}', CAST(${v} AS DOUBLE))`).join(', ')}) AS s(customer_id, segment, clv)`;
    // Scores at the run date 2024-01-20 (c4 is new since the starts: not in either cohort).
    const end = scores([['c1', 'Champions', 120], ['c2', 'Champions', 40], ['c3', 'Lost', 10], ['c4', 'New', 30]]);
    const orders: Order[] = [
      ['c1', 'web', '2023-12-25', 40, 1],
      ['c1', 'web', '2024-01-20', 25, 1],
      ['c2', 'web', '2024-01-20', -5, -1],
      ['c4', 'web', '2024-01-20', 30, 1],
    ];
    const cashFlow = (days: number) => spendSql(orders, '2024-01-20', days, false);
    const sql = rocSql(
      [
        { name: '1d', start: '2024-01-19', startScores: scores([['c1', 'Champions', 100], ['c2', 'Champions', 50], ['c3', 'Lost', 10]]), cashFlow: cashFlow(1) },
        { name: '30d', start: '2023-12-21', startScores: scores([['c1', 'Champions', 80], ['c2', 'Loyal', 60]]), cashFlow: cashFlow(30) },
      ],
      end,
    )!;
    const rows = await engine.query<{ period: string; segment: string; equity_start: number; equity_end: number; cash_flow: number; roc: number }>(
      `SELECT period, segment, equity_start, equity_end, cash_flow, roc FROM (${sql}) ORDER BY period, segment`,
    );
    const roc = (period: string, segment: string) => rows.find((r) => r.period === period && r.segment === segment)!;
    // 1d, Champions {c1, c2}: equity 150 → 160, cash flow 25 − 5 = 20: (20 + 10) / 150 = 0.2
    expect(roc('1d', 'Champions')).toMatchObject({ equity_start: 150, equity_end: 160, cash_flow: 20 });
    expect(roc('1d', 'Champions').roc).toBeCloseTo(0.2, 12);
    expect(roc('1d', 'Lost').roc).toBe(0); // {c3}: 10 → 10, no cash
    expect(roc('1d', 'ALL').roc).toBeCloseTo((20 + 10) / 160, 12); // 0.1875; c4 left out
    // 30d, Champions {c1}: 80 → 120, cash 40 + 25 = 65: (65 + 40) / 80 = 1.3125
    expect(roc('30d', 'Champions').roc).toBeCloseTo(1.3125, 12);
    // 30d, Loyal {c2}: 60 → 40, cash −5: (−5 − 20) / 60
    expect(roc('30d', 'Loyal').roc).toBeCloseTo(-25 / 60, 12);
    // 30d, ALL: 140 → 160, cash 60: 80 / 140
    expect(roc('30d', 'ALL').roc).toBeCloseTo(80 / 140, 12);
  });
});

describe('forecast_accuracy', () => {
  it('puts a matured forecast beside the purchases made in its horizon', async () => {
    const sql = forecastAccuracySql(
      [
        {
          horizonDays: 30,
          forecastDate: '2023-12-21',
          scores: `SELECT * FROM (VALUES ('c1', 'Champions', 'A'), ('c2', 'Lost', 'E')) AS s(customer_id, segment, grade)`,
          forecast: `SELECT * FROM (VALUES ('Champions', 'A', CAST(100 AS DOUBLE)), ('Lost', 'E', CAST(10 AS DOUBLE))) AS f(segment, grade, expected_revenue_30d)`,
          purchases: spendSql(
            [
              ['c1', 'web', '2023-12-21', 500, 1], // on the forecast date itself: before the horizon
              ['c1', 'web', '2024-01-05', 80, 1],
              ['c1', 'web', '2024-01-06', -10, -1], // a return: the model forecasts purchases
              ['c3', 'web', '2024-01-07', 60, 1], // not scored at the forecast date
            ],
            '2024-01-20',
            30,
            true,
          ),
        },
      ],
    )!;
    const rows = await engine.query(`SELECT segment, grade, customers, expected_revenue, actual_revenue, error, relative_error FROM (${sql}) ORDER BY segment`);
    expect(rows).toEqual([
      // ALL: expected 110, actual 80: error 30, relative 30 / 80
      { segment: 'ALL', grade: 'ALL', customers: '2', expected_revenue: 110, actual_revenue: 80, error: 30, relative_error: 0.375 },
      { segment: 'Champions', grade: 'A', customers: '1', expected_revenue: 100, actual_revenue: 80, error: 20, relative_error: 0.25 },
      { segment: 'Lost', grade: 'E', customers: '1', expected_revenue: 10, actual_revenue: 0, error: 10, relative_error: null },
    ]);
  });
});

describe('the nightly run', () => {
  it('writes kpi_daily and roc that agree with the published history and scores', async () => {
    const source = await tempDir('kpi-src');
    const dest = await tempDir('kpi-dest');
    // Twelve days: enough repeat purchases for the CLV models to converge (ROC needs equity).
    const all12 = Array.from({ length: 12 }, (_, i) => `2024-05-${String(i + 1).padStart(2, '0')}`);
    await generateExtracts({ dir: source, from: all12[0]!, to: all12[11]!, customers: 1500, seed: 3, malformedRows: 0 });
    for (const day of all12) await runLocal(day, source, dest);
    const days = all12.slice(-3);

    // Revenue of the 30-day period = every order in the twelve days' partitions (read independently).
    const orders = (await Promise.all(all12.map((d) => readTable(dest, transactions, d)))).flat();
    const revenue = orders.reduce((n, o) => n + money(o['amount']), 0);
    const kpi = await readTable(dest, kpiDaily, days[2]!);
    const value = (metric: string) => Number(kpi.find((k) => k['metric'] === metric && k['channel'] === 'ALL')!['value']);
    expect(value('revenue')).toBeCloseTo(revenue, 6);
    expect(value('orders')).toBe(orders.filter((o) => !o['is_return']).length);
    const channels = kpi.filter((k) => k['metric'] === 'revenue' && k['channel'] !== 'ALL');
    expect(channels.reduce((n, k) => n + Number(k['value']), 0)).toBeCloseTo(revenue, 6);

    // ROC over one day: the cohort scored on the 2nd, its clv then and now, its orders of the 3rd.
    const start = await readTable(dest, customerScores, days[1]!);
    const now = new Map((await readTable(dest, customerScores, days[2]!)).map((s) => [s['customer_id'], Number(s['clv'])]));
    const cohort = new Set(start.map((s) => s['customer_id']));
    const equityStart = start.reduce((n, s) => n + Number(s['clv']), 0);
    expect(equityStart).toBeGreaterThan(0);
    const equityEnd = start.reduce((n, s) => n + now.get(s['customer_id'])!, 0);
    const cash = (await readTable(dest, transactions, days[2]!)).filter((o) => cohort.has(o['customer_id'])).reduce((n, o) => n + money(o['amount']), 0);
    const all = (await readTable(dest, rocTable, days[2]!)).find((r) => r['period'] === '1d' && r['segment'] === 'ALL')!;
    expect(Number(all['equity_start'])).toBeCloseTo(equityStart, 6);
    expect(Number(all['roc'])).toBeCloseTo((cash + equityEnd - equityStart) / equityStart, 9);
  });
});
