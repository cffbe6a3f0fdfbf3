/**
 * The nightly Lambda handler (through middy) over the real S3 protocol: a local S3-compatible
 * server (s3rver) on loopback, the real @aws-sdk/client-s3, extracts uploaded, outputs read back.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import S3rver from 's3rver';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { SFNClient } from '@aws-sdk/client-sfn';
import { partitionKey } from '../shared/catalog.js';
import { customerScores, REPRODUCIBLE_TABLES, runManifest, TABLES } from '../shared/tables/index.js';
import { parseConfig } from '../shared/config.js';
import { generateExtracts } from '../shared/demo/generate.js';
import { DuckDbEngine } from '../shared/adapters/duckdb.js';
import { parseNightlyEvent } from '../shared/nightly-event.js';
import { startNight } from '../shared/adapters/step-functions.js';
import { isPublished, reportKey, runNightly, runUnlessPublished } from '../shared/pipeline.js';
import { S3ObjectStore } from '../shared/adapters/s3-store.js';
import { fakeAwsJson } from './fake-aws.js';
import { CSV_HEADER, tempDir } from './helpers.js';
import { loopbackS3Client, startLoopbackS3 } from './loopback-s3.js';

const BUCKET = 'crm-test';
let server: S3rver;
let client: S3Client;
let endpoint: string;

const testClient = () => loopbackS3Client(endpoint);

beforeAll(async () => {
  ({ server, endpoint } = await startLoopbackS3([BUCKET]));
  client = testClient();
});

afterAll(async () => {
  client?.destroy();
  await server?.close();
});

afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

/** A client whose `nth` call of `command` fails (the SDK stack, then the real server for the rest). */
function clientFailingOn(command: string, nth: number, message: string) {
  const failing = testClient();
  const calls = { count: 0 };
  failing.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === command && ++calls.count === nth) throw new Error(`${message} (injected)`);
      return next(args);
    },
    { step: 'initialize', name: 'injectFailure' },
  );
  return { failing, calls };
}

/** Stores over `prefix`raw/ and `prefix`curated/ through a client, with the default config. */
const depsOver = (prefix: string) => (s3: S3Client) => ({
  source: new S3ObjectStore(BUCKET, `${prefix}/raw/`, s3),
  dest: new S3ObjectStore(BUCKET, `${prefix}/curated/`, s3),
  config: parseConfig({}),
  openEngine: DuckDbEngine.open,
});

const upload = (key: string, lines: string[]) => client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: lines.join('\n') }));

async function readParquet(key: string) {
  const object = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  const bytes = await object.Body!.transformToByteArray();
  return parquetReadObjects({ file: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer, compressors });
}

/** Every object under a prefix with its ETag (an MD5 of the bytes for single-part objects). */
async function snapshot(prefix: string): Promise<Record<string, string>> {
  const page = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return Object.fromEntries((page.Contents ?? []).map((o) => [o.Key!, o.ETag!]));
}

/** Points the handler's own S3 client (built from the environment) at the local server. */
function handlerEnvironment(root: string) {
  vi.stubEnv('SOURCE_URI', `s3://${BUCKET}/${root}/raw`);
  vi.stubEnv('DEST_URI', `s3://${BUCKET}/${root}/curated`);
  vi.stubEnv('AWS_ENDPOINT_URL_S3', endpoint);
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'S3RVER');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'S3RVER');
  vi.stubEnv('AWS_REGION', 'us-east-1');
}

/** EventBridge's "Scheduled Event" as documented by AWS, for a 02:00 UTC run on 2024-04-02. */
const SCHEDULED_EVENT = {
  version: '0',
  id: '53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa',
  'detail-type': 'Scheduled Event',
  source: 'aws.events',
  account: '123456789012',
  time: '2024-04-02T02:00:00Z',
  region: 'us-east-1',
  resources: ['arn:aws:events:us-east-1:123456789012:rule/my-scheduled-rule'],
  detail: {},
};

describe('nightly handler', () => {
  it('runs a scheduled event end to end against S3, with lineage and metrics', async () => {
    const key = 'e2e/raw/transactions/dt=2024-04-01/a.csv';
    await upload(key, [CSV_HEADER, 't1,c1,2024-04-01T10:00:00,10.00,1,online,EUR,false', 't2,c2,2024-04-01T11:00:00,oops,1,store,EUR,false']);
    handlerEnvironment('e2e');
    const stdout = vi.spyOn(process.stdout, 'write');
    const { handler } = await import('../functions/nightly.js');
    const result = await handler(SCHEDULED_EVENT, {} as never);
    expect(result).toMatchObject({ date: '2024-04-01', status: 'succeeded', rowsRead: 2, rowsAccepted: 1, rowsRejected: 1 });

    const published = Object.keys(await snapshot('e2e/curated/'));
    expect(published).toContain(`e2e/curated/${partitionKey(customerScores, '2024-04-01')}`);
    expect(published.filter((k) => k.includes('_staging'))).toEqual([]);
    const scores = await readParquet(`e2e/curated/${partitionKey(customerScores, '2024-04-01')}`);
    expect(scores.map((s) => s['customer_id'])).toEqual(['c1']);
    const [manifest] = await readParquet(`e2e/curated/${partitionKey(runManifest, '2024-04-01')}`);
    expect(Number(manifest!['rows_rejected'])).toBe(1);
    // The report keeps its type through the staged move, so its presigned link opens in a browser.
    const report = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `e2e/curated/${reportKey('2024-04-01')}` }));
    expect(report.ContentType).toBe('text/html; charset=utf-8');
    const head = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    expect(JSON.parse(String(manifest!['input_files']))).toEqual([
      { file: 'transactions/dt=2024-04-01/a.csv', bytes: head.ContentLength, etag: head.ETag },
    ]);

    // Powertools writes CloudWatch metrics as EMF lines on stdout.
    const emf = stdout.mock.calls
      .map(([chunk]) => String(chunk))
      .flatMap((text) => text.split('\n'))
      .filter((line) => line.includes('"CloudWatchMetrics"'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const totals = emf.find((m) => 'RowsRead' in m)!;
    expect(totals).toMatchObject({ RowsRead: 2, RowsRejected: 1, CustomersScored: 1, RunsSucceeded: 1, service: 'crm-metrics-nightly' });
    // The phases, then one stage per table built in the last phase (the ingest writes transactions and rejects).
    const tables = TABLES.filter((t) => !('phase' in t)).map((t) => t.name);
    expect(emf.filter((m) => 'StageDuration' in m).map((m) => m['stage'])).toEqual(['ingest', 'ingested', 'facts', 'fitted', 'rfm', 'clv', ...tables, 'report', 'published']);
  });

  it('does not redo a published date unless forced', async () => {
    await upload('again/raw/transactions/dt=2024-04-01/a.csv', [CSV_HEADER, 't1,c1,2024-04-01T10:00:00,10.00,1,online,EUR,false']);
    handlerEnvironment('again');
    const { handler } = await import('../functions/nightly.js');
    expect(await handler({ date: '2024-04-01' }, {} as never)).toMatchObject({ status: 'succeeded' });
    expect(await handler({ date: '2024-04-01' }, {} as never)).toEqual({ date: '2024-04-01', status: 'already_published' });
    expect(await handler({ date: '2024-04-01', force: true }, {} as never)).toMatchObject({ status: 'succeeded', rowsDuplicate: 0 });
  });

  it('rejects an invalid date with a clear error', async () => {
    const { handler } = await import('../functions/nightly.js');
    await expect(handler({ date: '2024-02-30' }, {} as never)).rejects.toThrow(/invalid run date "2024-02-30"/);
    await expect(handler({ time: '2024-04-02T00:00:00Z', timezone: 'Mars/Olympus' }, {} as never)).rejects.toThrow(/time zone/);
  });

  it('runs the day before the scheduled local date, in the schedule\'s time zone', async () => {
    const runDate = (event: object) => parseNightlyEvent(event).date;
    expect(runDate(SCHEDULED_EVENT)).toBe('2024-04-01');
    // 02:00 in Berlin (summer time) is 00:00 UTC the same day.
    expect(runDate({ time: '2024-04-02T00:00:00Z', timezone: 'Europe/Berlin' })).toBe('2024-04-01');
    // 02:00 in Tokyo is 17:00 UTC the day before: the UTC date would run a day too early.
    expect(runDate({ time: '2024-04-01T17:00:00Z', timezone: 'Asia/Tokyo' })).toBe('2024-04-01');
    // 02:00 in Los Angeles is 09:00 UTC the same day.
    expect(runDate({ time: '2024-04-02T09:00:00Z', timezone: 'America/Los_Angeles' })).toBe('2024-04-01');
  });

  it('a failed upload midway leaves the previous published result untouched', async () => {
    const deps = depsOver('fail');
    await upload('fail/raw/transactions/dt=2024-04-01/a.csv', [CSV_HEADER, 't1,c1,2024-04-01T10:00:00,10.00,1,online,EUR,false']);
    await runNightly('2024-04-01', deps(client));
    const before = await snapshot('fail/curated/');

    // The day's extract is corrected; the re-run's sixth PutObject fails (its lease and the first staged files went through).
    await upload('fail/raw/transactions/dt=2024-04-01/a.csv', [CSV_HEADER, 't1,c1,2024-04-01T10:00:00,99.00,1,online,EUR,false']);
    const { failing, calls } = clientFailingOn('PutObjectCommand', 6, 'connection reset');
    await expect(runNightly('2024-04-01', deps(failing))).rejects.toThrow(/injected/);
    expect(calls.count).toBe(6);
    // Every published object is the one from before, and the run's staging files are gone.
    expect(await snapshot('fail/curated/')).toEqual(before);
    failing.destroy();
  });

  it('a re-run cut short while replacing tables leaves the date unpublished, not mixed', async () => {
    const deps = depsOver('cut');
    await upload('cut/raw/transactions/dt=2024-04-01/a.csv', [CSV_HEADER, 't1,c1,2024-04-01T10:00:00,10.00,1,online,EUR,false']);
    await runNightly('2024-04-01', deps(client));
    expect(await isPublished(deps(client).dest, '2024-04-01')).toBe(true);

    const { failing } = clientFailingOn('CopyObjectCommand', 3, 'Lambda timed out');
    await expect(runNightly('2024-04-01', deps(failing))).rejects.toThrow(/injected/);
    // Two tables were replaced, the rest not: the old manifest must not vouch for that mix.
    expect(await isPublished(deps(client).dest, '2024-04-01')).toBe(false);
    // A trigger without force now redoes the night, and it publishes completely.
    expect(await runUnlessPublished('2024-04-01', false, deps(client))).toMatchObject({ status: 'succeeded' });
    expect(await isPublished(deps(client).dest, '2024-04-01')).toBe(true);
    failing.destroy();
  });

  it('S3 store: paginated listing with sizes and ETags, replace, move, delete', async () => {
    const paging = testClient();
    // Two keys per page, so that three objects need two continuation round trips.
    paging.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'ListObjectsV2Command') Object.assign(args.input as object, { MaxKeys: 2 });
        return next(args);
      },
      { step: 'initialize', name: 'smallPages' },
    );
    const listCalls = vi.spyOn(paging, 'send');
    const store = new S3ObjectStore(BUCKET, 'paging/', paging);
    const dir = await tempDir('s3-local');
    const file = join(dir, 'x');
    await writeFile(file, 'first');
    for (let i = 0; i < 3; i++) await store.put(`k/${i}.txt`, file);
    await writeFile(file, 'second!');
    await store.put('k/0.txt', file);
    listCalls.mockClear();
    const listed = await store.list('k/');
    expect(listCalls).toHaveBeenCalledTimes(2);
    expect(listed.map((o) => [o.key, o.bytes])).toEqual([['k/0.txt', 7], ['k/1.txt', 5], ['k/2.txt', 5]]);
    const head = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'paging/k/0.txt' }));
    expect(listed[0]!.etag).toBe(head.ETag);

    await store.move('k/0.txt', 'moved/dt=2024-01-01/data.txt');
    expect((await store.list('')).map((o) => o.key)).toEqual(['k/1.txt', 'k/2.txt', 'moved/dt=2024-01-01/data.txt']);
    expect((await (await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'paging/moved/dt=2024-01-01/data.txt' }))).Body!.transformToString())).toBe('second!');
    // A download names the version it listed (S3 answers 412 to any other; s3rver ignores the
    // header, so the test checks that it is sent).
    const ifMatch: (string | undefined)[] = [];
    paging.middlewareStack.add(
      (next) => async (args) => {
        ifMatch.push((args.request as { headers: Record<string, string> }).headers['if-match']);
        return next(args);
      },
      { step: 'finalizeRequest', name: 'captureIfMatch' },
    );
    expect(await readFile(await store.localPath('moved/dt=2024-01-01/data.txt', dir, listed[0]!.etag), 'utf8')).toBe('second!');
    expect(ifMatch).toEqual([listed[0]!.etag]);
    // A presigned link opens the object without credentials.
    const link = await store.link('moved/dt=2024-01-01/data.txt');
    expect(link).toMatch(/X-Amz-Signature=/);
    expect(await (await fetch(link)).text()).toBe('second!');
    await expect(store.deletePrefix('')).rejects.toThrow(/folder prefix/);
    await expect(store.deletePrefix('k')).rejects.toThrow(/folder prefix/);
    await store.deletePrefix('k/');
    expect((await store.list('')).map((o) => o.key)).toEqual(['moved/dt=2024-01-01/data.txt']);
    paging.destroy();
  });
});

describe('the fanned-out night (Step Functions handlers)', () => {
  const DATE = '2024-06-30';

  /** A year of generated history as one extract, uploaded under `root`/raw/. */
  async function uploadHistory(root: string, dir: string) {
    for (const name of await readdir(join(dir, 'transactions', `dt=${DATE}`))) {
      const body = await readFile(join(dir, 'transactions', `dt=${DATE}`, name));
      await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${root}/raw/transactions/dt=${DATE}/${name}`, Body: body }));
    }
  }

  it('prepare → scoreShard per listed shard file → finish publishes what the single Lambda publishes', async () => {
    const dir = await tempDir('fanout-src');
    await generateExtracts({ dir, from: '2023-07-01', to: DATE, customers: 2000, seed: 8, malformedRows: 3, singleExtractDate: DATE });
    await uploadHistory('single', dir);
    await uploadHistory('fanned', dir);

    handlerEnvironment('single');
    const { handler } = await import('../functions/nightly.js');
    expect(await handler({ date: DATE }, {} as never)).toMatchObject({ status: 'succeeded' });

    handlerEnvironment('fanned');
    vi.stubEnv('CONFIG_JSON', JSON.stringify({ clv: { shards: 4 } }));
    const { prepare, scoreShard, finish } = await import('../functions/fanout.js');
    const prepared = await prepare({ date: DATE }, {} as never);
    expect(prepared).toMatchObject({ date: DATE, status: 'prepared' });
    // What the Distributed Map's ItemReader does: list the prefix, one item per object.
    const listing = await client.send(new ListObjectsV2Command(prepared.shardListing!));
    const items = (listing.Contents ?? []).map((o) => o.Key!);
    expect(items).toHaveLength(4);
    const scored = await Promise.all(items.map((key) => scoreShard({ key }, {} as never)));
    expect(scored.reduce((n, s) => n + s.customers, 0)).toBe(2000);
    expect(await finish(prepared, {} as never)).toMatchObject({ status: 'succeeded', runId: prepared.runId, customersScored: 2000 });

    const [single, fanned] = [await snapshot('single/curated/'), await snapshot('fanned/curated/')];
    // ETags of single-part objects are the MD5 of their bytes: the tables are byte-identical.
    for (const table of REPRODUCIBLE_TABLES) {
      const key = partitionKey(table, DATE);
      expect(fanned[`fanned/curated/${key}`], table.name).toBe(single[`single/curated/${key}`]);
    }
    expect(Object.keys(fanned).filter((k) => k.includes('_staging'))).toEqual([]);
    // Finish run again after it published (Step Functions retrying a lost response): nothing changes.
    expect(await finish(prepared, {} as never)).toEqual({ date: DATE, status: 'already_published' });
    expect(await snapshot('fanned/curated/')).toEqual(fanned);
    // A second execution for the date stops at prepare: the night is published.
    vi.stubEnv('CONFIG_JSON', JSON.stringify({ clv: { shards: 4 } }));
    expect(await prepare({ date: DATE }, {} as never)).toMatchObject({ status: 'already_published' });
  });

  it('prepare names a missing extract and ends the execution', async () => {
    handlerEnvironment('fanned-missing');
    const { prepare } = await import('../functions/fanout.js');
    expect(await prepare({ date: '2024-01-01' }, {} as never)).toMatchObject({ status: 'missing_extract' });
  });

  it('start names the execution after the run date, hands allowGaps on; a doubled trigger or a forced run during one is refused', async () => {
    const stateMachineArn = 'arn:aws:states:eu-west-1:123456789012:stateMachine:CrmMetricsNight';
    // Response shapes from the AWS Step Functions API Reference (StartExecution, ListExecutions,
    // the ExecutionAlreadyExists error); awsJson1_0 encodes timestamps as epoch seconds.
    const sfnFake = await fakeAwsJson(
      { target: 'AWSStepFunctions', contentType: 'application/x-amz-json-1.0' },
      {
        StartExecution: [
          { body: { executionArn: `${stateMachineArn.replace('stateMachine', 'execution')}:2024-04-01`, startDate: 1711944000 } },
          { status: 400, body: { __type: 'ExecutionAlreadyExists', message: 'Execution Already Exists: 2024-04-01' } },
          { body: { executionArn: `${stateMachineArn.replace('stateMachine', 'execution')}:2024-04-01-force-1`, startDate: 1711944100 } },
          { body: { executionArn: `${stateMachineArn.replace('stateMachine', 'execution')}:2024-04-03`, startDate: 1712116800 } },
        ],
        ListExecutions: [
          { body: { executions: [] } },
          { body: { executions: [] } },
          { body: { executions: [{ executionArn: 'arn:x', stateMachineArn, name: '2024-03-25-force-9', status: 'RUNNING', startDate: 1711944000 }] } },
          { body: { executions: [] } },
          { body: { executions: [] } },
        ],
      },
    );
    // The deployed handler, its client aimed at the stand-in: the scheduler's event at 02:00 UTC on
    // 2024-04-02 runs 2024-04-01.
    vi.stubEnv('AWS_ENDPOINT_URL_SFN', sfnFake.endpoint);
    vi.stubEnv('AWS_REGION', 'eu-west-1');
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'test');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
    vi.stubEnv('STATE_MACHINE_ARN', stateMachineArn);
    const { handler } = await import('../functions/fanout-start.js');
    expect(await handler(SCHEDULED_EVENT, {} as never)).toMatchObject({ date: '2024-04-01', status: 'started', name: '2024-04-01' });
    expect(sfnFake.calls('StartExecution')[0]).toEqual({ stateMachineArn, name: '2024-04-01', input: JSON.stringify({ date: '2024-04-01', force: false }) });
    const sfn = new SFNClient({ endpoint: sfnFake.endpoint, region: 'eu-west-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, maxAttempts: 1 });
    const date = '2024-04-01';
    expect(await startNight({ date, force: false }, sfn, stateMachineArn)).toEqual({ date, status: 'already_started', name: date });
    // While a night of any date runs: refused without starting; once it ended, a forced run gets a new name.
    expect(await startNight({ date, force: true }, sfn, stateMachineArn)).toEqual({ date, status: 'running', name: '2024-03-25-force-9' });
    expect(sfnFake.calls('StartExecution')).toHaveLength(2);
    expect(await startNight({ date, force: true }, sfn, stateMachineArn, 1)).toMatchObject({ status: 'started', name: '2024-04-01-force-1' });
    // An on-demand start that runs despite an unpublished earlier date hands allowGaps to Prepare.
    expect(await handler({ date: '2024-04-03', allowGaps: true }, {} as never)).toMatchObject({ status: 'started', name: '2024-04-03' });
    expect(sfnFake.calls('StartExecution')[3]).toEqual({ stateMachineArn, name: '2024-04-03', input: JSON.stringify({ date: '2024-04-03', force: false, allowGaps: true }) });
    expect(sfnFake.calls('ListExecutions')).toEqual(Array(5).fill({ stateMachineArn, statusFilter: 'RUNNING', maxResults: 1 }));
    sfn.destroy();
  });
});
