/**
 * The CRM platform's extracts through a night: each kind's curated table, its rejects (with their
 * source) and its line in source_manifest, read back from the published files; a night without
 * them says so with zeros, and a re-delivered row is a duplicate the next night.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DuckDbEngine } from '../shared/adapters/duckdb.js';
import { parseConfig } from '../shared/config.js';
import { registerTableViews } from '../shared/local-query.js';
import { respond } from '../shared/slack/answers.js';
import { toPlainText } from '../shared/slack/blocks.js';
import { parseCommand } from '../shared/slack/commands.js';
import { assignGroup } from '../shared/holdout/assign.js';
import { crmCosts, crmEvents, customerProfiles, customers, customerScores, holdoutLeaks, rejects, sourceManifest, surveyResponses, surveySummary } from '../shared/tables/index.js';
import { CRM_HEADERS } from '../shared/demo/crm-programme.js';
import { CSV_HEADER, readTable, runLocal, tempDir, writeExtract } from './helpers.js';

const D1 = '2024-05-01';
const D2 = '2024-05-02';

async function writeKind(source: string, kind: string, date: string, name: string, content: string) {
  const path = join(source, kind, `dt=${date}`, name);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, content);
}

async function night(source: string, date: string, orders: number) {
  const rows = Array.from({ length: orders }, (_, i) => `${date}-o${i},c${i % 5},${date}T10:00:00,${10 + i}.00,1,web,EUR,false`);
  await writeExtract(source, date, 'orders.csv', [CSV_HEADER, ...rows].join('\n'));
}

const manifestOf = async (dest: string, date: string) =>
  Object.fromEntries(
    (await readTable(dest, sourceManifest, date)).map((r) => [
      r['source'],
      [r['files_read'], r['rows_read'], r['rows_accepted'], r['rows_rejected'], r['rows_duplicate']].map(Number),
    ]),
  );

describe('the CRM sources in a night', () => {
  it('a night without them publishes empty curated partitions and zeros in source_manifest', async () => {
    const source = await tempDir('crm-none');
    const dest = await tempDir('crm-none-dest');
    await night(source, D1, 12);
    await runLocal(D1, source, dest);
    expect(await manifestOf(dest, D1)).toEqual({
      transactions: [1, 12, 12, 0, 0],
      customers: [0, 0, 0, 0, 0],
      crm_events: [0, 0, 0, 0, 0],
      surveys: [0, 0, 0, 0, 0],
      crm_costs: [0, 0, 0, 0, 0],
    });
    for (const table of [customerProfiles, crmEvents, surveyResponses, crmCosts]) expect(await readTable(dest, table, D1), table.name).toEqual([]);
  });

  it('each kind lands in its table, its bad rows in rejects with their source, every row accounted for; repeats next night are duplicates', async () => {
    const source = await tempDir('crm-src');
    const dest = await tempDir('crm-dest');
    await night(source, D1, 10);
    await writeKind(source, 'customers', D1, 'profiles.csv', [
      CRM_HEADERS.customers,
      'c0,2024-04-01T08:00:00,2024-04-01T08:00:00,,Store,true,false,false',
      'c1,2024-04-02T08:00:00,2024-04-02T08:00:00,c0,referral,true,true,false',
      ',2024-04-02T08:00:00,,,,true,true,true',
    ].join('\n'));
    await writeKind(source, 'crm_events', D1, 'events.jsonl', [
      JSON.stringify({ event_id: 'e1', customer_id: 'c1', occurred_at: '2024-04-30T09:00:00', channel: 'Email', campaign_id: 'NL', event_type: 'sent' }),
      JSON.stringify({ event_id: 'e2', customer_id: 'c1', occurred_at: '2024-04-30T09:05:00', channel: 'email', campaign_id: 'NL', event_type: 'clicked' }),
      JSON.stringify({ event_id: 'e3', customer_id: 'c1', occurred_at: '2024-04-30T09:05:00', channel: 'email', campaign_id: 'NL', event_type: 'liked' }),
    ].join('\n'));
    await writeKind(source, 'surveys', D1, 'nps.csv', `${CRM_HEADERS.surveys}\nr1,c0,2024-04-30,9,nps\nr2,c1,2024-04-30,12,nps\n`);
    await writeKind(source, 'crm_costs', D1, 'costs.csv', `${CRM_HEADERS.crm_costs}\n2024-04-30,email,NL,0.50,EUR\n2024-04-30,email,NL,0.50,EUR\n`);
    await runLocal(D1, source, dest);

    expect(await manifestOf(dest, D1)).toEqual({
      transactions: [1, 10, 10, 0, 0],
      customers: [1, 3, 2, 1, 0],
      crm_events: [1, 3, 2, 1, 0],
      surveys: [1, 2, 1, 1, 0],
      crm_costs: [1, 2, 2, 0, 0],
    });
    const rejected = (await readTable(dest, rejects, D1)).map((r) => [r['source'], r['reason']]);
    expect(rejected).toEqual([
      ['crm_events', 'unknown event_type: "liked"'],
      ['customers', 'missing customer_id'],
      ['surveys', 'score is outside 0–10: "12"'],
    ]);
    const profiles = await readTable(dest, customerProfiles, D1);
    expect(profiles.map((p) => [p['customer_id'], p['referred_by'], p['acquisition_channel'], p['email_consent']])).toEqual([
      ['c0', null, 'store', true],
      ['c1', 'c0', 'referral', true],
    ]);
    expect((await readTable(dest, crmEvents, D1)).map((e) => [e['event_id'], e['channel'], e['event_type']])).toEqual([
      ['e1', 'email', 'sent'],
      ['e2', 'email', 'clicked'],
    ]);
    expect((await readTable(dest, surveyResponses, D1)).map((r) => [r['response_id'], r['score']])).toEqual([['r1', 9]]);
    expect(await readTable(dest, crmCosts, D1)).toHaveLength(2);

    // The next night: the CRM platform sends the same events again, and one new one.
    await night(source, D2, 3);
    await writeKind(source, 'crm_events', D2, 'events.csv', `${CRM_HEADERS.crm_events}\ne1,c1,2024-04-30T09:00:00,email,NL,sent\ne4,c2,2024-05-02T09:00:00,sms,SMS,delivered\n`);
    // … and c1's profile changes: it withdraws its email consent.
    await writeKind(source, 'customers', D2, 'profiles.csv', [
      CRM_HEADERS.customers,
      'c1,2024-05-02T07:00:00,2024-04-02T08:00:00,c0,referral,false,true,false',
    ].join('\n'));
    await runLocal(D2, source, dest);
    expect((await manifestOf(dest, D2))['crm_events']).toEqual([1, 2, 1, 0, 1]);
    expect((await readTable(dest, crmEvents, D2)).map((e) => e['event_id'])).toEqual(['e4']);
    // The current profiles: c0 as delivered on the first night, c1's latest version.
    expect((await readTable(dest, customers, D2)).map((c) => [c['customer_id'], c['email_consent']])).toEqual([
      ['c0', true],
      ['c1', false],
    ]);
    expect((await readTable(dest, customers, D1)).map((c) => [c['customer_id'], c['email_consent']])).toEqual([
      ['c0', true],
      ['c1', true],
    ]);
  });

  it("survey_summary: each segment's NPS and interval over the period's answers, as computed here from the published scores", async () => {
    const source = await tempDir('crm-nps');
    const dest = await tempDir('crm-nps-dest');
    // Twelve customers with 1 to 12 orders spread over a year, so that they fall into several segments.
    const orders: string[] = [];
    for (let c = 0; c < 12; c++) {
      for (let k = 0; k <= c; k++) orders.push(`o${c}-${k},c${c},2024-${String(1 + ((k * 5 + c) % 4)).padStart(2, '0')}-1${c % 10}T10:00:00,${20 + c}.00,1,web,EUR,false`);
    }
    await writeExtract(source, D1, 'orders.csv', [CSV_HEADER, ...orders].join('\n'));
    const answers: [string, string, number][] = [];
    for (let c = 0; c < 12; c++) for (let k = 0; k < 3; k++) answers.push([`c${c}`, `2024-04-${String(10 + k).padStart(2, '0')}`, (c * 7 + k * 3) % 11]);
    answers.push(['stranger', '2024-04-20', 10], ['c1', '2024-03-01', 0]); // not scored; outside the 30-day period
    await writeKind(source, 'surveys', D1, 'nps.csv', [CRM_HEADERS.surveys, ...answers.map(([c, at, score], i) => `r${i},${c},${at},${score},nps`)].join('\n'));
    await runLocal(D1, source, dest);

    const segmentOf = new Map((await readTable(dest, customerScores, D1)).map((r) => [r['customer_id'] as string, r['segment'] as string]));
    expect(new Set(segmentOf.values()).size).toBeGreaterThan(1);
    const inPeriod = answers.filter(([, at]) => at >= '2024-04-02');
    const groups = new Map<string, number[]>([['ALL', inPeriod.map(([, , s]) => s)]]);
    for (const [c, , score] of inPeriod) {
      const segment = segmentOf.get(c) ?? 'unknown';
      groups.set(segment, [...(groups.get(segment) ?? []), score]);
    }
    const rows = await readTable(dest, surveySummary, D1);
    expect(rows.map((r) => r['segment']).sort()).toEqual([...groups.keys()].sort());
    for (const row of rows) {
      const scores = groups.get(row['segment'] as string)!;
      const n = scores.length;
      const p = scores.filter((s) => s >= 9).length / n;
      const d = scores.filter((s) => s <= 6).length / n;
      const half = 1.959963984540054 * 100 * Math.sqrt((p + d - (p - d) ** 2) / n);
      expect(Number(row['responses'])).toBe(n);
      expect(row['nps'] as number).toBeCloseTo(100 * (p - d), 9);
      expect(row['nps_ci_low'] as number).toBeCloseTo(100 * (p - d) - half, 9);
      expect(row['nps_ci_high'] as number).toBeCloseTo(100 * (p - d) + half, 9);
      expect((row['period_start'] as Date).toISOString().slice(0, 10)).toBe('2024-04-02');
    }
  });

  it('holdout_leaks: the control customers sent a message after joining the experiment, a channel holdout\'s sent on that channel, and nobody else', async () => {
    const holdout = parseConfig({}).holdout;
    const groupOf = (id: string) => assignGroup(id, { salt: holdout.salt, controlShare: holdout.control_share, hashVersion: holdout.hash_version });
    const ids = Array.from({ length: 400 }, (_, i) => `k${i}`);
    // An SMS holdout of half the treated: its control customers must not be sent SMS, anything else they may.
    const sms = { salt: 'sms-leaks', control_share: 0.5 };
    const heldFromSms = (id: string) => assignGroup(id, { salt: sms.salt, controlShare: sms.control_share, hashVersion: holdout.hash_version }) === 'control';
    const [control, other] = [ids.filter((id) => groupOf(id) === 'control'), ids.find((id) => groupOf(id) === 'treatment' && !heldFromSms(id))!];
    const noSms = ids.find((id) => groupOf(id) === 'treatment' && heldFromSms(id))!;
    expect(control.length).toBeGreaterThan(2);
    const source = await tempDir('crm-leaks');
    const dest = await tempDir('crm-leaks-dest');
    const customersWithOrders = [control[0]!, control[1]!, other, noSms];
    await writeExtract(source, D1, 'orders.csv', [CSV_HEADER, ...customersWithOrders.map((id, i) => `o${i},${id},2024-04-10T10:00:00,10.00,1,web,EUR,false`)].join('\n'));
    const sent = (id: string, i: number, at: string, channel: string, campaign: string) => `e${i},${id},${at},${channel},${campaign},sent`;
    await writeKind(source, 'crm_events', D1, 'events.csv', [
      CRM_HEADERS.crm_events,
      sent(control[0]!, 1, '2024-04-20T09:00:00', 'email', 'NL-1'),
      sent(control[0]!, 2, '2024-04-27T09:00:00', 'sms', 'SMS-1'),
      sent(control[0]!, 3, '2024-04-28T09:00:00', 'email', 'NL-1'),
      sent(control[1]!, 4, '2024-04-01T09:00:00', 'email', 'NL-0'), // before its first order: not in the experiment yet
      sent(other, 5, '2024-04-20T09:00:00', 'email', 'NL-1'), // treated: meant to receive it
      sent(control[2]!, 6, '2024-04-20T09:00:00', 'email', 'NL-1'), // no order: not in the experiment
      `e7,${control[1]!},2024-04-20T09:05:00,email,NL-1,opened`, // not a send
      sent(other, 8, '2024-04-27T09:00:00', 'sms', 'SMS-1'), // not held out of SMS
      sent(noSms, 9, '2024-04-20T09:00:00', 'email', 'NL-1'), // held out of SMS only
      sent(noSms, 10, '2024-04-27T09:00:00', 'sms', 'SMS-1'), // … and sent one: a leak of the SMS holdout
    ].join('\n'));
    await runLocal(D1, source, dest, { holdout: { channels: { sms } } });
    const leaks = await readTable(dest, holdoutLeaks, D1);
    expect(leaks.map((l) => [l['holdout'], l['customer_id'], Number(l['sends']), Number(l['campaigns']), l['channels']])).toEqual([
      ['global', control[0], 3, 2, 'email,sms'],
      ['sms', noSms, 1, 1, 'sms'],
    ]);
    expect((leaks[0]!['first_sent_at'] as Date).toISOString()).toBe('2024-04-20T09:00:00.000Z');

    // Slack's holdout answer says so.
    const engine = await DuckDbEngine.open();
    try {
      await registerTableViews(engine, dest);
      const answer = await respond(parseCommand('holdout'), {
        query: (sql, parameters) => engine.query(sql, parameters),
        display: parseConfig({}).display,
        reportLink: async () => 'report',
        defaultRunDate: () => D1,
        run: () => Promise.reject(new Error('not here')),
      });
      expect(toPlainText(answer)).toContain('1 control customer was sent CRM messages anyway (`holdout_leaks`)');
    } finally {
      await engine.close();
    }
  });

  it('profiles whose referral cannot count are rejected with the reason: self, unknown referrer, a cycle, also one closed on a later night', async () => {
    const source = await tempDir('crm-ref');
    const dest = await tempDir('crm-ref-dest');
    const profile = (id: string, at: string, by = '') => `${id},${at},2024-04-01T00:00:00,${by},web,true,false,false`;
    await night(source, D1, 5);
    await writeKind(source, 'customers', D1, 'p.csv', [CRM_HEADERS.customers, profile('c0', '2024-04-01T00:00:00'), profile('c1', '2024-04-01T00:00:00', 'c0'),
      profile('c2', '2024-04-01T00:00:00', 'c2'), profile('c3', '2024-04-01T00:00:00', 'ghost'), profile('c4', '2024-04-01T00:00:00', 'c5'), profile('c5', '2024-04-01T00:00:00', 'c4')].join('\n'));
    await runLocal(D1, source, dest);
    const reasons = async (date: string) => (await readTable(dest, rejects, date)).filter((r) => r['source'] === 'customers').map((r) => String(r['reason']));
    expect(await reasons(D1)).toEqual([
      'referred_by is the customer itself',
      'referred_by names no customer: "ghost"',
      'referral cycle: c4 ← c5 ← c4',
      'referral cycle: c5 ← c4 ← c5',
    ]);
    expect((await readTable(dest, customerProfiles, D1)).map((p) => p['customer_id'])).toEqual(['c0', 'c1']);
    expect((await manifestOf(dest, D1))['customers']).toEqual([1, 6, 2, 4, 0]);
    // The next night c0 says c1 referred it: with c1 referred by c0, that closes a cycle. Its old profile stays current.
    await night(source, D2, 2);
    await writeKind(source, 'customers', D2, 'p.csv', [CRM_HEADERS.customers, profile('c0', '2024-05-02T00:00:00', 'c1')].join('\n'));
    await runLocal(D2, source, dest);
    expect(await reasons(D2)).toEqual(['referral cycle: c0 ← c1 ← c0']);
    expect((await readTable(dest, customers, D2)).map((c) => [c['customer_id'], c['referred_by']])).toEqual([
      ['c0', null],
      ['c1', 'c0'],
    ]);
  });
});
