/**
 * The `/crm` command end to end on results the pipeline produced from generated demo data: every
 * command's answer checked against the tables read back independently (hyparquet), injection
 * attempts, the acknowledgement path, and the worker posting to a response_url served here.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { TrinoSQL } from 'dt-sql-parser';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { customerScores, holdoutAssignment, holdoutResults, runManifest } from '../shared/tables/index.js';
import { parseConfig } from '../shared/config.js';
import { generateExtracts } from '../shared/demo/generate.js';
import { DuckDbEngine } from '../shared/adapters/duckdb.js';
import { registerTableViews } from '../shared/local-query.js';
import { reportKey, runUnlessPublished } from '../shared/pipeline.js';
import { acknowledge, type AckDeps, type SlackJob } from '../shared/slack/ack.js';
import { ANSWER_SQL, respond, type RespondContext } from '../shared/slack/answers.js';
import { toPlainText, type SlackMessage } from '../shared/slack/blocks.js';
import { parseCommand, type SlackCommand } from '../shared/slack/commands.js';
import { slackSignature } from '../shared/slack/signature.js';
import { LocalObjectStore } from '../shared/adapters/local-store.js';
import { work } from '../functions/slack-worker.js';
import { readTable, runLocal, tempDir } from './helpers.js';

const FIRST = '2024-03-01';
const LAST = '2024-03-21';
const DATES = Array.from({ length: 21 }, (_, i) => `2024-03-${String(i + 1).padStart(2, '0')}`);
// A one-week window, so that the last run's window starts after scores exist (segments in holdout).
const CONFIG = { holdout: { window_days: 7, min_group_size: 5, min_buyers: 3 } };
const display = parseConfig({}).display;

let source: string;
let dest: string;
let engine: DuckDbEngine;
let ctx: RespondContext;

beforeAll(async () => {
  source = await tempDir('slack-src');
  dest = await tempDir('slack-dest');
  await generateExtracts({ dir: source, from: FIRST, to: LAST, customers: 4000, seed: 7, malformedRows: 3 });
  for (const date of DATES) await runLocal(date, source, dest, CONFIG);
  engine = await DuckDbEngine.open();
  await registerTableViews(engine, dest);
  ctx = {
    query: (sql, parameters) => engine.query(sql, parameters),
    display,
    reportLink: (date) => new LocalObjectStore(dest).link(reportKey(date)),
    defaultRunDate: () => LAST,
    run: (date, force) =>
      runUnlessPublished(date, force, {
        source: new LocalObjectStore(source),
        dest: new LocalObjectStore(dest),
        config: parseConfig(CONFIG),
        openEngine: DuckDbEngine.open,
      }),
  };
}, 180_000);

afterAll(async () => {
  await engine?.close();
});

const ask = (text: string) => respond(parseCommand(text), ctx);
const textOf = (message: SlackMessage) => toPlainText(message);
const money = (value: number, signed = false) =>
  new Intl.NumberFormat('en-US', { style: 'currency', currency: 'EUR', currencyDisplay: 'code', maximumFractionDigits: 0, signDisplay: signed ? 'exceptZero' : 'auto' }).format(value);
const grouped = (value: number) => new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 }).format(value);

describe('/crm commands on pipeline results', () => {
  it('status lists the last seven runs, newest first, with their counts', async () => {
    const message = await ask('status');
    const text = textOf(message);
    const lines = text.split('\n').filter((l) => /^\d{4}-\d{2}-\d{2}\s/.test(l));
    expect(lines.map((l) => l.slice(0, 10))).toEqual(DATES.slice(-7).reverse());
    const [manifest] = await readTable(dest, runManifest, LAST);
    expect(lines[0]).toMatch(new RegExp(`^${LAST}\\s+${manifest!['status']}\\s+[\\d.]+ s\\s+${grouped(Number(manifest!['rows_read']))}\\s+${grouped(Number(manifest!['rows_rejected']))}\\s`));
    expect(message.blocks[0]).toEqual({ type: 'header', text: { type: 'plain_text', text: 'Nightly runs' } });
    // The summary links the latest run's report, which the run published.
    const link = /<(file:[^|>]+)\|Open the report for (\d{4}-\d{2}-\d{2})>/.exec(JSON.stringify(message.blocks[1]))!;
    expect(link[2]).toBe(LAST);
    expect((await readFile(fileURLToPath(link[1]!), 'utf8')).startsWith('<!DOCTYPE html>')).toBe(true);
  });

  it('segments: customers, revenue and average CLV per segment and grade, and the moves', async () => {
    const scores = await readTable(dest, customerScores, LAST);
    const text = textOf(await ask('segments'));
    expect(text).toContain(`${grouped(scores.length)} customers on ${LAST}`);
    // Each (segment, grade) row: customers and average CLV computed here from the file.
    const groups = new Map<string, Record<string, unknown>[]>();
    for (const s of scores) groups.set(`${s['segment']}|${s['grade']}`, [...(groups.get(`${s['segment']}|${s['grade']}`) ?? []), s]);
    for (const [key, members] of groups) {
      const [segment, grade] = key.split('|');
      const avgClv = members.reduce((n, m) => n + Number(m['clv']), 0) / members.length;
      const row = text.split('\n').find((l) => l.startsWith(`${segment} `) && l.includes(` ${grade} `));
      expect(row, key).toBeDefined();
      expect(row).toContain(` ${grouped(members.length)} `);
      expect(row!.trimEnd().endsWith(money(avgClv))).toBe(true);
    }
    expect(text).toContain(`Biggest moves since ${DATES.at(-2)}`);
    // An earlier date by argument answers for that date.
    expect(textOf(await ask(`segments ${DATES[10]}`))).toContain(`customers on ${DATES[10]}`);
  });

  it('holdout: incremental revenue in plain words, overall and per segment', async () => {
    const results = await readTable(dest, holdoutResults, LAST);
    const all = results.find((r) => r['segment'] === 'ALL' && r['window'] === 'last_7_days')!;
    const significance = String(all['verdict']).startsWith('significant') ? 'significant' : 'not significant';
    const expected = `${money(Number(all['incremental_revenue']), true)} (95% CI ${grouped(Number(all['ci_low']))} to ${grouped(Number(all['ci_high']))}), ${significance}`;
    expect(textOf(await ask('holdout'))).toContain(`last 7 days: ${expected}`);

    const segment = results.find((r) => r['segment'] !== 'ALL' && r['segment'] !== 'unknown' && !String(r['verdict']).startsWith('suppressed'))!;
    const segmentText = textOf(await ask(`holdout ${LAST} "${segment['segment']}"`));
    expect(segmentText).toContain(`Holdout: ${segment['segment']}, ${LAST}`);
    expect(segmentText).toContain(money(Number(segment['incremental_revenue']), true));
    expect(textOf(await ask('holdout Nobody'))).toContain('Segments: ALL');
  });

  it("customer: one customer's scores, CLV and holdout group", async () => {
    const scores = await readTable(dest, customerScores, LAST);
    const groups = new Map((await readTable(dest, holdoutAssignment, LAST)).map((a) => [a['customer_id'], a['holdout_group']]));
    const someone = scores[123]!;
    const text = textOf(await ask(`customer ${someone['customer_id']}`));
    expect(text).toContain(`${someone['segment']}, grade ${someone['grade']} (RFM ${someone['rfm_code']}) as of ${LAST}`);
    expect(text).toContain(`Last purchase: ${someone['recency_days']} days ago`);
    expect(text).toContain(`CLV (12 months): ${money(Number(someone['clv']))}`);
    expect(text).toContain(`Holdout group: ${groups.get(someone['customer_id'])}`);
    expect(text).toContain(`Buys in the next 30 days: ${(100 * Number(someone['p_purchase_30d'])).toFixed(1)}%`);
  });

  it('top: the most valuable customers by CLV or by revenue', async () => {
    const scores = await readTable(dest, customerScores, LAST);
    const byClv = [...scores].sort((a, b) => Number(b['clv']) - Number(a['clv'])).slice(0, 5).map((s) => s['customer_id']);
    const listed = (text: string) => text.split('\n').filter((l) => /^\d+\s/.test(l)).map((l) => l.split(/\s+/)[1]);
    expect(listed(textOf(await ask('top 5')))).toEqual(byClv);
    const byRevenue = [...scores].sort((a, b) => Number(b['monetary']) - Number(a['monetary'])).slice(0, 3).map((s) => s['customer_id']);
    expect(listed(textOf(await ask('top 3 by revenue')))).toEqual(byRevenue);
    // Without referrals (no CRM data here) the value ranking is the CLV ranking.
    expect(listed(textOf(await ask('top 5 by value')))).toEqual(byClv);
  });

  it('run: refuses a published date without --force, reruns with it, names a missing extract', async () => {
    expect(textOf(await ask(`run ${LAST}`))).toContain(`${LAST} is already published. Use "run ${LAST} --force"`);
    const [before] = await readTable(dest, runManifest, LAST);
    const rerun = textOf(await ask(`run ${LAST} --force`));
    expect(rerun).toContain(`Run for ${LAST} succeeded: ${grouped(Number(before!['rows_read']))} rows read`);
    expect(textOf(await ask('run 2024-04-30'))).toContain('No extract for 2024-04-30');
    // Without a date: yesterday in the schedule's zone (here the context's default).
    expect(textOf(await ask('run'))).toContain(`${LAST} is already published`);
  });

  it('help, unknown commands and bad arguments get clear answers', () => {
    expect(parseCommand('')).toEqual({ name: 'help' });
    expect(() => parseCommand('forecast')).toThrow(/unknown command "forecast"/);
    expect(() => parseCommand('segments yesterday')).toThrow(/"yesterday" is not a date/);
    expect(() => parseCommand('top 500')).toThrow(/1 to 50/);
    expect(() => parseCommand('top 5 by vibes')).toThrow(/clv, revenue, value/);
    expect(() => parseCommand('campaigns 0')).toThrow(/1 to 50/);
    expect(() => parseCommand('nps soon')).toThrow(/"soon" is not a date/);
    expect(() => parseCommand('customer')).toThrow(/which customer/);
    expect(() => parseCommand('run 2024-02-30')).toThrow(/not a date/);
    expect(parseCommand('holdout 2024-03-21 "Can\'t Lose Them"')).toEqual({ name: 'holdout', date: '2024-03-21', segment: "Can't Lose Them" });
    expect(parseCommand('holdout At Risk')).toEqual({ name: 'holdout', segment: 'At Risk' });
  });

  it('SQL injection attempts are inert: values are bound, never spliced', async () => {
    const [{ n: before }] = (await engine.query(`SELECT CAST(count(*) AS INTEGER) AS n FROM customer_scores`)) as [{ n: number }];
    for (const attack of ["x' OR '1'='1", "'; DROP VIEW customer_scores; --", 'C0000001\' UNION SELECT * FROM customer_scores --']) {
      expect(textOf(await ask(`customer ${attack}`))).toContain('No customer');
    }
    expect(textOf(await ask(`holdout ${LAST} ALL' OR segment <> '`))).toContain('No holdout result for segment');
    const [{ n: after }] = (await engine.query(`SELECT CAST(count(*) AS INTEGER) AS n FROM customer_scores`)) as [{ n: number }];
    expect(after).toBe(before);
  });

  it('every answer query parses as Trino (Athena) SQL', () => {
    const trino = new TrinoSQL();
    const statements = [
      ...Object.values(ANSWER_SQL as Record<string, unknown>).filter((sql): sql is string => typeof sql === 'string'),
      ANSWER_SQL.top('clv', 10),
      ANSWER_SQL.top('revenue', 50),
      ANSWER_SQL.top('value', 5),
      ANSWER_SQL.campaigns(10),
    ];
    for (const sql of statements) expect(trino.validate(sql), sql).toEqual([]);
  });
});

/** A local stand-in for Slack's response_url: records each JSON post. */
async function responseUrlServer() {
  const posts: { contentType: string | undefined; body: SlackMessage }[] = [];
  const server = createServer(async (req: IncomingMessage, res) => {
    let text = '';
    for await (const chunk of req) text += chunk;
    posts.push({ contentType: req.headers['content-type'], body: JSON.parse(text) as SlackMessage });
    res.writeHead(200).end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return { url, posts, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('/crm acknowledgement and worker', () => {
  const SECRET = 'test-signing-secret';
  const NOW = 1_711_000_000;
  const signed = (fields: Record<string, string>, secret = SECRET) => {
    const body = new URLSearchParams(fields).toString();
    return {
      headers: { 'x-slack-request-timestamp': String(NOW), 'x-slack-signature': slackSignature(body, NOW, secret), 'content-type': 'application/x-www-form-urlencoded' },
      body,
    };
  };
  const fields = (text: string, user = 'U-ANALYST') => ({
    command: '/crm',
    text,
    team_id: 'T-CRM',
    channel_id: 'C-CRM',
    user_id: user,
    response_url: 'https://hooks.slack.com/commands/T-CRM/1/abc',
  });
  const deps = (dispatched: SlackJob[], audit: Record<string, string>[] = []): AckDeps => ({
    signingSecret: SECRET,
    access: { teams: ['T-CRM'], channels: ['C-CRM'], runUsers: ['U-LEAD'] },
    nowSeconds: () => NOW,
    audit: (entry) => audit.push(entry),
    dispatch: async (job) => {
      dispatched.push(job);
    },
    // Replays are refused in test/slack-edge.test.ts; here every request is new.
    replay: { firstUse: async () => true },
  });

  it('acknowledges at once and hands the understood command to the worker', async () => {
    const dispatched: SlackJob[] = [];
    const audit: Record<string, string>[] = [];
    const response = await acknowledge(signed(fields(`segments ${LAST}`)), deps(dispatched, audit));
    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body)).toMatchObject({ response_type: 'ephemeral', text: 'Working on it…' });
    expect(dispatched).toEqual([
      { command: { name: 'segments', date: LAST }, responseUrl: 'https://hooks.slack.com/commands/T-CRM/1/abc', teamId: 'T-CRM', channelId: 'C-CRM', userId: 'U-ANALYST' },
    ]);
    expect(audit).toEqual([{ team: 'T-CRM', channel: 'C-CRM', user: 'U-ANALYST', command: 'segments', outcome: 'dispatched' }]);
  });

  it('the acknowledgement does not wait for the work', async () => {
    // A dispatch that, like an asynchronous invoke, returns before the worker has done anything:
    // the worker here would post only after the acknowledgement is back.
    const slack = await responseUrlServer();
    let workerDone = false;
    const pending: Promise<void>[] = [];
    const response = await acknowledge(signed({ ...fields('top 3'), response_url: slack.url }), {
      ...deps([]),
      dispatch: async (job) => {
        pending.push(
          new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
            await work(job, { ...ctx, responseUrlPrefix: slack.url });
            workerDone = true;
          }),
        );
      },
    });
    expect(response.statusCode).toBe(200);
    expect(workerDone).toBe(false);
    expect(slack.posts).toEqual([]);
    await Promise.all(pending);
    expect(slack.posts).toHaveLength(1);
    await slack.close();
  });

  it('refuses bad signatures, other channels, and runs by users not allowed to run', async () => {
    const dispatched: SlackJob[] = [];
    const audit: Record<string, string>[] = [];
    expect((await acknowledge(signed(fields('status'), 'wrong-secret'), deps(dispatched, audit))).statusCode).toBe(401);
    const elsewhere = await acknowledge(signed({ ...fields('status'), channel_id: 'C-RANDOM' }), deps(dispatched, audit));
    expect(JSON.parse(elsewhere.body).text).toMatch(/not enabled in this channel/);
    const run = await acknowledge(signed(fields(`run ${LAST}`)), deps(dispatched, audit));
    expect(JSON.parse(run.body).text).toMatch(/not start runs/);
    const lead = await acknowledge(signed(fields(`run ${LAST} --force`, 'U-LEAD')), deps(dispatched, audit));
    expect(JSON.parse(lead.body).text).toBe(`Starting the run for ${LAST}…`);
    const bad = await acknowledge(signed(fields('top 5 by vibes')), deps(dispatched, audit));
    expect(JSON.parse(bad.body).text).toMatch(/clv, revenue, value/);
    expect(dispatched.map((j) => j.command)).toEqual([{ name: 'run', date: LAST, force: true }]);
    expect(audit.map((a) => a['outcome'])).toEqual(['rejected', 'refused: channel', 'refused: run', 'dispatched', 'bad command']);
  });

  it('the worker posts the Block Kit answer to the response_url, and nowhere else', async () => {
    const slack = await responseUrlServer();
    const job = (command: SlackCommand, responseUrl = slack.url): SlackJob => ({ command, responseUrl, teamId: 'T', channelId: 'C', userId: 'U' });
    await work(job({ name: 'segments', date: LAST }), { ...ctx, responseUrlPrefix: slack.url });
    expect(slack.posts).toHaveLength(1);
    expect(slack.posts[0]!.contentType).toBe('application/json');
    const posted = slack.posts[0]!.body;
    expect(posted.response_type).toBe('in_channel');
    expect(posted.blocks[0]).toEqual({ type: 'header', text: { type: 'plain_text', text: `Segments on ${LAST}` } });
    expect(posted.blocks.some((b) => b.type === 'section' && b.text.text.startsWith('```'))).toBe(true);

    // A failing question still gets an answer in Slack, with the reason.
    const failing = { ...ctx, query: () => Promise.reject(new Error('Athena query FAILED: table not found')), responseUrlPrefix: slack.url };
    await work(job({ name: 'status' }), failing);
    expect(slack.posts[1]!.body.text).toBe('Sorry, "status" failed. The CRM analytics team can find why in the logs.');
    expect(JSON.stringify(slack.posts[1]!.body)).not.toContain('table not found');

    await expect(work(job({ name: 'status' }, 'http://attacker.example/'), { ...ctx, responseUrlPrefix: slack.url })).rejects.toThrow(/outside/);
    expect(slack.posts).toHaveLength(2);
    await slack.close();
  });

  it('crm-metrics slack prints the same answer as Block Kit JSON or text', async () => {
    const printed = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      const { main } = await import('../functions/cli.js');
      expect(await main(['slack', `segments ${LAST}`, '--dest', dest])).toBe(0);
      const message = JSON.parse(String(printed.mock.calls[0]![0])) as SlackMessage;
      expect(message).toEqual(await ask(`segments ${LAST}`));
      expect(await main(['slack', 'top 2', '--dest', dest, '--text'])).toBe(0);
      expect(String(printed.mock.calls[1]![0])).toMatch(/^Top 2 customers by CLV on/);
      expect(await main(['slack', 'forecast', '--dest', dest])).toBe(2);
    } finally {
      printed.mockRestore();
    }
  });
});
