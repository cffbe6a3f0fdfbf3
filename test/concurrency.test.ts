/**
 * Issue 15, defects 5 and 6 and the export hardening: one run per destination at a time (the lease
 * under `_lock/`, locally and on S3 over the loopback server), no run over a history with an
 * unpublished earlier extract date unless allowed, what killed runs leave behind (staging folders,
 * scratch directories) swept at the next run's start, and a control.csv that a spreadsheet cannot run.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../functions/cli.js';
import { parseConfig } from '../shared/config.js';
import { DuckDbEngine } from '../shared/adapters/duckdb.js';
import { assignGroup } from '../shared/holdout/assign.js';
import { controlExportKey, finishFannedOut, isPublished, prepareFannedOut, runNightly, scoreShard, type RunDeps } from '../shared/pipeline.js';
import { LocalObjectStore } from '../shared/adapters/local-store.js';
import type { ObjectStore } from '../shared/store/object-store.js';
import { RunLock } from '../shared/store/lock.js';
import { S3_RETRY, S3ObjectStore } from '../shared/adapters/s3-store.js';
import { CSV_HEADER, tempDir } from './helpers.js';
import { loopbackS3Client, startLoopbackS3 } from './loopback-s3.js';

const BUCKET = 'crm-concurrency';
let server: S3rver;
let client: S3Client;
let endpoint: string;

/**
 * s3rver 3.7.1 honours If-None-Match on GET only and overwrites on a conditional PUT. S3 has refused
 * that write with 412 PreconditionFailed since August 2024; the loopback server is given the same
 * answer, with the conditional PUTs of one key serialised so that the check and the write are one
 * step, as they are on S3.
 */
function withConditionalCreate(s3rver: S3rver): void {
  type Context = { method: string; path: string; get(name: string): string; status: number; type: string; body: unknown };
  type Middleware = (ctx: Context, next: () => Promise<void>) => Promise<void>;
  const koa = s3rver as unknown as { middleware: Middleware[]; store: { existsObject(bucket: string, key: string): Promise<boolean> } };
  const queues = new Map<string, Promise<void>>();
  koa.middleware.unshift(async (ctx, next) => {
    if (ctx.method !== 'PUT' || ctx.get('if-none-match') !== '*') return next();
    const [, bucket = '', ...segments] = ctx.path.split('/').map(decodeURIComponent);
    const id = `${bucket}/${segments.join('/')}`;
    const before = queues.get(id) ?? Promise.resolve();
    let done!: () => void;
    const turn = new Promise<void>((resolve) => (done = resolve));
    queues.set(id, before.then(() => turn));
    await before;
    try {
      if (await koa.store.existsObject(bucket, segments.join('/'))) {
        ctx.status = 412;
        ctx.type = 'application/xml';
        ctx.body = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message><Condition>If-None-Match</Condition></Error>';
        return;
      }
      await next();
    } finally {
      done();
    }
  });
}

beforeAll(async () => {
  ({ server, endpoint } = await startLoopbackS3([BUCKET], withConditionalCreate));
  client = loopbackS3Client(endpoint);
});

afterAll(async () => {
  client?.destroy();
  await server?.close();
});

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

const D0 = '2024-03-31';
const D1 = '2024-04-01';
const D2 = '2024-04-02';
const D3 = '2024-04-03';

const orders = (date: string, count = 3) => [
  CSV_HEADER,
  ...Array.from({ length: count }, (_, i) => `${date}-t${i},c${i},${date}T10:00:00,1${i}.00,1,online,EUR,false`),
];

/** A source and a destination, and how to put files into them behind the stores' backs. */
interface Place {
  source: ObjectStore;
  dest: ObjectStore;
  sourceFile(key: string, body: string): Promise<void>;
  destFile(key: string, body: string): Promise<void>;
}

async function localPlace(): Promise<Place & { sourceDir: string; destDir: string }> {
  const [sourceDir, destDir] = [await tempDir('conc-src'), await tempDir('conc-dest')];
  const write = (root: string) => async (key: string, body: string) => {
    await mkdir(dirname(join(root, key)), { recursive: true });
    await writeFile(join(root, key), body);
  };
  return { sourceDir, destDir, source: new LocalObjectStore(sourceDir), dest: new LocalObjectStore(destDir), sourceFile: write(sourceDir), destFile: write(destDir) };
}

let s3Places = 0;
async function s3Place(): Promise<Place> {
  const root = `place-${++s3Places}`;
  const write = (prefix: string) => async (key: string, body: string) => {
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}${key}`, Body: body }));
  };
  return {
    source: new S3ObjectStore(BUCKET, `${root}/raw/`, client),
    dest: new S3ObjectStore(BUCKET, `${root}/curated/`, client),
    sourceFile: write(`${root}/raw/`),
    destFile: write(`${root}/curated/`),
  };
}

const extract = (place: Place, date: string, lines = orders(date)) => place.sourceFile(`transactions/dt=${date}/orders.csv`, lines.join('\n'));

function depsOf(place: Place, extra: Partial<RunDeps> = {}, config: unknown = {}): RunDeps {
  return { source: place.source, dest: place.dest, config: parseConfig(config), openEngine: DuckDbEngine.open, ...extra };
}

/** A lease as a run writes it (`_lock/<epoch>/lease.json`), for a run that is not there. */
const lease = (runId: string, expiresAt: string) => JSON.stringify({ runId, date: D1, host: 'elsewhere', pid: 1, expiresAt });

const keys = async (store: ObjectStore, prefix: string) => (await store.list(prefix)).map((o) => o.key);

describe.each([
  ['local', localPlace],
  ['S3', s3Place],
] as const)('the destination lock (%s)', (_, makePlace) => {
  it('two runs for one date at once: one publishes, the other is refused naming the run that holds the lock', async () => {
    const place = await makePlace();
    await extract(place, D1);
    // The run that gets past the lock waits there (at its engine) until the other one has been
    // answered: the two overlap whatever the scheduling. Two runs past the lock at once fail the test.
    let inside = 0;
    let answered!: () => void;
    const otherAnswered = new Promise<void>((resolve) => (answered = resolve));
    const openEngine: RunDeps['openEngine'] = async (options) => {
      if (++inside > 1) throw new Error('both runs got past the lock');
      await otherAnswered;
      return DuckDbEngine.open(options);
    };
    const run = () => runNightly(D1, depsOf(place, { openEngine })).finally(() => answered());
    const [first, second] = await Promise.allSettled([run(), run()]);
    const outcomes = [first!, second!];
    const published = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
    const refused = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as Error] : []));
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({ status: 'succeeded' });
    expect(refused).toHaveLength(1);
    expect(refused[0]!.name).toBe('DestinationLocked');
    expect(refused[0]!.message).toContain(`held by run ${published[0]!.runId}`);
    expect(await isPublished(place.dest, D1)).toBe(true);
    // Released at the end: an idle destination holds no lock object.
    expect(await keys(place.dest, '_lock/')).toEqual([]);
  });

  it('a lease left by a killed run is taken over once it has run out; a live one refuses', async () => {
    const place = await makePlace();
    await extract(place, D1);
    await place.destFile('_lock/000000000007/lease.json', lease('killed-run', '2000-01-01T00:00:00.000Z'));
    expect(await runNightly(D1, depsOf(place))).toMatchObject({ status: 'succeeded' });
    expect(await keys(place.dest, '_lock/')).toEqual([]);

    await place.destFile('_lock/000000000042/lease.json', lease('live-run', '2999-01-01T00:00:00.000Z'));
    const refused = runNightly(D1, depsOf(place));
    await expect(refused).rejects.toMatchObject({ name: 'DestinationLocked', message: expect.stringContaining('held by run live-run') });
    // Nothing taken over, nothing swept.
    expect(await keys(place.dest, '_lock/')).toEqual(['_lock/000000000042/lease.json']);
  });

  it('a run whose lease another run has taken over meanwhile publishes nothing', async () => {
    const place = await makePlace();
    await extract(place, D1);
    // Once the run holds the lock (it opens its engine then), another run takes the next epoch,
    // as it would once the lease had run out.
    const openEngine: RunDeps['openEngine'] = async (options) => {
      const top = (await keys(place.dest, '_lock/')).map((key) => Number(/_lock\/(\d+)\//.exec(key)?.[1])).pop() ?? 0;
      await place.destFile(`_lock/${String(top + 1).padStart(12, '0')}/lease.json`, lease('taker', '2999-01-01T00:00:00.000Z'));
      return DuckDbEngine.open(options);
    };
    await expect(runNightly(D1, depsOf(place, { openEngine }))).rejects.toMatchObject({ name: 'LockLost', message: expect.stringContaining('run taker holds it') });
    expect(await keys(place.dest, '')).toEqual([expect.stringMatching(/^_lock\/\d{12}\/lease\.json$/)]);
  });

  it("staging folders of other runs are swept at the next run's start", async () => {
    const place = await makePlace();
    await extract(place, D1);
    const killed = '0b5c3f6e-1a2b-4c3d-8e9f-0123456789ab';
    await place.destFile(`_staging/${killed}/customer_scores/dt=2024-04-01/data.parquet`, 'half an upload');
    await place.destFile(`_staging/${killed}/work/state.json`, '{}');
    // Not a run's folder: the pipeline workgroup's Athena results, which the sweep leaves alone.
    await place.destFile('_staging/athena-results/query.csv', 'a result');
    expect(await runNightly(D1, depsOf(place))).toMatchObject({ status: 'succeeded' });
    expect(await keys(place.dest, '_staging/')).toEqual(['_staging/athena-results/query.csv']);
  });
});

describe('S3 create (PutObject with If-None-Match: *)', () => {
  it('of concurrent creates of one key exactly one wins, and the object is its body as written', async () => {
    // A client as the Lambda builds one (the SDK's default checksums), not the test's.
    const lambdaLike = new S3Client({ ...S3_RETRY, endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    const store = new S3ObjectStore(BUCKET, 'create/', lambdaLike);
    const bodies = Array.from({ length: 5 }, (_, i) => JSON.stringify({ writer: i }));
    const won = await Promise.all(bodies.map((body) => store.create('_lock/000000000001/lease.json', body)));
    expect(won.filter(Boolean)).toHaveLength(1);
    const object = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'create/_lock/000000000001/lease.json' }));
    expect(await object.Body!.transformToString()).toBe(bodies[won.indexOf(true)]);
    lambdaLike.destroy();
  });
});

describe('a lease whose create response was lost', () => {
  it('is still taken: the retried create finds its own lease, so the run does not lock itself out', async () => {
    const store = new LocalObjectStore(await tempDir('lock-lossy'));
    // The create goes through but reports a conflict, as an SDK retry of a lost success does (412).
    const lossy: ObjectStore = Object.assign(Object.create(store) as ObjectStore, {
      create: async (key: string, body: string) => (await store.create(key, body), false),
    });
    const options = { now: () => new Date(), scratchRoot: await tempDir('lock-scratch') };
    const lock = await RunLock.acquire(lossy, { runId: 'run-a', date: D1 }, options);
    await lock.confirm();
    await expect(RunLock.acquire(store, { runId: 'run-b', date: D1 }, options)).rejects.toThrow(/held by run run-a/);
    await lock.release();
    await (await RunLock.acquire(store, { runId: 'run-b', date: D1 }, options)).release();
  });
});

describe('runs in date order', () => {
  it('D+1 is refused while D is unpublished, and runs with allowGaps; a date without extract is no gap', async () => {
    const place = await localPlace();
    // 2024-03-31 delivered only a marker: a missing extract, not a date to wait for.
    await place.sourceFile(`transactions/dt=${D0}/_SUCCESS`, '');
    await extract(place, D1);
    await extract(place, D2);
    const refused = runNightly(D2, depsOf(place));
    await expect(refused).rejects.toMatchObject({ name: 'EarlierDatesUnpublished' });
    await expect(refused).rejects.toThrow(`${D2}: 1 earlier extract date is not published (${D1})`);
    await expect(refused).rejects.toThrow(`--from ${D1} --to ${D2}`);
    expect(await isPublished(place.dest, D2)).toBe(false);
    expect(await keys(place.dest, '')).toEqual([]);

    expect(await runNightly(D2, depsOf(place, { allowGaps: true }))).toMatchObject({ status: 'succeeded' });
    // D itself has nothing unpublished before it (D0 had no extract).
    expect(await runNightly(D1, depsOf(place))).toMatchObject({ status: 'succeeded' });
  });

  it('the first run into an empty destination with earlier extracts is refused; the backfill it names runs', async () => {
    const place = await localPlace();
    for (const date of [D1, D2, D3]) await extract(place, date);
    await expect(runNightly(D3, depsOf(place))).rejects.toThrow(`${D3}: 2 earlier extract dates are not published (${D1}, ${D2})`);
    vi.spyOn(console, 'log').mockImplementation(() => {});
    expect(await main(['run', '--from', D1, '--to', D3, '--source', place.sourceDir, '--dest', place.destDir, '--quiet'])).toBe(0);
    for (const date of [D1, D2, D3]) expect(await isPublished(place.dest, date)).toBe(true);
  });

  it('crm-metrics run exits 4 for an unpublished earlier date (--allow-gaps runs it) and 5 while another run holds the lock', async () => {
    const place = await localPlace();
    await extract(place, D1);
    await extract(place, D2);
    vi.spyOn(console, 'log').mockImplementation(() => {});
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    const run = (...args: string[]) => main(['run', '--source', place.sourceDir, '--dest', place.destDir, '--quiet', ...args]);

    expect(await run('--date', D2)).toBe(4);
    expect(errors.mock.calls.at(-1)?.[0]).toMatch(/^crm-metrics: EarlierDatesUnpublished: 2024-04-02: 1 earlier extract date is not published/);
    expect(await run('--date', D2, '--allow-gaps')).toBe(0);

    await place.destFile('_lock/000000000001/lease.json', lease('live-run', '2999-01-01T00:00:00.000Z'));
    expect(await run('--date', D1)).toBe(5);
    expect(errors.mock.calls.at(-1)?.[0]).toMatch(/^crm-metrics: DestinationLocked: .* is held by run live-run/);
    expect(await isPublished(place.dest, D1)).toBe(false);
  });
});

describe('the nightly Lambda', () => {
  it('refuses a date after an unpublished one, and runs it with allowGaps in the event', async () => {
    const place = await s3Place();
    await extract(place, D1);
    await extract(place, D2);
    const { bucket, prefix } = place.source as S3ObjectStore;
    vi.stubEnv('SOURCE_URI', `s3://${bucket}/${prefix}`);
    vi.stubEnv('DEST_URI', `s3://${bucket}/${(place.dest as S3ObjectStore).prefix}`);
    vi.stubEnv('AWS_ENDPOINT_URL_S3', endpoint);
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'S3RVER');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'S3RVER');
    vi.stubEnv('AWS_REGION', 'us-east-1');
    const { handler } = await import('../functions/nightly.js');
    await expect(handler({ date: D2 }, {} as never)).rejects.toMatchObject({ name: 'EarlierDatesUnpublished' });
    expect(await handler({ date: D2, allowGaps: true }, {} as never)).toMatchObject({ status: 'succeeded' });
    expect(await keys(place.dest, '_lock/')).toEqual([]);
  });
});

describe('the fanned-out night', () => {
  const SHARDED = { clv: { shards: 2 } };

  it('holds the lock from Prepare to Finish: another run in between is refused, Finish releases it', async () => {
    const place = await localPlace();
    await extract(place, D1, orders(D1, 20));
    const prepared = await prepareFannedOut(D1, depsOf(place, {}, SHARDED));
    expect(prepared.status).toBe('prepared');
    if (prepared.status !== 'prepared') return;
    await expect(runNightly(D1, depsOf(place))).rejects.toMatchObject({ name: 'DestinationLocked', message: expect.stringContaining(prepared.runId) });
    for (const key of prepared.shardKeys) await scoreShard(key, depsOf(place, {}, SHARDED));
    expect(await finishFannedOut(prepared.runId, depsOf(place, {}, SHARDED))).toMatchObject({ status: 'succeeded', runId: prepared.runId });
    expect(await keys(place.dest, '_lock/')).toEqual([]);
    expect(await keys(place.dest, '_staging/')).toEqual([]);
  });

  it('a Finish whose lease another run has taken over meanwhile publishes nothing', async () => {
    const place = await localPlace();
    await extract(place, D1, orders(D1, 20));
    const prepared = await prepareFannedOut(D1, depsOf(place, {}, SHARDED));
    if (prepared.status !== 'prepared') throw new Error(`not prepared: ${prepared.status}`);
    for (const key of prepared.shardKeys) await scoreShard(key, depsOf(place, {}, SHARDED));
    // As if the night's lease had run out and another run had taken the next epoch.
    const top = (await keys(place.dest, '_lock/')).map((key) => Number(/_lock\/(\d+)\//.exec(key)?.[1])).pop() ?? 0;
    await place.destFile(`_lock/${String(top + 1).padStart(12, '0')}/lease.json`, lease('other-run', '2999-01-01T00:00:00.000Z'));
    await expect(finishFannedOut(prepared.runId, depsOf(place, {}, SHARDED))).rejects.toMatchObject({ name: 'LockLost', message: expect.stringContaining('other-run') });
    expect(await isPublished(place.dest, D1)).toBe(false);
  });
});

describe('scratch directories left by killed runs', () => {
  it("are swept at the next run's start: a dead process's, and this process's own that no run holds; others are kept", async () => {
    const place = await localPlace();
    await extract(place, D1);
    const root = await tempDir('conc-scratch');
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    const names = {
      deadProcess: `crm-metrics-run-${dead}-0-0badf00d`,
      // A Lambda runtime restarted after a timeout may have the same pid: not a run of this process.
      thisProcessEnded: `crm-metrics-shard-${process.pid}-${threadId}-0badcafe`,
      liveProcess: `crm-metrics-run-${process.ppid}-0-0000beef`,
      otherThread: `crm-metrics-state-${process.pid}-${threadId + 1}-00c0ffee`,
      notOurs: 'crm-metrics-run-notours',
    };
    for (const name of Object.values(names)) {
      await mkdir(join(root, name, 'engine'), { recursive: true });
      await writeFile(join(root, name, 'engine', 'spill.tmp'), 'x'.repeat(1000));
    }
    expect(await runNightly(D1, depsOf(place, { scratchRoot: root }))).toMatchObject({ status: 'succeeded' });
    expect((await readdir(root)).sort()).toEqual([names.liveProcess, names.notOurs, names.otherThread].sort());
  });
});

describe('control.csv', () => {
  it('an id a spreadsheet would run is written quoted behind a single quote; ordinary ids are unchanged', async () => {
    const place = await localPlace();
    const holdout = { salt: 'spreadsheet', control_share: 0.99 };
    const formula = "=cmd|' /C calc'!A0";
    const risky = [formula, '+4915112345678', '-42', '@SUM(A1:A9)', '\tTAB', '\rCR', "'quoted"];
    const ordinary = ['c1', 'c2', 'x=1', 'a,b'];
    const ids = [...risky, ...ordinary];
    const control = ids.filter((id) => assignGroup(id, { salt: holdout.salt, controlShare: holdout.control_share, hashVersion: 2 }) === 'control');
    expect(control).toEqual(ids); // the salt puts every id of the test into the exported group
    const lines = ids.map((id, i) => JSON.stringify({ transaction_id: `t${i}`, customer_id: id, ordered_at: `${D1}T10:00:00`, amount: 10 + i }));
    await place.sourceFile(`transactions/dt=${D1}/orders.jsonl`, lines.join('\n'));
    expect(await runNightly(D1, depsOf(place, {}, { holdout }))).toMatchObject({ status: 'succeeded', rowsAccepted: ids.length });

    const file = join(place.destDir, controlExportKey(D1));
    const text = await readFile(file, 'utf8');
    expect(text).toContain(`"'${formula}"\n`);
    for (const id of ['c1', 'c2', 'x=1']) expect(text).toContain(`\n${id}\n`);
    // Read back as CSV: each risky id behind one quote, every other id exactly as delivered.
    const engine = await DuckDbEngine.open();
    try {
      const rows = await engine.query<{ customer_id: string }>(
        `SELECT customer_id FROM read_csv('${file}', header = true, all_varchar = true, delim = ',', quote = '"', escape = '"', auto_detect = false, columns = {'customer_id': 'VARCHAR'})`,
      );
      const expected = [...ids].sort().map((id) => (risky.includes(id) ? `'${id}` : id));
      expect(rows.map((r) => r.customer_id).sort()).toEqual(expected.sort());
    } finally {
      await engine.close();
    }
  });
});
