/**
 * Last-touch attribution (shared/crm/attribution-sql.ts) against an independent reading of the
 * rule in TypeScript, on hand-made cases at the windows' edges and on random histories: the last
 * click in the 7 days before an order, else the last open in the day before, each order at most once.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDbEngine } from '../shared/adapters/duckdb.js';
import { attributedOrdersSql, type AttributionWindows } from '../shared/crm/attribution-sql.js';

interface Order {
  transaction_id: string;
  customer_id: string;
  /** Hours since 2024-01-01T00:00. */
  at: number;
  amount: number;
  is_return: boolean;
}
interface Touch {
  event_id: string;
  customer_id: string;
  at: number;
  event_type: 'clicked' | 'opened' | 'sent' | 'delivered';
  campaign_id: string;
}

const iso = (hours: number) => new Date(Date.UTC(2024, 0, 1) + hours * 3_600_000).toISOString().slice(0, 19).replace('T', ' ');
const WINDOWS: AttributionWindows = { click_days: 7, open_days: 1 };

/** The rule, read directly: for each purchase, the touches that qualify, the best of them. */
function oracle(orders: readonly Order[], touches: readonly Touch[], w: AttributionWindows): Record<string, string> {
  const result: Record<string, string> = {};
  for (const o of orders) {
    if (o.is_return) continue;
    const qualifying = (type: Touch['event_type'], days: number) =>
      touches.filter((t) => t.customer_id === o.customer_id && t.event_type === type && t.at < o.at && t.at >= o.at - 24 * days);
    const clicks = qualifying('clicked', w.click_days);
    const pool = clicks.length ? clicks : qualifying('opened', w.open_days);
    const best = pool.sort((a, b) => b.at - a.at || (b.event_id > a.event_id ? 1 : -1))[0];
    if (best) result[o.transaction_id] = best.event_id;
  }
  return result;
}

let engine: DuckDbEngine;
beforeAll(async () => {
  engine = await DuckDbEngine.open({ threads: 2 });
});
afterAll(async () => {
  await engine?.close();
});

async function attributed(orders: readonly Order[], touches: readonly Touch[], w = WINDOWS): Promise<Record<string, string>> {
  const orderRows = orders.map((o) => `('${o.transaction_id}', '${o.customer_id}', TIMESTAMP '${iso(o.at)}', ${o.amount}, ${o.is_return})`);
  const touchRows = touches.map((t) => `('${t.event_id}', '${t.customer_id}', TIMESTAMP '${iso(t.at)}', 'email', '${t.campaign_id}', '${t.event_type}')`);
  const ordersSql = orderRows.length
    ? `SELECT * FROM (VALUES ${orderRows.join(', ')}) AS o(transaction_id, customer_id, ordered_at, amount, is_return)`
    : `SELECT 'x' AS transaction_id, 'x' AS customer_id, TIMESTAMP '2024-01-01' AS ordered_at, 0 AS amount, false AS is_return WHERE false`;
  const eventsSql = touchRows.length
    ? `SELECT * FROM (VALUES ${touchRows.join(', ')}) AS e(event_id, customer_id, occurred_at, channel, campaign_id, event_type)`
    : `SELECT 'x' AS event_id, 'x' AS customer_id, TIMESTAMP '2024-01-01' AS occurred_at, 'x' AS channel, 'x' AS campaign_id, 'x' AS event_type WHERE false`;
  const rows = await engine.query<{ transaction_id: string; event_id: string }>(attributedOrdersSql(ordersSql, eventsSql, w));
  expect(new Set(rows.map((r) => r.transaction_id)).size, 'each order at most once').toBe(rows.length);
  return Object.fromEntries(rows.map((r) => [r.transaction_id, r.event_id]));
}

describe('last-touch attribution', () => {
  it('takes the last click of the 7 days before, else the last open of the day before, at the windows’ edges', async () => {
    const order = (id: string, at: number): Order => ({ transaction_id: id, customer_id: 'c1', at, amount: 10, is_return: false });
    const touch = (id: string, at: number, event_type: Touch['event_type']): Touch => ({ event_id: id, customer_id: 'c1', at, event_type, campaign_id: 'k' });
    const day = 24;
    const orders = [order('o1', 100 * day), order('o2', 200 * day), order('o3', 300 * day), order('o4', 400 * day)];
    const touches = [
      // o1: a click exactly 7 days before counts; an open an hour before does not beat it.
      touch('e1', 93 * day, 'clicked'),
      touch('e2', 100 * day - 1, 'opened'),
      // o2: a click 7 days and an hour before is out; the open exactly a day before is in.
      touch('e3', 193 * day - 1, 'clicked'),
      touch('e4', 199 * day, 'opened'),
      // o3: a click at the order's own instant is not before it; an open 25 hours before is out.
      touch('e5', 300 * day, 'clicked'),
      touch('e6', 299 * day - 1, 'opened'),
      // o4: two clicks at one instant: the later record (greater event id) wins; sends never count.
      touch('e7', 399 * day, 'clicked'),
      touch('e8', 399 * day, 'clicked'),
      touch('e9', 400 * day - 1, 'sent'),
    ];
    const expected = { o1: 'e1', o2: 'e4', o4: 'e8' };
    expect(oracle(orders, touches, WINDOWS)).toEqual(expected);
    expect(await attributed(orders, touches)).toEqual(expected);
  });

  it('leaves returns and other customers’ touches alone', async () => {
    const orders: Order[] = [{ transaction_id: 'r1', customer_id: 'c1', at: 50, amount: -10, is_return: true }, { transaction_id: 'o1', customer_id: 'c2', at: 50, amount: 10, is_return: false }];
    const touches: Touch[] = [{ event_id: 'e1', customer_id: 'c1', at: 49, event_type: 'clicked', campaign_id: 'k' }];
    expect(await attributed(orders, touches)).toEqual({});
  });

  it('agrees with the rule read directly on random histories (ties, both windows, several customers)', async () => {
    const customer = fc.constantFrom('c1', 'c2', 'c3');
    const hour = fc.integer({ min: 0, max: 24 * 20 });
    const history = fc.record({
      orders: fc.array(fc.record({ customer_id: customer, at: hour, is_return: fc.boolean() }), { maxLength: 12 }),
      touches: fc.array(fc.record({ customer_id: customer, at: hour, event_type: fc.constantFrom('clicked', 'opened', 'sent') }), { maxLength: 25 }),
      windows: fc.record({ click_days: fc.integer({ min: 0, max: 10 }), open_days: fc.integer({ min: 0, max: 3 }) }),
    });
    await fc.assert(
      fc.asyncProperty(history, async ({ orders, touches, windows }) => {
        const o = orders.map((x, i) => ({ ...x, transaction_id: `o${i}`, amount: 10 }));
        const t = touches.map((x, i) => ({ ...x, event_id: `e${String(i).padStart(3, '0')}`, campaign_id: 'k' }));
        expect(await attributed(o, t, windows)).toEqual(oracle(o, t, windows));
      }),
      { numRuns: 150, seed: 17 },
    );
  });

  it('refuses a window that is not a whole number of days', () => {
    expect(() => attributedOrdersSql('x', 'y', { click_days: 1.5, open_days: 1 })).toThrow(RangeError);
  });
});
