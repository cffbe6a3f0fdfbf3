/**
 * holdout_results' future value: the incremental customer equity (CLV at the window's end,
 * CUPED-adjusted with CLV the day before it) and the incremental value (margin × revenue + CLV),
 * against a computation here from the published per-customer tables (transactions, the
 * assignment, customer_scores of both days, crm_costs) with the textbook formulas; and the return
 * on the programme's cost.
 */
import { cp, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateBusiness } from '../shared/demo/business.js';
import { studentTQuantile } from '../shared/holdout/stats.js';
import { crmCosts, customerScores, holdoutAssignment, holdoutDaily, holdoutResults, transactions } from '../shared/tables/index.js';
import { DuckDbEngine } from '../shared/adapters/duckdb.js';
import { parseConfig } from '../shared/config.js';
import { registerTableViews } from '../shared/local-query.js';
import { respond } from '../shared/slack/answers.js';
import { toPlainText } from '../shared/slack/blocks.js';
import { parseCommand } from '../shared/slack/commands.js';
import { money, readTable, runLocal, tempDir } from './helpers.js';
import { assignGroup } from '../shared/holdout/assign.js';
import { controlExportKey } from '../shared/pipeline.js';

const DATES = ['2024-05-01', '2024-05-02', '2024-05-03'];
const MARGIN = 0.4;
const FIXED_COST = 50;
/** Two channel holdouts of their own shares; the email one's larger share gives its control enough customers. */
const CHANNELS = { email: { salt: 'email-holdout-1', control_share: 0.2 }, sms: { salt: 'sms-holdout-1', control_share: 0.1 } };
const CONFIG = { holdout: { started_at: '2024-04-01', window_days: 2, min_group_size: 5, min_buyers: 0, channels: CHANNELS }, clv: { margin: MARGIN }, roi: { fixed_cost_per_day: FIXED_COST } };

type Row = Record<string, unknown>;
/** A DATE as read back (hyparquet gives a Date) as YYYY-MM-DD. */
const day = (v: unknown) => (v instanceof Date ? v.toISOString().slice(0, 10) : String(v));
let source: string;
let dest: string;
beforeAll(async () => {
  source = await tempDir('holdout-value-src');
  dest = await tempDir('holdout-value-dest');
  await generateBusiness({ dir: source, customers: 1500, seed: 99, historyFrom: '2023-05-01', initialLoad: DATES[0]!, to: DATES.at(-1)!, programmeStart: '2024-04-01', channelHoldouts: false });
  for (const date of DATES) await runLocal(date, source, dest, CONFIG);
}, 120_000);

const mean = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const cov = (xs: readonly number[], ys: readonly number[]) => {
  const [mx, my] = [mean(xs), mean(ys)];
  return xs.reduce((s, x, i) => s + (x - mx) * (ys[i]! - my), 0) / (xs.length - 1);
};

/**
 * Welch's estimate n_T · (ȳ_T − ȳ_C) with its 95 % CI, on per-customer values; and the confidence
 * sequence of Waudby-Smith et al. (2023, eq. 9; ρ by eq. 161 for N* = 5,000) over both groups' n.
 */
function welchIncremental(treated: readonly number[], control: readonly number[]) {
  const [vT, vC] = [cov(treated, treated) / treated.length, cov(control, control) / control.length];
  const df = (vT + vC) ** 2 / (vT ** 2 / (treated.length - 1) + vC ** 2 / (control.length - 1));
  const delta = mean(treated) - mean(control);
  const half = studentTQuantile(0.975, df) * Math.sqrt(vT + vC);
  const n = treated.length + control.length;
  const rho2 = (-2 * Math.log(0.05) + Math.log(-2 * Math.log(0.05) + 1)) / 5000;
  const seqHalf = Math.sqrt((vT + vC) * n * ((2 * (n * rho2 + 1)) / (n * n * rho2)) * Math.log(Math.sqrt(n * rho2 + 1) / 0.05));
  const scaled = (d: number) => d * treated.length;
  return { estimate: scaled(delta), low: scaled(delta - half), high: scaled(delta + half), seqLow: scaled(delta - seqHalf), seqHigh: scaled(delta + seqHalf) };
}

describe('holdout_results: incremental equity and value, computed here from the published customers', () => {
  it('the last-2-days window of the third night, ALL and per segment', async () => {
    const [date, start, dayBefore] = [DATES[2]!, DATES[1]!, DATES[0]!];
    const orders = (await Promise.all(DATES.map((d) => readTable(dest, transactions, d)))).flat();
    const revenue = new Map<string, number>();
    for (const o of orders) if (day(o['order_date']) >= start && day(o['order_date']) <= date) revenue.set(String(o['customer_id']), (revenue.get(String(o['customer_id'])) ?? 0) + money(o['amount']));
    const clvOn = async (day: string) => new Map((await readTable(dest, customerScores, day)).map((r: Row) => [String(r['customer_id']), r] as const));
    const [end, before] = [await clvOn(date), await clvOn(dayBefore)];
    const assigned = (await readTable(dest, holdoutAssignment, date)).filter((a: Row) => day(a['assigned_at']) <= date);
    const results = await readTable(dest, holdoutResults, date);
    const checked = [];
    for (const row of results.filter((r: Row) => r['holdout'] === 'global' && r['window'] === 'last_2_days' && r['incremental_value'] !== null)) {
      const segment = String(row['segment']);
      const members = assigned.filter((a: Row) => segment === 'ALL' || String(before.get(String(a['customer_id']))?.['segment'] ?? 'unknown') === segment);
      const x = (a: Row) => Number(before.get(String(a['customer_id']))?.['clv'] ?? 0);
      const y = (a: Row) => Number(end.get(String(a['customer_id']))?.['clv'] ?? 0);
      const value = (a: Row) => MARGIN * (revenue.get(String(a['customer_id'])) ?? 0) + y(a);
      // CUPED: θ = Cov(X, Y) / Var(X) over both groups; every customer's CLV less θ (X − X̄).
      const theta = cov(members.map(x), members.map(y)) / cov(members.map(x), members.map(x));
      const xBar = mean(members.map(x));
      const adjusted = (f: (a: Row) => number) => (group: string) => members.filter((a: Row) => a['holdout_group'] === group).map((a) => f(a) - theta * (x(a) - xBar));
      const equity = welchIncremental(adjusted(y)('treatment'), adjusted(y)('control'));
      const total = welchIncremental(adjusted(value)('treatment'), adjusted(value)('control'));
      const label = `segment ${segment}`;
      expect(Number(row['incremental_equity']), label).toBeCloseTo(equity.estimate, 4);
      expect(Number(row['equity_ci_low']), label).toBeCloseTo(equity.low, 4);
      expect(Number(row['equity_ci_high']), label).toBeCloseTo(equity.high, 4);
      expect(Number(row['incremental_value']), label).toBeCloseTo(total.estimate, 4);
      expect(Number(row['value_ci_low']), label).toBeCloseTo(total.low, 4);
      expect(Number(row['value_ci_high']), label).toBeCloseTo(total.high, 4);
      expect(Number(row['value_seq_ci_low']), label).toBeCloseTo(total.seqLow, 4);
      expect(Number(row['value_seq_ci_high']), label).toBeCloseTo(total.seqHigh, 4);
      // The value is the sum of its parts: margin × incremental revenue + incremental equity.
      expect(Number(row['incremental_value']), label).toBeCloseTo(MARGIN * Number(row['incremental_revenue']) + Number(row['incremental_equity']), 6);
      checked.push(segment);
    }
    expect(checked).toContain('ALL');

    // The programme's cost in the two days: the CRM platform's costs and the fixed cost per day; ROI on ALL only.
    const costs = (await Promise.all(DATES.map((d) => readTable(dest, crmCosts, d)))).flat().filter((c: Row) => day(c['cost_date']) >= start && day(c['cost_date']) <= date);
    expect(costs.length).toBeGreaterThan(0);
    const cost = costs.reduce((n, c) => n + money(c['amount']), 0) + 2 * FIXED_COST;
    const all = results.find((r: Row) => r['holdout'] === 'global' && r['window'] === 'last_2_days' && r['segment'] === 'ALL')!;
    expect(Number(all['cost'])).toBeCloseTo(cost, 4);
    expect(Number(all['roi'])).toBeCloseTo((Number(all['incremental_value']) - cost) / cost, 10);
    expect(Number(all['roi_ci_low'])).toBeCloseTo((Number(all['value_ci_low']) - cost) / cost, 10);
    expect(Number(all['roi_ci_high'])).toBeCloseTo((Number(all['value_ci_high']) - cost) / cost, 10);
    expect(Number(all['roi_seq_ci_low'])).toBeCloseTo((Number(all['value_seq_ci_low']) - cost) / cost, 10);
    expect(Number(all['roi_seq_ci_high'])).toBeCloseTo((Number(all['value_seq_ci_high']) - cost) / cost, 10);
    for (const r of results.filter((r: Row) => r['segment'] !== 'ALL')) expect([r['cost'], r['roi']]).toEqual([null, null]);
    // Per channel: the treated held out of the channel against the other treated, and the channel's own costs (no fixed cost).
    const treated = assigned.filter((a: Row) => a['holdout_group'] === 'treatment');
    const revenueOf = (a: Row) => revenue.get(String(a['customer_id'])) ?? 0;
    const costed = [];
    for (const name of Object.keys(CHANNELS)) {
      const row = results.find((r: Row) => r['holdout'] === name && r['window'] === 'last_2_days' && r['segment'] === 'ALL')!;
      const heldOut = (a: Row) => String(a['channel_controls'] ?? '').split(',').includes(name);
      const channel = welchIncremental(treated.filter((a) => !heldOut(a)).map(revenueOf), treated.filter(heldOut).map(revenueOf));
      expect([row['n_treatment'], row['n_control']].map(Number), name).toEqual([treated.filter((a) => !heldOut(a)).length, treated.filter(heldOut).length]);
      expect(Number(row['incremental_revenue']), name).toBeCloseTo(channel.estimate, 6);
      expect(Number(row['ci_low']), name).toBeCloseTo(channel.low, 6);
      expect(Number(row['ci_high']), name).toBeCloseTo(channel.high, 6);
      const channelCost = costs.filter((c: Row) => c['channel'] === name).reduce((n, c) => n + money(c['amount']), 0);
      expect(Number(row['cost']), name).toBeCloseTo(channelCost, 4);
      if (channelCost > 0) costed.push(name);
      // Without a cost of its own in the window (email's trigger mails round to 0 cents), no ROI rather than ∞.
      if (channelCost > 0) expect(Number(row['roi']), name).toBeCloseTo((Number(row['incremental_value']) - channelCost) / channelCost, 10);
      else expect(row['roi'], name).toBeNull();
      // Its sample-ratio check is against its own share of the treated, not the global 5 %.
      expect(Number(row['srm_p_value']), name).toBeGreaterThan(0.001);
    }
    expect(costed).toContain('sms');

    // Slack's roi states it in words, from the table: the return per unit of cost and its interval.
    const engine = await DuckDbEngine.open();
    try {
      await registerTableViews(engine, dest);
      const display = parseConfig({}).display;
      const answer = toPlainText(await respond(parseCommand('roi'), { query: (sql, p) => engine.query(sql, p), display, reportLink: () => Promise.resolve(''), defaultRunDate: () => date, run: () => Promise.reject(new Error('no runs here')) }));
      const text = answer.replace(/\u00a0/g, ' ');
      const eur = (v: unknown) => `${Number(v) < 0 ? '-' : ''}EUR ${Math.abs(Number(v)).toFixed(2)}`;
      expect(text).toContain(`last 2 days: CRM returned ${eur(all['roi'])} per EUR 1 of cost, net of it (95% CI ${eur(all['roi_ci_low'])} to ${eur(all['roi_ci_high'])})`);
      // Since the start, read every night, the sentence states the anytime-valid interval.
      const sinceStart = results.find((r: Row) => r['holdout'] === 'global' && r['window'] === 'since_start' && r['segment'] === 'ALL')!;
      expect(text).toContain(`since start: CRM returned ${eur(sinceStart['roi'])} per EUR 1 of cost, net of it (95% CI ${eur(sinceStart['roi_seq_ci_low'])} to ${eur(sinceStart['roi_seq_ci_high'])})`);
      expect(text).toMatch(/\nsms, last 2 days: CRM returned/);
      // Email has no cost of its own in the two days: said so, without the programme's fixed cost.
      expect(text).toContain('email, last 2 days: ROI not available: no email cost in the window (crm_costs).');
    } finally {
      await engine.close();
    }
    expect(checked.length).toBeGreaterThan(2);
  });
});

describe('channel holdouts: the assignment and the exports', () => {
  it("channel_controls is each channel's own hash, of every global group and segment; control-<channel>.csv lists the treated held out of it", async () => {
    const date = DATES[2]!;
    const assigned = await readTable(dest, holdoutAssignment, date);
    const segments = new Map((await readTable(dest, customerScores, date)).map((r: Row) => [String(r['customer_id']), String(r['segment'])] as const));
    for (const [name, channel] of Object.entries(CHANNELS)) {
      const heldOut = (a: Row) => String(a['channel_controls'] ?? '').split(',').includes(name);
      for (const a of assigned) expect(heldOut(a)).toBe(assignGroup(String(a['customer_id']), { salt: channel.salt, controlShare: channel.control_share, hashVersion: 2 }) === 'control');
      // Every global group and segment holds its share out of the channel (within 4 standard errors).
      const cells = new Map<string, Row[]>();
      for (const a of assigned) {
        const cell = `${String(a['holdout_group'])} / ${segments.get(String(a['customer_id'])) ?? 'unscored'}`;
        cells.set(cell, [...(cells.get(cell) ?? []), a]);
      }
      for (const [cell, members] of cells) {
        if (members.length < 30) continue;
        const share = members.filter(heldOut).length / members.length;
        expect(Math.abs(share - channel.control_share), `${name}: ${cell}`).toBeLessThan(4 * Math.sqrt((channel.control_share * (1 - channel.control_share)) / members.length));
      }
      const exported = (await readFile(join(dest, controlExportKey(date, name)), 'utf8')).trim().split('\n');
      expect(exported[0]).toBe('customer_id');
      const expected = assigned.filter((a: Row) => a['holdout_group'] === 'treatment' && heldOut(a)).map((a: Row) => String(a['customer_id'])).sort();
      expect(expected.length).toBeGreaterThan(20);
      expect(exported.slice(1)).toEqual(expected);
    }
    // The global list is still the control group alone.
    const control = (await readFile(join(dest, controlExportKey(date)), 'utf8')).trim().split('\n').slice(1);
    expect(control).toEqual(assigned.filter((a: Row) => a['holdout_group'] === 'control').map((a: Row) => String(a['customer_id'])).sort());
  });

  it('a night carries the groups of the one before (only new customers hashed); without it, it hashes everyone to the same bytes', async () => {
    const [previous, date] = [DATES[1]!, DATES[2]!];
    const file = (root: string, day: string) => join(root, 'holdout_assignment', `dt=${day}`, 'data.parquet');
    const copy = await tempDir('assignment-carried');
    await cp(dest, copy, { recursive: true });
    // Tampered: the previous night's first treated customer in the email control; it shows tonight.
    const engine = await DuckDbEngine.open();
    let tampered: string;
    try {
      const [row] = await engine.query<{ customer_id: string }>(`SELECT customer_id FROM read_parquet('${file(copy, previous)}') WHERE holdout_group = 'treatment' AND channel_controls IS NULL ORDER BY customer_id LIMIT 1`);
      tampered = row!.customer_id;
      await engine.run(`COPY (SELECT * REPLACE (CASE WHEN customer_id = '${tampered}' THEN 'email' ELSE channel_controls END AS channel_controls) FROM read_parquet('${file(copy, previous)}')) TO '${file(copy, previous)}.new' (FORMAT parquet)`);
    } finally {
      await engine.close();
    }
    await rename(`${file(copy, previous)}.new`, file(copy, previous));
    await runLocal(date, source, copy, CONFIG);
    const carried = (await readTable(copy, holdoutAssignment, date)).find((a: Row) => a['customer_id'] === tampered)!;
    expect(carried['channel_controls']).toBe('email');
    // A changed configuration hashes everyone: the tampering is gone, a new channel's control is among the old customers.
    const wider = { ...CONFIG, holdout: { ...CONFIG.holdout, channels: { ...CHANNELS, push: { salt: 'push-holdout-1', control_share: 0.5 } } } };
    await runLocal(date, source, copy, wider);
    const rehashed = await readTable(copy, holdoutAssignment, date);
    expect(String(rehashed.find((a: Row) => a['customer_id'] === tampered)!['channel_controls'] ?? '')).not.toContain('email');
    expect(rehashed.filter((a: Row) => String(a['channel_controls'] ?? '').includes('push')).length).toBeGreaterThan(500);
    // Without the previous nights, every customer is hashed again: the published bytes.
    for (const day of DATES.slice(0, 2)) await rm(join(copy, 'holdout_assignment', `dt=${day}`), { recursive: true });
    await runLocal(date, source, copy, CONFIG);
    expect(await readFile(file(copy, date))).toEqual(await readFile(file(dest, date)));
  }, 60_000);

  it('a channel salt equal to another holdout\'s is refused: it would hold out the global control again', () => {
    expect(() => parseConfig({ holdout: { salt: 'x', channels: { email: { salt: 'x' } } } })).toThrow(/holdout\.channels\.email\.salt: already the salt of another holdout/);
    expect(() => parseConfig({ holdout: { channels: { email: { salt: 'y' }, sms: { salt: 'y' } } } })).toThrow(/holdout\.channels\.sms\.salt/);
    expect(() => parseConfig({ holdout: { channels: { Email: { salt: 'y' } } } })).toThrow(/holdout\.channels\.Email: not a channel as crm_events names it/);
    expect(parseConfig({ holdout: { channels: { email: { salt: 'y' } } } }).holdout.channels['email']).toEqual({ salt: 'y', control_share: 0.05 });
  });
});

describe('holdout_daily: the track record', () => {
  const FIGURES = ['n_treatment', 'n_control', 'incremental_revenue', 'ci_low', 'ci_high', 'seq_ci_low', 'seq_ci_high', 'seq_p_value', 'incremental_value', 'value_ci_low', 'value_ci_high', 'verdict'];
  const partition = (root: string, date: string) => join(root, 'holdout_daily', `dt=${date}`, 'data.parquet');

  it('one row per night: the since_start row for all customers as each night published it', async () => {
    const daily = await readTable(dest, holdoutDaily, DATES[2]!);
    expect(daily.map((r: Row) => day(r['night']))).toEqual(DATES);
    for (const [i, date] of DATES.entries()) {
      const published = (await readTable(dest, holdoutResults, date)).find((r: Row) => r['holdout'] === 'global' && r['window'] === 'since_start' && r['segment'] === 'ALL')!;
      for (const figure of FIGURES) expect(daily[i]![figure], `${date} ${figure}`).toEqual(published[figure]);
    }
  });

  it('without the previous nights\' rows, a night finds them in their holdout_results: the same bytes', async () => {
    const rebuilt = await tempDir('holdout-daily-rebuilt');
    await cp(dest, rebuilt, { recursive: true });
    for (const date of DATES.slice(0, 2)) await rm(join(rebuilt, 'holdout_daily', `dt=${date}`), { recursive: true });
    await runLocal(DATES[2]!, source, rebuilt, CONFIG);
    expect(await readFile(partition(rebuilt, DATES[2]!))).toEqual(await readFile(partition(dest, DATES[2]!)));
    // A night published before the anytime-valid interval existed has it as NULL.
    await rm(join(rebuilt, 'holdout_daily', `dt=${DATES[2]!}`), { recursive: true });
    const first = join(rebuilt, 'holdout_results', `dt=${DATES[0]!}`, 'data.parquet');
    const engine = await DuckDbEngine.open();
    try {
      // … and, from before the channel holdouts, no holdout column (its rows are the global holdout's).
      await engine.run(`COPY (SELECT * EXCLUDE (holdout, seq_ci_low, seq_ci_high, seq_p_value) FROM read_parquet('${first}') WHERE holdout = 'global') TO '${first}.old' (FORMAT parquet)`);
    } finally {
      await engine.close();
    }
    await rename(`${first}.old`, first);
    await runLocal(DATES[2]!, source, rebuilt, CONFIG);
    const [old, ...later] = await readTable(rebuilt, holdoutDaily, DATES[2]!);
    const daily = await readTable(dest, holdoutDaily, DATES[2]!);
    expect([old!['seq_ci_low'], old!['seq_p_value']]).toEqual([null, null]);
    expect(old!['incremental_revenue']).toBe(daily[0]!['incremental_revenue']);
    expect(later.every((r) => typeof r['seq_ci_low'] === 'number')).toBe(true);
  }, 60_000);
});
