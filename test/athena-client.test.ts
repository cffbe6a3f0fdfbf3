/**
 * AthenaQueryClient against the real AthenaClient, talking to a loopback stand-in for Athena's
 * awsJson1_1 endpoint (POST / with `x-amz-target: AmazonAthena.<Operation>`).
 *
 * The responses in test/fixtures/athena/ follow the "Response Syntax" of the Amazon Athena API
 * Reference (https://docs.aws.amazon.com/athena/latest/APIReference/): StartQueryExecution,
 * GetQueryExecution (QueryExecution, QueryExecutionStatus, AthenaError, QueryExecutionStatistics),
 * GetQueryResults (ResultSet, ResultSetMetadata, ColumnInfo, Row, Datum) and StopQueryExecution
 * ("HTTP 200 with an empty HTTP body"); errors use the awsJson1_1 `__type` convention and the AWS
 * common error ThrottlingException. Timestamps are epoch seconds, as awsJson1_1 encodes them.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  AthenaClient,
  type AthenaClientConfig,
  type GetQueryExecutionOutput,
  type GetQueryResultsOutput,
} from '@aws-sdk/client-athena';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { AthenaQueryClient, AthenaQueryError, athenaLiteral } from '../shared/athena/client.js';

const QUERY_ID = '5f2d1a8e-3c47-4b9e-a1d6-7e0c9b4f2a13';
const SQL = 'SELECT customer_id, orders, lifetime_cents, score, revenue, is_active, first_order, last_seen, segments, note FROM customer_summary WHERE dt = ? AND segment = ?';

// --- one small fake server ---------------------------------------------------------------------

type Operation = 'StartQueryExecution' | 'GetQueryExecution' | 'GetQueryResults' | 'StopQueryExecution';
/** `body: undefined` sends an empty body (as StopQueryExecution does). */
interface Reply { status?: number; body?: unknown }

/** A fresh parse of a recorded response, safe to modify (typed by the SDK shape only for editing it). */
function fixture<T = unknown>(name: string): T {
  return JSON.parse(readFileSync(new URL(`./fixtures/athena/${name}.json`, import.meta.url), 'utf8')) as T;
}
/** The first results page alone: a complete single-page SELECT result. */
const singlePage = (): Reply => ({ body: { ...fixture<GetQueryResultsOutput>('get-query-results-page-1'), NextToken: undefined } });
const ok = (name: string): Reply => ({ body: fixture(name) });
const fails = (name: string): Reply => ({ status: 400, body: fixture(name) });

const cleanup: (() => void)[] = [];
afterEach(() => cleanup.splice(0).forEach((fn) => fn()));

/**
 * Answers each operation from its script in order, repeating the last reply once the script runs
 * out, and records every request body by operation.
 */
async function fakeAthena(script: Partial<Record<Operation, Reply[]>>) {
  const requests: { operation: string; body: Record<string, unknown> }[] = [];
  const server: Server = createServer(async (req, res) => {
    let text = '';
    for await (const chunk of req) text += chunk;
    const target = String(req.headers['x-amz-target']);
    const operation = target.replace(/^AmazonAthena\./, '');
    requests.push({ operation, body: JSON.parse(text || '{}') });
    const replies = script[operation as Operation];
    const wellFormed = req.method === 'POST' && req.url === '/' && req.headers['content-type'] === 'application/x-amz-json-1.1';
    const served = requests.filter((r) => r.operation === operation).length;
    const reply: Reply =
      wellFormed && replies?.length
        ? replies[Math.min(served, replies.length) - 1]!
        : { status: 400, body: { __type: 'UnrecognizedClientException', message: `unexpected ${req.method} ${req.url} ${target}` } };
    res.writeHead(reply.status ?? 200, { 'content-type': 'application/x-amz-json-1.1' });
    res.end(reply.body === undefined ? '' : JSON.stringify(reply.body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => {
    server.closeAllConnections();
    server.close();
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    /** Request bodies the server received for one operation, in order. */
    calls: (operation: Operation) => requests.filter((r) => r.operation === operation).map((r) => r.body),
    /** A real AthenaClient aimed at this server; no retries unless asked for. */
    client(config: Partial<AthenaClientConfig> = {}): AthenaClient {
      const client = new AthenaClient({
        endpoint,
        region: 'eu-west-1',
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
        maxAttempts: 1,
        ...config,
      });
      cleanup.push(() => client.destroy());
      return client;
    },
  };
}

const noSleep = async () => {};

// --- tests --------------------------------------------------------------------------------------

interface CustomerRow extends Record<string, unknown> {
  customer_id: string;
  orders: number | null;
  lifetime_cents: number | null;
  score: number | null;
  revenue: number | null;
  is_active: boolean | null;
  first_order: string | null;
  last_seen: string | null;
  segments: string | null;
  note: string | null;
}

describe('AthenaQueryClient', () => {
  it('polls QUEUED → RUNNING → SUCCEEDED with capped backoff and reads typed rows from every page', async () => {
    const athena = await fakeAthena({
      StartQueryExecution: [ok('start-query-execution')],
      GetQueryExecution: [
        ok('get-query-execution-queued'),
        ...Array.from({ length: 4 }, () => ok('get-query-execution-running')),
        ok('get-query-execution-succeeded'),
      ],
      GetQueryResults: [ok('get-query-results-page-1'), ok('get-query-results-page-2'), ok('get-query-results-page-3')],
    });
    const slept: number[] = [];
    const client = new AthenaQueryClient({
      workGroup: 'crm-metrics',
      database: 'crm_metrics',
      client: athena.client(),
      initialPollMs: 200,
      maxPollMs: 1_000,
      sleep: async (ms) => void slept.push(ms),
    });

    const rows = await client.query<CustomerRow>(SQL, ['2024-01-30', 'champions']);

    expect(rows).toEqual([
      {
        customer_id: 'c-001', orders: 12, lifetime_cents: 9007199254740991, score: 0.25, revenue: 1234.5, is_active: true,
        first_order: '2023-02-01', last_seen: '2024-01-30 12:34:56.789', segments: '[gold, vip]', note: "O'Brien; DROP TABLE t",
      },
      {
        customer_id: 'c-002', orders: 3, lifetime_cents: -42, score: 0.0001, revenue: 0, is_active: false,
        first_order: '2023-11-15', last_seen: '2024-01-29 08:00:00.000', segments: '[]', note: '',
      },
      {
        customer_id: 'c-003', orders: 1, lifetime_cents: 0, score: NaN, revenue: -17.25, is_active: true,
        first_order: '2024-01-02', last_seen: '2024-01-02 23:59:59.999', segments: '[new]', note: null,
      },
      {
        customer_id: 'c-004', orders: 7, lifetime_cents: 123456789012, score: 3.5, revenue: 99999999.99, is_active: false,
        first_order: '2022-06-30', last_seen: '2023-12-31 00:00:00.000', segments: '[lapsed, winback]', note: 'second page',
      },
      {
        customer_id: 'c-005', orders: null, lifetime_cents: null, score: null, revenue: null, is_active: null,
        first_order: null, last_seen: null, segments: null, note: null,
      },
    ]);
    // Backoff doubles from initialPollMs and is capped at maxPollMs: one sleep between each of the 6 polls.
    expect(slept).toEqual([200, 400, 800, 1_000, 1_000]);

    expect(athena.calls('StartQueryExecution')).toEqual([
      {
        QueryString: SQL,
        WorkGroup: 'crm-metrics',
        QueryExecutionContext: { Database: 'crm_metrics', Catalog: 'AwsDataCatalog' },
        ExecutionParameters: ["'2024-01-30'", "'champions'"],
        ClientRequestToken: expect.any(String), // generated by the SDK (idempotency token)
      },
    ]);
    expect(athena.calls('GetQueryExecution')).toEqual(Array(6).fill({ QueryExecutionId: QUERY_ID }));
    const [token1, token2, token3] = [1, 2, 3].map((n) => fixture<GetQueryResultsOutput>(`get-query-results-page-${n}`).NextToken);
    expect(token3).toBeUndefined(); // the last page ends the pagination
    expect(athena.calls('GetQueryResults')).toEqual([
      { QueryExecutionId: QUERY_ID, MaxResults: 1000 },
      { QueryExecutionId: QUERY_ID, MaxResults: 1000, NextToken: token1 },
      { QueryExecutionId: QUERY_ID, MaxResults: 1000, NextToken: token2 },
    ]);
    expect(athena.calls('StopQueryExecution')).toEqual([]);
  });

  it('defaults to polling after 200 ms, doubling up to 2 s, in the given catalog', async () => {
    const athena = await fakeAthena({
      StartQueryExecution: [ok('start-query-execution')],
      GetQueryExecution: [...Array.from({ length: 7 }, () => ok('get-query-execution-running')), ok('get-query-execution-succeeded')],
      GetQueryResults: [singlePage()],
    });
    const slept: number[] = [];
    const client = new AthenaQueryClient({
      workGroup: 'wg', database: 'db', catalog: 'lake', client: athena.client(), sleep: async (ms) => void slept.push(ms),
    });

    expect(await client.query('SELECT 1')).toHaveLength(2);
    expect(slept).toEqual([200, 400, 800, 1_600, 2_000, 2_000, 2_000]);
    const [start] = athena.calls('StartQueryExecution');
    expect(start).toMatchObject({ QueryExecutionContext: { Database: 'db', Catalog: 'lake' }, WorkGroup: 'wg' });
    expect(start).not.toHaveProperty('ExecutionParameters'); // nothing to bind, so not sent at all
  });

  it('surfaces FAILED with Athena’s reason, the execution id and the AthenaError codes', async () => {
    const athena = await fakeAthena({
      StartQueryExecution: [ok('start-query-execution')],
      GetQueryExecution: [ok('get-query-execution-queued'), ok('get-query-execution-failed')],
    });
    const client = new AthenaQueryClient({ workGroup: 'wg', database: 'db', client: athena.client(), sleep: noSleep });

    const error = await client.query(SQL, ['2024-01-30', 'champions']).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(AthenaQueryError);
    expect((error as Error).message).toContain(QUERY_ID);
    expect((error as Error).message).toContain("COLUMN_NOT_FOUND: line 1:8: Column 'lifetime_cents' cannot be resolved");
    expect(error).toMatchObject({ reason: 'FAILED', state: 'FAILED', queryExecutionId: QUERY_ID, errorCategory: 2, errorType: 1000, retryable: false });
    expect(athena.calls('GetQueryResults')).toEqual([]);
    expect(athena.calls('StopQueryExecution')).toEqual([]); // already terminal: nothing to stop
  });

  it('takes the reason from AthenaError.ErrorMessage, else from StateChangeReason', async () => {
    const withBoth = fixture<GetQueryExecutionOutput>('get-query-execution-failed');
    withBoth.QueryExecution!.Status!.AthenaError!.ErrorMessage = 'TABLE_NOT_FOUND: from AthenaError';
    withBoth.QueryExecution!.Status!.StateChangeReason = 'from StateChangeReason';
    const reasonOnly = fixture<GetQueryExecutionOutput>('get-query-execution-failed');
    delete reasonOnly.QueryExecution!.Status!.AthenaError;
    reasonOnly.QueryExecution!.Status!.StateChangeReason = 'only StateChangeReason';

    for (const [body, expected, absent] of [
      [withBoth, 'TABLE_NOT_FOUND: from AthenaError', 'from StateChangeReason'],
      [reasonOnly, 'only StateChangeReason', undefined],
    ] as const) {
      const athena = await fakeAthena({ StartQueryExecution: [ok('start-query-execution')], GetQueryExecution: [{ body }] });
      const client = new AthenaQueryClient({ workGroup: 'wg', database: 'db', client: athena.client(), sleep: noSleep });
      const error = (await client.query('SELECT 1').catch((e: unknown) => e)) as AthenaQueryError;
      expect(error.message).toContain(expected);
      expect(error.message).toContain(QUERY_ID);
      if (absent) expect(error.message).not.toContain(absent);
    }
  });

  it('surfaces CANCELLED as an error', async () => {
    const athena = await fakeAthena({
      StartQueryExecution: [ok('start-query-execution')],
      GetQueryExecution: [ok('get-query-execution-running'), ok('get-query-execution-cancelled')],
    });
    const client = new AthenaQueryClient({ workGroup: 'wg', database: 'db', client: athena.client(), sleep: noSleep });

    const error = await client.query('SELECT 1').catch((e: unknown) => e);

    expect(error).toBeInstanceOf(AthenaQueryError);
    expect(error).toMatchObject({ reason: 'CANCELLED', state: 'CANCELLED', queryExecutionId: QUERY_ID });
    expect((error as Error).message).toContain('Query cancelled by user');
    expect((error as Error).message).toContain(QUERY_ID);
    expect(athena.calls('GetQueryResults')).toEqual([]);
  });

  it('stops a query that is still RUNNING at the timeout and says so', async () => {
    const athena = await fakeAthena({
      StartQueryExecution: [ok('start-query-execution')],
      GetQueryExecution: [ok('get-query-execution-running')], // forever
      StopQueryExecution: [{ body: undefined }],
    });
    // Real sleeps here: the timeout is wall-clock.
    const client = new AthenaQueryClient({ workGroup: 'wg', database: 'db', client: athena.client(), timeoutMs: 150, initialPollMs: 5, maxPollMs: 20 });

    const error = await client.query('SELECT 1').catch((e: unknown) => e);

    expect(error).toBeInstanceOf(AthenaQueryError);
    expect(error).toMatchObject({ reason: 'TIMEOUT', state: 'RUNNING', queryExecutionId: QUERY_ID });
    expect((error as Error).message).toMatch(/timed out after 150 ms/);
    expect((error as Error).message).toContain(QUERY_ID);
    expect((error as Error).message).toContain('stopped with StopQueryExecution');
    expect(athena.calls('GetQueryExecution').length).toBeGreaterThan(2);
    expect(athena.calls('StopQueryExecution')).toEqual([{ QueryExecutionId: QUERY_ID }]);
    expect(athena.calls('GetQueryResults')).toEqual([]);
  });

  it('stops the query when the caller aborts, even mid-sleep', async () => {
    const athena = await fakeAthena({
      StartQueryExecution: [ok('start-query-execution')],
      GetQueryExecution: [ok('get-query-execution-running')],
      StopQueryExecution: [{ body: undefined }],
    });
    const controller = new AbortController();
    const cancelled = new Error('user pressed cancel');
    const client = new AthenaQueryClient({
      workGroup: 'wg',
      database: 'db',
      client: athena.client(),
      // A sleep that ignores its signal and never ends: only the abort can end the wait.
      sleep: () => {
        controller.abort(cancelled);
        return new Promise<void>(() => {});
      },
    });

    const error = await client.query('SELECT 1', [], controller.signal).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(AthenaQueryError);
    expect(error).toMatchObject({ reason: 'ABORTED', queryExecutionId: QUERY_ID, cause: cancelled });
    expect(athena.calls('StopQueryExecution')).toEqual([{ QueryExecutionId: QUERY_ID }]);

    // An already-aborted signal does not start anything.
    await expect(client.query('SELECT 1', [], controller.signal)).rejects.toBe(cancelled);
    expect(athena.calls('StartQueryExecution')).toHaveLength(1);
  });

  it('binds parameters as literals in ExecutionParameters and sends the SQL text unchanged', async () => {
    const athena = await fakeAthena({
      StartQueryExecution: [ok('start-query-execution')],
      GetQueryExecution: [ok('get-query-execution-succeeded')],
      GetQueryResults: [singlePage()],
    });
    const client = new AthenaQueryClient({ workGroup: 'wg', database: 'db', client: athena.client(), sleep: noSleep });
    const sql = 'SELECT * FROM customer_summary WHERE customer_id = ? AND note = ? AND orders > ? AND score < ? AND is_active = ? AND note IS NOT DISTINCT FROM ? AND dt = ?';

    await client.query(sql, ["x' OR '1'='1", '1; DROP TABLE t', 12, -0.5, true, null, '2024-01-30']);

    const [start] = athena.calls('StartQueryExecution');
    expect(start?.['QueryString']).toBe(sql);
    expect(start?.['ExecutionParameters']).toEqual([
      "'x'' OR ''1''=''1'",
      "'1; DROP TABLE t'",
      '12',
      '-0.5',
      'TRUE',
      'NULL',
      "'2024-01-30'",
    ]);
  });

  it('lets the SDK retry a throttled StartQueryExecution (same request, same idempotency token)', async () => {
    const script = {
      StartQueryExecution: [fails('error-throttling'), ok('start-query-execution')],
      GetQueryExecution: [ok('get-query-execution-succeeded')],
      GetQueryResults: [singlePage()],
    };
    const athena = await fakeAthena(script);
    const client = new AthenaQueryClient({
      workGroup: 'wg', database: 'db', client: athena.client({ maxAttempts: 3, retryMode: 'standard' }), sleep: noSleep,
    });

    const rows = await client.query('SELECT 1');

    expect(rows.map((r) => r['customer_id'])).toEqual(['c-001', 'c-002']);
    const starts = athena.calls('StartQueryExecution');
    expect(starts).toHaveLength(2);
    expect(starts[1]).toEqual(starts[0]);

    // Without retries in the client config, the same throttle is an error: the retry is the SDK's.
    const once = await fakeAthena(script);
    const noRetry = new AthenaQueryClient({ workGroup: 'wg', database: 'db', client: once.client({ maxAttempts: 1 }), sleep: noSleep });
    await expect(noRetry.query('SELECT 1')).rejects.toMatchObject({ name: 'ThrottlingException' });
  });

  it('passes a rejected StartQueryExecution through without retrying it', async () => {
    const athena = await fakeAthena({ StartQueryExecution: [fails('error-invalid-request')] });
    const client = new AthenaQueryClient({ workGroup: 'wg', database: 'db', client: athena.client({ maxAttempts: 3 }), sleep: noSleep });

    await expect(client.query('SELEC 1')).rejects.toMatchObject({ name: 'InvalidRequestException', AthenaErrorCode: 'INVALID_INPUT' });
    expect(athena.calls('StartQueryExecution')).toHaveLength(1);
  });

  it('refuses a bigint it cannot represent exactly', async () => {
    const athena = await fakeAthena({
      StartQueryExecution: [ok('start-query-execution')],
      GetQueryExecution: [ok('get-query-execution-succeeded')],
      GetQueryResults: [ok('get-query-results-bigint-overflow')],
    });
    const client = new AthenaQueryClient({ workGroup: 'wg', database: 'db', client: athena.client(), sleep: noSleep });

    await expect(client.query('SELECT 1')).rejects.toThrow(/lifetime_cents.*9007199254740993.*MAX_SAFE_INTEGER/);
  });

  it('keeps the first row of results that have no header row (DDL / utility statements)', async () => {
    const succeeded = fixture<GetQueryExecutionOutput>('get-query-execution-succeeded');
    Object.assign(succeeded.QueryExecution!, { StatementType: 'UTILITY', SubstatementType: 'SHOW_TABLES' });
    const [varchar] = fixture<GetQueryResultsOutput>('get-query-results-page-1').ResultSet!.ResultSetMetadata!.ColumnInfo!;
    const column = { ...varchar, Name: 'tab_name', Label: 'tab_name', Type: 'string' };
    const athena = await fakeAthena({
      StartQueryExecution: [ok('start-query-execution')],
      GetQueryExecution: [{ body: succeeded }],
      GetQueryResults: [{
        body: {
          ResultSet: {
            Rows: [{ Data: [{ VarCharValue: 'customer_summary' }] }, { Data: [{ VarCharValue: 'run_manifest' }] }],
            ResultSetMetadata: { ColumnInfo: [column] },
          },
        },
      }],
    });
    const client = new AthenaQueryClient({ workGroup: 'wg', database: 'db', client: athena.client(), sleep: noSleep });

    expect(await client.query('SHOW TABLES')).toEqual([{ tab_name: 'customer_summary' }, { tab_name: 'run_manifest' }]);
  });
});

describe('athenaLiteral', () => {
  it('renders each parameter type as a SQL literal', () => {
    expect(athenaLiteral('plain')).toBe("'plain'");
    expect(athenaLiteral('')).toBe("''");
    expect(athenaLiteral("it's")).toBe("'it''s'");
    expect(athenaLiteral('back\\slash')).toBe("'back\\slash'"); // not an escape character in Trino
    expect(athenaLiteral(42)).toBe('42');
    expect(athenaLiteral(-0.125)).toBe('-0.125');
    expect(athenaLiteral(true)).toBe('TRUE');
    expect(athenaLiteral(false)).toBe('FALSE');
    expect(athenaLiteral(null)).toBe('NULL');
  });

  it('rejects numbers that have no SQL literal, and non-parameter values', () => {
    for (const value of [NaN, Infinity, -Infinity]) expect(() => athenaLiteral(value)).toThrow(RangeError);
    expect(() => athenaLiteral(undefined as never)).toThrow(TypeError);
    expect(() => athenaLiteral(new Date() as never)).toThrow(TypeError);
  });

  it('turns any string into exactly one string literal that decodes back to it', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom("'", 'a', ' ', ';', '-', '\\', '?', '"', 'é') }), (s) => {
        const literal = athenaLiteral(s);
        // One literal: a quote, then only non-quotes or doubled quotes, then the closing quote.
        expect(literal).toMatch(/^'(?:[^']|'')*'$/);
        expect(literal.slice(1, -1).replaceAll("''", "'")).toBe(s);
      }),
    );
  });
});
