/**
 * campaign_performance and crm_channel_kpi against an independent computation: a generated CRM
 * programme (campaigns on four channels, opens, clicks, unsubscribes, bounces, costs, consents)
 * and orders over two nights, with the second night re-delivering part of the first's events and
 * delivering some of them (and of its orders) a night late.
 * Here the funnel, the last-touch attribution and the period's sums are computed in plain
 * TypeScript from the generated rows, and compared with the tables as read back from Parquet; over
 * three more generated programmes, the attribution and the channels' sums are checked as properties.
 */
import { cp, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CRM_HEADERS } from '../shared/demo/crm-programme.js';
import { createRng } from '../shared/demo/generate.js';
import { DuckDbEngine } from '../shared/adapters/duckdb.js';
import { parseConfig } from '../shared/config.js';
import { registerTableViews } from '../shared/local-query.js';
import { respond } from '../shared/slack/answers.js';
import { toPlainText } from '../shared/slack/blocks.js';
import { parseCommand } from '../shared/slack/commands.js';
import { campaignDaily, campaignPerformance, crmChannelKpi, customerScores, kpiDaily, referralValue, surveySummary } from '../shared/tables/index.js';
import { LocalObjectStore } from '../shared/adapters/local-store.js';
import { DuckDbRemote } from './duckdb-remote.js';
import { CSV_HEADER, money, readTable, runLocal, tempDir, writeExtract } from './helpers.js';

const [D1, D2] = ['2024-05-01', '2024-05-02'];
const PERIOD_DAYS = 2;
const CONFIG = { kpi: { period_days: PERIOD_DAYS } };
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const iso = (ms: number) => new Date(ms).toISOString().slice(0, 19);
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

interface Event { id: string; customer: string; at: number; channel: string; campaign: string; type: string }
interface Order { id: string; customer: string; at: number; amount: number; isReturn: boolean }
interface Cost { date: string; channel: string; campaign: string; cents: number }

/** The generated programme: every row is valid, so every row is accepted (the hostile cases are tested elsewhere). */
function generate(seed: number) {
  const rng = createRng(seed);
  const random = () => rng.uniform();
  const customers = Array.from({ length: 40 }, (_, i) => `c${String(i).padStart(2, '0')}`);
  const start = Date.parse('2024-04-20T00:00:00Z');
  const end = Date.parse(`${D2}T23:59:59Z`);
  const events: Event[] = [];
  let n = 0;
  const event = (customer: string, at: number, channel: string, campaign: string, type: string) =>
    at <= end && events.push({ id: `e${String(++n).padStart(5, '0')}`, customer, at, channel, campaign, type });
  const campaigns = [
    { campaign: 'NL-1', channel: 'email', at: start + 2 * DAY },
    { campaign: 'NL-2', channel: 'email', at: Date.parse(`${D1}T08:00:00Z`) },
    // Delivered the evening before the KPI period: its opens and clicks fall into the period.
    { campaign: 'NL-EVE', channel: 'email', at: Date.parse('2024-04-30T22:00:00Z') },
    { campaign: 'SMS-1', channel: 'sms', at: Date.parse(`${D1}T12:00:00Z`) },
    { campaign: 'PUSH-1', channel: 'push', at: Date.parse(`${D2}T06:00:00Z`) },
    { campaign: '', channel: 'in_app', at: start + 5 * DAY },
  ];
  for (const c of campaigns) {
    for (const customer of customers) {
      if (random() > 0.6) continue;
      event(customer, c.at, c.channel, c.campaign, 'sent');
      if (random() < 0.1) {
        event(customer, c.at + 60_000, c.channel, c.campaign, 'bounced');
        continue;
      }
      const delivered = c.at + 120_000;
      event(customer, delivered, c.channel, c.campaign, 'delivered');
      const opened = delivered + random() * 30 * HOUR;
      if (c.channel !== 'sms' && random() < 0.5) {
        event(customer, opened, c.channel, c.campaign, 'opened');
        if (random() < 0.3) event(customer, opened + HOUR, c.channel, c.campaign, 'opened');
      }
      if (random() < 0.3) event(customer, opened + 10 * 60_000, c.channel, c.campaign, 'clicked');
      if (random() < 0.05) event(customer, opened + 2 * HOUR, c.channel, c.campaign, 'unsubscribed');
      if (c.channel === 'email' && random() < 0.03) event(customer, opened + 3 * HOUR, c.channel, c.campaign, 'complained');
    }
  }
  const orders: Order[] = Array.from({ length: 160 }, (_, i) => {
    const at = start + Math.floor(random() * (end - start));
    const isReturn = random() < 0.08;
    const cents = 500 + Math.floor(random() * 9_000);
    return { id: `o${i}`, customer: customers[Math.floor(random() * customers.length)]!, at, amount: (isReturn ? -cents : cents) / 100, isReturn };
  });
  const costs: Cost[] = [
    ...campaigns.filter((c) => c.campaign).map((c) => ({ date: dayOf(c.at), channel: c.channel, campaign: c.campaign, cents: 100 + Math.floor(random() * 5_000) })),
    { date: '2024-04-21', channel: 'email', campaign: '', cents: 40_000 },
    { date: D2, channel: 'sms', campaign: '', cents: 6_000 },
    { date: D2, channel: 'email', campaign: 'NL-2', cents: 1_234 },
  ];
  const consents = customers.map((id) => ({ id, email: random() < 0.7, sms: random() < 0.35, push: random() < 0.3, signedUp: start - 10 * DAY + Math.floor(random() * (end - start + 10 * DAY)) }));
  // Every fourth customer was referred by the customer three before it, when that one signed up earlier.
  const referrals = consents.map((c, i) => (i % 4 === 3 && consents[i - 3]!.signedUp < c.signedUp ? consents[i - 3]!.id : ''));
  const answers = Array.from({ length: 60 }, (_, i) => ({ id: `r${i}`, customer: customers[i % customers.length]!, at: start + Math.floor(random() * (end - start)), score: Math.floor(random() * 11) }));
  return { events, orders, costs, consents: consents.map((c, i) => ({ ...c, referredBy: referrals[i]! })), answers };
}

const fixture = generate(20240502);

async function writeKind(source: string, kind: string, date: string, content: string) {
  const path = join(source, kind, `dt=${date}`, 'part-00000.csv');
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, content);
}

const eventLine = (e: Event) => `${e.id},${e.customer},${iso(e.at)},${e.id.endsWith('7') ? e.channel.toUpperCase() : e.channel},${e.campaign},${e.type}`;

/** Writes a generated programme as two nights of extracts and runs both; returns the destination. */
async function publish({ events, orders, costs, consents, answers }: ReturnType<typeof generate>): Promise<{ source: string; dest: string }> {
  const source = await tempDir('crm-tables');
  const dest = await tempDir('crm-tables-dest');
  const delivery = (ms: number) => (dayOf(ms) <= D1 ? D1 : D2);
  // Some of the first night's events and orders arrive a night late: a late open can be a
  // customer's first, a late click can take an earlier order over from the message it went to.
  const late = (id: string, every: number) => Number(id.slice(1)) % every === 1;
  const arrival = (ms: number, id: string) => (delivery(ms) === D1 && late(id, 5) ? D2 : delivery(ms));
  for (const date of [D1, D2]) {
    const nightOrders = orders.filter((o) => arrival(o.at, o.id) === date);
    await writeExtract(source, date, 'orders.csv', [CSV_HEADER, ...nightOrders.map((o) => `${o.id},${o.customer},${iso(o.at)},${o.amount.toFixed(2)},1,web,EUR,${o.isReturn}`)].join('\n'));
    // The second night re-delivers a third of the first night's events: duplicates, not new events.
    const nightEvents = events.filter((e) => arrival(e.at, e.id) === date || (date === D2 && Number(e.id.slice(1)) % 3 === 0));
    await writeKind(source, 'crm_events', date, [CRM_HEADERS.crm_events, ...nightEvents.map(eventLine)].join('\n'));
    const nightCosts = costs.filter((c) => (c.date <= D1 ? D1 : D2) === date);
    await writeKind(source, 'customers', date, [CRM_HEADERS.customers, ...consents.filter((c) => delivery(c.signedUp) === date).map((c) => `${c.id},${iso(c.signedUp)},${iso(c.signedUp)},${c.referredBy},web,${c.email},${c.sms},${c.push}`)].join('\n'));
    await writeKind(source, 'surveys', date, [CRM_HEADERS.surveys, ...answers.filter((a) => delivery(a.at) === date).map((a) => `${a.id},${a.customer},${iso(a.at)},${a.score},nps`)].join('\n'));
    await writeKind(source, 'crm_costs', date, [CRM_HEADERS.crm_costs, ...nightCosts.map((c) => `${c.date},${c.channel},${c.campaign},${(c.cents / 100).toFixed(2)},EUR`)].join('\n'));
  }
  await runLocal(D1, source, dest, CONFIG);
  await runLocal(D2, source, dest, CONFIG);
  return { source, dest };
}

let source: string;
let dest: string;
beforeAll(async () => {
  ({ source, dest } = await publish(fixture));
}, 60_000);

/** The independent last-touch attribution: each purchase to the latest click in 7 days before it, else the latest open in 1 day. */
function attribute(events: readonly Event[], orders: readonly Order[]): Map<string, Event> {
  const attributed = new Map<string, Event>();
  for (const order of orders.filter((o) => !o.isReturn)) {
    const latest = (type: string, days: number) =>
      events
        .filter((e) => e.customer === order.customer && e.type === type && e.at < order.at && e.at >= order.at - days * DAY)
        .sort((a, b) => b.at - a.at || (b.id < a.id ? -1 : 1))[0];
    const touch = latest('clicked', 7) ?? latest('opened', 1);
    if (touch) attributed.set(order.id, touch);
  }
  return attributed;
}

const share = (part: number, whole: number) => (whole ? part / whole : null);
const sumCents = (values: readonly number[]) => Math.round(values.reduce((s, v) => s + v * 100, 0)) / 100;

describe('the CRM programme tables, computed here from the generated rows', () => {
  const { events, orders, costs, consents, answers } = fixture;
  const attributed = attribute(events, orders);

  it('campaign_performance: each campaign and channel\'s funnel, attributed orders and costs', async () => {
    const rows = await readTable(dest, campaignPerformance, D2);
    const keys = [...new Set(events.map((e) => `${e.campaign || 'unknown'}|${e.channel}`))].sort();
    expect(rows.map((r) => `${r['campaign_id']}|${r['channel']}`)).toEqual(keys);
    for (const row of rows) {
      const of = events.filter((e) => (e.campaign || 'unknown') === row['campaign_id'] && e.channel === row['channel']);
      const count = (type: string) => of.filter((e) => e.type === type).length;
      const customers = (type: string) => new Set(of.filter((e) => e.type === type).map((e) => e.customer)).size;
      const orderIds = [...attributed].filter(([, e]) => (e.campaign || 'unknown') === row['campaign_id'] && e.channel === row['channel']).map(([id]) => id);
      const revenue = sumCents(orderIds.map((id) => orders.find((o) => o.id === id)!.amount));
      const cost = sumCents(costs.filter((c) => c.campaign === row['campaign_id'] && c.channel === row['channel']).map((c) => c.cents / 100));
      const expected = {
        sent: count('sent'), delivered: count('delivered'), unique_opens: customers('opened'), unique_clicks: customers('clicked'),
        unsubscribes: count('unsubscribed'), bounces: count('bounced'), complaints: count('complained'), attributed_orders: orderIds.length,
      };
      const label = `${row['campaign_id']} ${row['channel']}`;
      expect(Object.fromEntries(Object.keys(expected).map((k) => [k, Number(row[k])])), label).toEqual(expected);
      expect(money(row['attributed_revenue']), label).toBeCloseTo(revenue, 4);
      expect(money(row['cost']), label).toBeCloseTo(cost, 4);
      const rates = {
        open_rate: share(expected.unique_opens, expected.delivered),
        click_through_rate: share(expected.unique_clicks, expected.delivered),
        click_to_open_rate: share(expected.unique_clicks, expected.unique_opens),
        unsubscribe_rate: share(expected.unsubscribes, expected.delivered),
        revenue_per_delivered: share(revenue, expected.delivered),
      };
      for (const [rate, value] of Object.entries(rates)) {
        if (value === null) expect(row[rate], `${label} ${rate}`).toBeNull();
        else expect(row[rate] as number, `${label} ${rate}`).toBeCloseTo(value, 10);
      }
    }
    // Each order is attributed at most once, and some orders are attributed at all.
    expect(rows.reduce((s, r) => s + Number(r['attributed_orders']), 0)).toBe(attributed.size);
    expect(attributed.size).toBeGreaterThan(5);
  });

  it('crm_channel_kpi: the period\'s figures per CRM channel, ALL the sum where it must be, the share of all net revenue', async () => {
    const rows = await readTable(dest, crmChannelKpi, D2);
    const value = (metric: string, channel: string) => rows.find((r) => r['metric'] === metric && r['crm_channel'] === channel)?.['value'];
    const periodStart = Date.parse(`${D2}T00:00:00Z`) - (PERIOD_DAYS - 1) * DAY;
    const inPeriod = (ms: number) => ms >= periodStart && ms < Date.parse(`${D2}T00:00:00Z`) + DAY;
    const netRevenue = sumCents(orders.filter((o) => inPeriod(o.at)).map((o) => o.amount));
    const channels = [...new Set([...events.filter((e) => inPeriod(e.at)).map((e) => e.channel), ...costs.filter((c) => inPeriod(Date.parse(`${c.date}T00:00:00Z`))).map((c) => c.channel),
      // A channel's earlier click may earn an order in the period; the consent channels always have a row.
      ...[...attributed].filter(([id]) => inPeriod(orders.find((o) => o.id === id)!.at)).map(([, e]) => e.channel), 'email', 'sms', 'push'])].sort();
    expect([...new Set(rows.map((r) => r['crm_channel']))].sort()).toEqual(['ALL', ...channels].sort());
    for (const channel of channels) {
      const of = events.filter((e) => e.channel === channel && inPeriod(e.at));
      const count = (type: string) => of.filter((e) => e.type === type).length;
      // A customer's response counts in the period of their first response to the campaign (ever).
      const first = new Map<string, number>();
      for (const e of events.filter((e) => e.channel === channel)) {
        const pair = `${e.type}|${e.campaign}|${e.customer}`;
        first.set(pair, Math.min(first.get(pair) ?? Infinity, e.at));
      }
      const pairs = (type: string) => [...first].filter(([pair, at]) => pair.startsWith(`${type}|`) && inPeriod(at)).length;
      const revenue = sumCents([...attributed].filter(([id, e]) => e.channel === channel && inPeriod(orders.find((o) => o.id === id)!.at)).map(([id]) => orders.find((o) => o.id === id)!.amount));
      const expected: Record<string, number | null> = {
        sent: count('sent'), delivered: count('delivered'), unique_opens: pairs('opened'), unique_clicks: pairs('clicked'), unsubscribes: count('unsubscribed'),
        open_rate: share(pairs('opened'), count('delivered')), click_through_rate: share(pairs('clicked'), count('delivered')),
        unsubscribe_rate: share(count('unsubscribed'), count('delivered')),
        attributed_revenue: revenue, attributed_revenue_share: share(revenue, netRevenue),
        cost: sumCents(costs.filter((c) => c.channel === channel && inPeriod(Date.parse(`${c.date}T00:00:00Z`))).map((c) => c.cents / 100)),
      };
      const consent = { email: 'email', sms: 'sms', push: 'push' }[channel] as 'email' | 'sms' | 'push' | undefined;
      if (consent) expected['consented_customers'] = consents.filter((c) => c[consent]).length;
      else expect(value('consented_customers', channel), channel).toBeUndefined();
      for (const [metric, v] of Object.entries(expected)) {
        if (v === null) expect(value(metric, channel), `${channel} ${metric}`).toBeNull();
        else expect(value(metric, channel) as number, `${channel} ${metric}`).toBeCloseTo(v, 6);
      }
    }
    for (const metric of ['sent', 'delivered', 'unique_opens', 'unique_clicks', 'unsubscribes', 'attributed_orders', 'attributed_revenue', 'cost']) {
      const sum = channels.reduce((s, c) => s + (value(metric, c) as number), 0);
      expect(value(metric, 'ALL') as number, metric).toBeCloseTo(sum, 6);
    }
    expect(value('open_rate', 'ALL') as number).toBeCloseTo((value('unique_opens', 'ALL') as number) / (value('delivered', 'ALL') as number), 10);
    expect(value('consented_customers', 'ALL')).toBe(consents.filter((c) => c.email || c.sms || c.push).length);
    expect(value('attributed_revenue_share', 'ALL') as number).toBeCloseTo((value('attributed_revenue', 'ALL') as number) / netRevenue, 10);
  });

  it("kpi_daily's CRM figures for ALL: sign-ups and answers in the period, consents now, the NPS", async () => {
    const rows = await readTable(dest, kpiDaily, D2);
    const value = (metric: string) => rows.filter((r) => r['metric'] === metric).map((r) => [r['channel'], r['value']]);
    const inPeriod = (ms: number) => dayOf(ms) > '2024-04-30' && dayOf(ms) <= D2;
    const period = answers.filter((a) => inPeriod(a.at));
    const nps = (100 * (period.filter((a) => a.score >= 9).length - period.filter((a) => a.score <= 6).length)) / period.length;
    expect(value('new_signups')).toEqual([['ALL', consents.filter((c) => inPeriod(c.signedUp)).length]]);
    expect(value('consented_customers')).toEqual([['ALL', consents.filter((c) => c.email || c.sms || c.push).length]]);
    expect(value('survey_responses')).toEqual([['ALL', period.length]]);
    expect(value('nps')[0]![1] as number).toBeCloseTo(nps, 10);
    expect(period.length).toBeGreaterThan(3);
  });

  it('referral_value and customer_scores: each referrer\'s referred customers, their revenue and CLV, the influence value', async () => {
    const [rows, scores] = await Promise.all([readTable(dest, referralValue, D2), readTable(dest, customerScores, D2)]);
    const clv = new Map(scores.map((s) => [s['customer_id'], (s['clv'] as number | null) ?? 0]));
    const referrers = [...new Set(consents.map((c) => c.referredBy).filter(Boolean))].sort();
    expect(referrers.length).toBeGreaterThanOrEqual(3);
    expect(rows.map((r) => r['referrer_id'])).toEqual(referrers);
    for (const row of rows) {
      const referred = consents.filter((c) => c.referredBy === row['referrer_id']).map((c) => c.id);
      const revenue = sumCents(orders.filter((o) => referred.includes(o.customer)).map((o) => o.amount));
      const referredClv = referred.reduce((s, id) => s + (clv.get(id) ?? 0), 0);
      expect(Number(row['referred_customers'])).toBe(referred.length);
      expect(money(row['referred_revenue'])).toBeCloseTo(revenue, 4);
      expect(row['referred_clv'] as number).toBeCloseTo(referredClv, 6);
      // clv.margin is 1 by default: the influence is revenue plus CLV.
      expect(row['influence_value'] as number).toBeCloseTo(revenue + referredClv, 6);
    }
    for (const score of scores) {
      const row = rows.find((r) => r['referrer_id'] === score['customer_id']);
      expect([Number(score['referred_customers']), score['influence_value']]).toEqual(row ? [Number(row['referred_customers']), row['influence_value']] : [0, 0]);
    }
    expect(scores.some((s) => Number(s['referred_customers']) > 0)).toBe(true);
  });

  it('Slack: campaigns lists the campaigns by attributed revenue, nps the NPS overall and per segment', async () => {
    const engine = await DuckDbEngine.open();
    try {
      await registerTableViews(engine, dest);
      const ask = async (text: string) =>
        toPlainText(await respond(parseCommand(text), { query: (sql, p) => engine.query(sql, p), display: parseConfig({}).display, reportLink: () => Promise.resolve(''), defaultRunDate: () => D2, run: () => Promise.reject(new Error('no runs here')) }));
      const campaigns = (await readTable(dest, campaignPerformance, D2)).sort((a, b) => money(b['attributed_revenue']) - money(a['attributed_revenue']) || Number(b['delivered']) - Number(a['delivered']));
      const listed = (await ask('campaigns 3')).split('\n').filter((l) => /^(NL|SMS|PUSH|unknown)/.test(l)).map((l) => l.split(/\s+/).slice(0, 2).join(' '));
      expect(listed).toEqual(campaigns.slice(0, 3).map((c) => `${c['campaign_id']} ${c['channel']}`));
      const summary = await readTable(dest, surveySummary, D2);
      const all = summary.find((r) => r['segment'] === 'ALL')!;
      const text = await ask('nps');
      expect(text).toContain(`${(all['nps'] as number).toFixed(1)} (95% CI ${(all['nps_ci_low'] as number).toFixed(1)} to ${(all['nps_ci_high'] as number).toFixed(1)}) from ${Number(all['responses'])} answers`);
      for (const row of summary.filter((r) => r['segment'] !== 'ALL')) expect(text).toContain(`${row['segment']}: `);
    } finally {
      await engine.close();
    }
  });
});

describe('over other generated programmes (properties)', () => {
  it.each([1, 2, 3])('seed %i: each order attributed at most once, and the CRM channels add up to ALL where they must', async (seed) => {
    const programme = generate(seed);
    const { dest: published } = await publish(programme);
    const attributed = attribute(programme.events, programme.orders);
    const campaigns = await readTable(published, campaignPerformance, D2);
    expect(campaigns.reduce((n, r) => n + Number(r['attributed_orders']), 0)).toBe(attributed.size);
    expect(attributed.size).toBeLessThanOrEqual(programme.orders.filter((o) => !o.isReturn).length);
    const kpis = await readTable(published, crmChannelKpi, D2);
    const value = (metric: string, channel: string) => Number(kpis.find((r) => r['metric'] === metric && r['crm_channel'] === channel)?.['value'] ?? 0);
    const channels = [...new Set(kpis.map((r) => String(r['crm_channel'])))].filter((c) => c !== 'ALL');
    for (const metric of ['sent', 'delivered', 'unique_opens', 'unique_clicks', 'unsubscribes', 'attributed_orders', 'attributed_revenue', 'cost']) {
      expect(value(metric, 'ALL'), `${seed} ${metric}`).toBeCloseTo(channels.reduce((n, c) => n + value(metric, c), 0), 6);
    }
    // The days add up to each campaign's figures.
    const daily = await readTable(published, campaignDaily, D2);
    for (const campaign of campaigns) {
      const days = daily.filter((d) => d['campaign_id'] === campaign['campaign_id'] && d['channel'] === campaign['channel']);
      const sum = (figure: string) => days.reduce((n, d) => n + Number(d[figure]), 0);
      expect([sum('sent'), sum('first_opens'), sum('first_clicks'), sum('attributed_orders')]).toEqual(['sent', 'unique_opens', 'unique_clicks', 'attributed_orders'].map((f) => Number(campaign[f])));
    }
    // Consents do not add up (a customer consents to several channels), but no channel exceeds ALL.
    for (const channel of channels) expect(value('consented_customers', channel)).toBeLessThanOrEqual(value('consented_customers', 'ALL'));
  }, 60_000);
});

describe('campaign_daily carried from night to night', () => {
  const partition = (root: string, table: string, date: string) => join(root, table, `dt=${date}`, 'data.parquet');
  const TOTALS = ['campaign_daily', 'campaign_performance', 'crm_channel_kpi'];

  it('the second night adds its events to the first night\'s totals: a tampered partition shows through', async () => {
    const copy = await tempDir('crm-tables-tampered');
    await cp(dest, copy, { recursive: true });
    const engine = await DuckDbEngine.open();
    try {
      const first = partition(copy, 'campaign_daily', D1);
      await engine.run(`COPY (SELECT * REPLACE (sent + 1000 AS sent) FROM read_parquet('${first}')) TO '${first}.tmp' (FORMAT parquet)`);
      await rename(`${first}.tmp`, first);
      await runLocal(D2, source, copy, CONFIG);
      const [tampered, honest] = await Promise.all([readTable(copy, campaignPerformance, D2), readTable(dest, campaignPerformance, D2)]);
      const sent = (rows: Record<string, unknown>[]) => rows.reduce((n, r) => n + Number(r['sent']), 0);
      const firstNightRows = (await readTable(dest, campaignDaily, D1)).length;
      expect(sent(tampered) - sent(honest)).toBe(1000 * firstNightRows);
    } finally {
      await engine.close();
    }
  }, 60_000);

  it('with the history on the remote engine (the orders to credit come from there), the same bytes', async () => {
    const remoteDest = await tempDir('crm-tables-remote');
    const remote = new DuckDbRemote(new LocalObjectStore(remoteDest));
    try {
      for (const date of [D1, D2]) await runLocal(date, source, remoteDest, { ...CONFIG, engine: { history: 'athena' } }, { remote });
    } finally {
      await remote.close();
    }
    for (const date of [D1, D2]) for (const table of TOTALS) expect(await readFile(partition(remoteDest, table, date)), `${table} ${date}`).toEqual(await readFile(partition(dest, table, date)));
  }, 60_000);

  it('without the first night\'s totals (or after a configuration change) the night rebuilds them from the history: the same bytes', async () => {
    const rebuilt = await tempDir('crm-tables-rebuilt');
    await cp(dest, rebuilt, { recursive: true });
    await rm(join(rebuilt, 'campaign_daily', `dt=${D1}`), { recursive: true });
    await runLocal(D2, source, rebuilt, CONFIG);
    for (const table of TOTALS) expect(await readFile(partition(rebuilt, table, D2)), table).toEqual(await readFile(partition(dest, table, D2)));
    // Another attribution window is not added to totals counted with the default one.
    const reconfigured = await tempDir('crm-tables-reconfigured');
    await cp(dest, reconfigured, { recursive: true });
    await runLocal(D2, source, reconfigured, { ...CONFIG, attribution: { click_days: 1 } });
    const fresh = await tempDir('crm-tables-fresh');
    await runLocal(D1, source, fresh, { ...CONFIG, attribution: { click_days: 1 } });
    await runLocal(D2, source, fresh, { ...CONFIG, attribution: { click_days: 1 } });
    expect(await readFile(partition(reconfigured, 'campaign_daily', D2))).toEqual(await readFile(partition(fresh, 'campaign_daily', D2)));
    expect(await readFile(partition(reconfigured, 'campaign_daily', D2))).not.toEqual(await readFile(partition(dest, 'campaign_daily', D2)));
  }, 60_000);
});
