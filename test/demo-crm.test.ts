/**
 * The demo's CRM platform extracts (shared/demo/crm-programme.ts), read back from the files and
 * checked against the demo's transactions and the holdout's own assignment: messages reach the
 * treated group only (but for the recorded leaks), every extra order the programme caused follows
 * a click, profiles, costs and survey answers agree with the events and orders they come from.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DuckDbEngine } from '../shared/adapters/duckdb.js';
import { parseConfig } from '../shared/config.js';
import { attributedOrdersSql } from '../shared/crm/attribution-sql.js';
import { businessConfig, generateBusiness, type BusinessResult } from '../shared/demo/business.js';
import { assignGroup } from '../shared/holdout/assign.js';
import { tempDir } from './helpers.js';

const DAY_MS = 86_400_000;
const time = (iso: string) => Date.parse(`${iso}Z`);

/** Every data row of a kind's extracts, as objects keyed by the header's names (the demo writes no quoted fields). */
async function rowsOf(dir: string, kind: string): Promise<Record<string, string>[]> {
  const rows: Record<string, string>[] = [];
  for (const folder of (await readdir(join(dir, kind))).sort()) {
    for (const file of await readdir(join(dir, kind, folder))) {
      const [header, ...lines] = (await readFile(join(dir, kind, folder, file), 'utf8')).trimEnd().split('\n');
      const names = header!.split(',');
      for (const line of lines) {
        const values = line.split(',');
        if (values.length === names.length) rows.push(Object.fromEntries(names.map((n, i) => [n, values[i]!])));
      }
    }
  }
  return rows;
}

/** Purchases (returns and malformed lines left out) by a key that ignores the order id. */
const purchaseKey = (t: Record<string, string>) => `${t['customer_id']}|${t['ordered_at']}|${t['amount']}|${t['quantity']}|${t['channel']}`;
const isPurchase = (t: Record<string, string>) => t['is_return'] === 'false' && /^C\d{7}$/.test(t['customer_id'] ?? '') && !Number.isNaN(time(t['ordered_at']!));

let dir: string;
let business: BusinessResult;
let events: Record<string, string>[];
let profiles: Record<string, string>[];
let purchases: Record<string, string>[];
let programmeOrders: Record<string, string>[];
const holdout = parseConfig(businessConfig()).holdout;
const groupOf = (id: string) => assignGroup(id, { salt: holdout.salt, controlShare: holdout.control_share, hashVersion: holdout.hash_version });

beforeAll(async () => {
  dir = await tempDir('demo-crm');
  // A strong effect, for many extra orders; and the same business without the programme. The two
  // share every draw but the programme's own (common random numbers), so the extra orders are the
  // purchases of the first that the second lacks.
  business = await generateBusiness({ dir, customers: 4_000, crmEffect: 0.3 });
  const without = await tempDir('demo-crm-none');
  await generateBusiness({ dir: without, customers: 4_000, crmEffect: 0 });
  [events, profiles, purchases] = await Promise.all([rowsOf(dir, 'crm_events'), rowsOf(dir, 'customers'), (await rowsOf(dir, 'transactions')).filter(isPurchase)]);
  const baseline = new Set((await rowsOf(without, 'transactions')).filter(isPurchase).map(purchaseKey));
  programmeOrders = purchases.filter((t) => !baseline.has(purchaseKey(t)));
}, 120_000);

describe('the demo CRM platform', () => {
  it('delivers each kind as the transactions are delivered: an initial load, then one extract a day', async () => {
    const dates = (await readdir(join(dir, 'transactions'))).sort();
    for (const kind of ['customers', 'crm_events', 'surveys', 'crm_costs']) expect((await readdir(join(dir, kind))).sort(), kind).toEqual(dates);
    expect(Object.values(business.crmRows).every((n) => n > 0)).toBe(true);
  });

  it('messages the treated group only, but for the control customers it records as leaks', () => {
    const messaged = new Set(events.filter((e) => e['event_type'] === 'sent').map((e) => e['customer_id']!));
    const control = [...messaged].filter((id) => groupOf(id) === 'control').sort();
    expect(control).toEqual([...business.truth.holdoutLeaks].sort());
    expect(control.length).toBeGreaterThan(0);
    expect(control.length).toBeLessThan(0.01 * [...messaged].length);
  });

  it('honours the channel holdouts: the treated held out of a channel are never sent on it, but are on the others', () => {
    expect(Object.keys(holdout.channels).sort()).toEqual(['email', 'push', 'sms']);
    const heldOut = (id: string, channel: string) => {
      const c = holdout.channels[channel];
      return c !== undefined && groupOf(id) === 'treatment' && assignGroup(id, { salt: c.salt, controlShare: c.control_share, hashVersion: holdout.hash_version }) === 'control';
    };
    const sends = events.filter((e) => e['event_type'] === 'sent');
    expect(sends.filter((e) => heldOut(e['customer_id']!, e['channel']!))).toEqual([]);
    for (const channel of Object.keys(holdout.channels)) {
      const sentOtherwise = sends.filter((e) => heldOut(e['customer_id']!, channel) && e['channel'] !== channel);
      expect(sentOtherwise.length, channel).toBeGreaterThan(0);
    }
    // The extra orders follow reminders on the first channel consented to at sign-up: held out of
    // it, a customer makes none; held out of another, they still do.
    const signUp = new Map<string, Record<string, string>>();
    for (const p of profiles) if (p['updated_at'] === p['signed_up_at'] && !signUp.has(p['customer_id']!)) signUp.set(p['customer_id']!, p);
    const firstChannel = (id: string) => ['email', 'sms', 'push'].find((channel) => signUp.get(id)?.[`${channel}_consent`] === 'true');
    const extraBy = new Set(programmeOrders.map((t) => t['customer_id']!));
    const treatedIds = [...signUp.keys()].filter((id) => groupOf(id) === 'treatment');
    const offFirst = treatedIds.filter((id) => firstChannel(id) !== undefined && heldOut(id, firstChannel(id)!));
    const offOther = treatedIds.filter((id) => Object.keys(holdout.channels).some((channel) => channel !== firstChannel(id) && heldOut(id, channel)));
    expect(offFirst.length).toBeGreaterThan(50);
    expect(offFirst.filter((id) => extraBy.has(id))).toEqual([]);
    expect(offOther.filter((id) => extraBy.has(id)).length).toBeGreaterThan(10);
  });

  it('every extra order of the programme follows a click by its customer in the 7 days before; few other orders do', () => {
    expect(programmeOrders.length).toBeGreaterThan(100);
    const clicks = new Map<string, number[]>();
    for (const e of events) if (e['event_type'] === 'clicked') clicks.set(e['customer_id']!, [...(clicks.get(e['customer_id']!) ?? []), time(e['occurred_at']!)]);
    const clickedBefore = (t: Record<string, string>) =>
      (clicks.get(t['customer_id']!) ?? []).some((c) => c < time(t['ordered_at']!) && c >= time(t['ordered_at']!) - 7 * DAY_MS);
    expect(programmeOrders.filter((t) => !clickedBefore(t))).toEqual([]);
    const programme = new Set(programmeOrders.map(purchaseKey));
    const others = purchases.filter((t) => !programme.has(purchaseKey(t)) && t['ordered_at']! >= business.truth.programmeStart && groupOf(t['customer_id']!) === 'treatment');
    expect(others.filter(clickedBefore).length / others.length).toBeLessThan(0.15);
  });

  it('last-touch attribution (7-day click, 1-day open) gives every extra order of the programme to a click', async () => {
    const engine = await DuckDbEngine.open();
    try {
      const csv = (kind: string) => `read_csv('${join(dir, kind)}/*/*.csv', header = true, all_varchar = true, strict_mode = false, ignore_errors = true)`;
      const orders = `SELECT transaction_id, customer_id, try_cast(ordered_at AS TIMESTAMP) AS ordered_at, try_cast(amount AS DECIMAL(18,4)) AS amount, is_return = 'true' AS is_return
        FROM ${csv('transactions')} WHERE try_cast(ordered_at AS TIMESTAMP) IS NOT NULL AND customer_id IS NOT NULL`;
      const touches = `SELECT event_id, customer_id, CAST(occurred_at AS TIMESTAMP) AS occurred_at, channel, campaign_id, event_type FROM ${csv('crm_events')}`;
      const rows = await engine.query<{ transaction_id: string; event_type: string }>(
        `SELECT transaction_id, event_type FROM (${attributedOrdersSql(orders, touches, { click_days: 7, open_days: 1 })})`,
      );
      const attributed = new Map(rows.map((r) => [r.transaction_id, r.event_type]));
      expect(programmeOrders.filter((t) => attributed.get(t['transaction_id']!) !== 'clicked')).toEqual([]);
      expect(attributed.size).toBeLessThan(purchases.length);
    } finally {
      await engine.close();
    }
  });

  it("a message's events follow its send, and each channel only has the events it can have", () => {
    const byMessage = new Map<string, Record<string, string>[]>();
    for (const e of events) {
      const key = `${e['customer_id']}|${e['campaign_id']}`;
      byMessage.set(key, [...(byMessage.get(key) ?? []), e]);
    }
    const possible: Record<string, string[]> = {
      email: ['sent', 'delivered', 'bounced', 'opened', 'clicked', 'unsubscribed', 'complained'],
      sms: ['sent', 'delivered', 'bounced', 'clicked', 'unsubscribed'],
      push: ['sent', 'delivered', 'opened'],
      in_app: ['sent', 'delivered', 'opened', 'clicked'],
    };
    for (const [key, message] of byMessage) {
      const count = (type: string) => message.filter((e) => e['event_type'] === type).length;
      if (key.includes('|TRG-')) {
        // A triggered programme sends a customer one reminder per extra order: each delivered and clicked.
        expect(count('delivered')).toBe(count('sent'));
        expect(count('clicked')).toBe(count('sent'));
        continue;
      }
      const sent = message.filter((e) => e['event_type'] === 'sent');
      expect(sent).toHaveLength(1);
      for (const e of message) {
        expect(possible[e['channel']!]).toContain(e['event_type']);
        expect(e['occurred_at']! >= sent[0]!['occurred_at']!).toBe(true);
      }
      const types = new Set(message.map((e) => e['event_type']));
      expect(types.has('bounced') && types.has('delivered')).toBe(false);
      if (types.has('opened') || types.has('clicked')) expect(types.has('delivered')).toBe(true);
    }
  });

  it('profiles: each customer signs up before the first order, referrers signed up earlier, an unsubscribe ends that channel', () => {
    const firstOrder = new Map<string, string>();
    for (const t of purchases) if (!(firstOrder.get(t['customer_id']!)! <= t['ordered_at']!)) firstOrder.set(t['customer_id']!, t['ordered_at']!);
    const signup = new Map(profiles.map((p) => [p['customer_id']!, p['signed_up_at']!]));
    expect([...signup.keys()].sort()).toEqual([...firstOrder.keys()].sort());
    for (const [id, at] of firstOrder) expect(signup.get(id)! <= at, id).toBe(true);
    const referred = profiles.filter((p) => p['referred_by']);
    expect(referred.length).toBeGreaterThan(0.04 * signup.size);
    for (const p of referred) expect(signup.get(p['referred_by']!)! < p['signed_up_at']!).toBe(true);

    const unsubscribes = events.filter((e) => e['event_type'] === 'unsubscribed');
    expect(unsubscribes.length).toBeGreaterThan(0);
    for (const u of unsubscribes) {
      const changed = profiles.find((p) => p['customer_id'] === u['customer_id'] && p['updated_at'] === u['occurred_at']);
      expect(changed?.[`${u['channel']}_consent`]).toBe('false');
      const later = events.filter(
        (e) => e['customer_id'] === u['customer_id'] && e['channel'] === u['channel'] && e['event_type'] === 'sent' && e['occurred_at']! > u['occurred_at']! && !e['campaign_id']!.startsWith('TRG-'),
      );
      expect(later).toEqual([]);
    }
  });

  it("costs: a campaign day costs its sends at the channel's price, and each month has its platform fees", async () => {
    const price: Record<string, number> = { email: 0.001, sms: 0.05, push: 0.0002 };
    const sends = new Map<string, number>();
    for (const e of events) {
      if (e['event_type'] !== 'sent' || e['channel'] === 'in_app') continue;
      const key = `${e['occurred_at']!.slice(0, 10)},${e['channel']},${e['campaign_id']}`;
      sends.set(key, (sends.get(key) ?? 0) + 1);
    }
    const costs = await rowsOf(dir, 'crm_costs');
    const campaignCosts = new Map(costs.filter((c) => c['campaign_id']).map((c) => [`${c['cost_date']},${c['channel']},${c['campaign_id']}`, Number(c['amount'])]));
    for (const [key, n] of sends) {
      const expected = Math.round(n * price[key.split(',')[1]!]! * 100) / 100;
      if (expected > 0) expect(campaignCosts.get(key), key).toBeCloseTo(expected, 2);
    }
    expect(campaignCosts.size).toBe([...sends].filter(([key, n]) => Math.round(n * price[key.split(',')[1]!]! * 100) > 0).length);
    const fees = costs.filter((c) => !c['campaign_id']);
    expect(new Set(fees.map((c) => c['cost_date']))).toEqual(new Set(['2024-01-01', '2024-02-01', '2024-03-01', '2024-04-01', '2024-05-01', '2024-06-01', '2024-07-01', '2024-08-01', '2024-09-01', '2024-10-01', '2024-11-01']));
  });

  it('surveys: scores from 0 to 10, each answered 1 to 5 days after an order of its customer', async () => {
    const answers = await rowsOf(dir, 'surveys');
    expect(answers.length).toBeGreaterThan(0.02 * purchases.length);
    const orders = new Map<string, number[]>();
    for (const t of purchases) orders.set(t['customer_id']!, [...(orders.get(t['customer_id']!) ?? []), time(t['ordered_at']!)]);
    for (const a of answers) {
      expect(Number(a['score'])).toBeGreaterThanOrEqual(0);
      expect(Number(a['score'])).toBeLessThanOrEqual(10);
      const answered = time(a['answered_at']!);
      // Whole seconds in the files: an order's time and the answer's are each rounded down.
      expect((orders.get(a['customer_id']!) ?? []).some((t) => answered - t >= DAY_MS - 1000 && answered - t <= 5 * DAY_MS + 1000), a['response_id']).toBe(true);
    }
  });
});
