/**
 * One nightly run for one date, the single entry into the product's work: the CLI, the Lambda
 * handler and the Slack command's `run` all call {@link runNightly}.
 *
 * Flow: list the date's extract → stage and validate every row (rejects kept) → dedupe against the
 * curated history → fit the CLV models on the customers' summary (phase one, {@link prepare}) →
 * score RFM and CLV, analyse the holdout, KPIs and report, each table to a local scratch file →
 * publish them, manifest last (phase two, {@link finish}). Nothing is published unless every table
 * was written. The phases run in one process, or, fanned out, in separate ones with any number of
 * shard scorers between them (the Step Functions night; `clv.shards` > 1 runs that protocol here).
 */
import { randomUUID } from 'node:crypto';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { partitionKey, partitionPrefix, type Table } from './catalog.js';
import { checkTable } from './tables/checks.js';
import { campaignDaily, crmEvents, holdoutAssignment, kpiDaily, forecastAccuracy, rejects, runManifest, sourceManifest, TABLES, tablesFactsSpec, transactions } from './tables/index.js';
import type { BuildContext, IngestContext, TableModel } from './tables/model.js';
import type { ModelFitRow } from './tables/model-fit.js';
import type { Config } from './config.js';
import { isCalendarDate } from './dates.js';
import { LocalHistory, RemoteHistory, type HistoryEngine, type RemoteEngine } from './engine/history.js';
import type { SqlEngine } from './engine/sql-engine.js';
import { createNightTables, dropSeenOrders, dropStaging, ingestExtract, ingestKind, recordSource, type ExtractFile, type IngestCounts } from './ingest/ingest.js';
import { sourceKind } from './ingest/kinds.js';
import { localize } from './ingest/localize.js';
import { formatOf, type FileFormat } from './ingest/stage-sql.js';
import { customerScoresSql } from './rfm/rfm-sql.js';
import { customerSummarySql } from './clv/summary-sql.js';
import { channelFactsSql, CHANNEL_FACTS_TABLE, customerFactsSql, FACTS_TABLE } from './history/customer-facts.js';
import { CLV_SUMMARY_TABLE, fitClv, readClvInputs, scoredViewSql, scoreInEngine } from './clv/score-customers.js';
import { loadShardScores, scoreShardFile, writeShardInputs } from './clv/shard-files.js';
import type { FittedClv } from './clv/shards.js';
import { channelHoldouts, holdoutAssignmentSql } from './holdout/assign-sql.js';
import { controlExportSql } from './holdout/export-sql.js';
import { NO_TRACKING_ACTUALS, TRACKING_ACTUALS, trackingActualsSql } from './clv/validate.js';
import { gatherReportData, TREND_RUNS } from './report/data.js';
import { renderReport } from './report/html.js';
import { attributionDeltaSql, ATTRIBUTION_DELTA_TABLE } from './crm/attribution-sql.js';
import { carriedFrom } from './tables/carried-state.js';
import { copyToParquet, countRows, dateLiteral, literal, readParquet, selectAs } from './sql/dialect.js';
import { runOfShardKey, shardInputPrefix, shardScoresKey, STAGING_ROOT, stagingPrefix, stateKey, workFolder } from './staging.js';
import { RunLock, type LockOptions } from './store/lock.js';
import type { ObjectInfo, ObjectStore } from './store/object-store.js';
import { makeScratch, removeScratch, type ScratchKind } from './store/scratch.js';

export interface ProgressEvent {
  stage: string;
  /** Rows handled by the stage, when it counts rows. */
  rows?: number;
  elapsedMs: number;
}

export interface RunDeps {
  source: ObjectStore;
  dest: ObjectStore;
  config: Config;
  /** Opens a fresh engine for the run; `tempDirectory` is where it may spill. */
  openEngine: (options: { tempDirectory: string }) => Promise<SqlEngine>;
  /** An engine next to the data (Athena) for the queries over the whole history, when configured. */
  remote?: RemoteEngine;
  /** Parent of the run's scratch directory (default: the OS temp dir; /tmp on Lambda). */
  scratchRoot?: string;
  /**
   * Run although an earlier extract date is not published (see {@link unpublishedEarlierDates}):
   * the run's history then lacks those dates' orders. Off by default.
   */
  allowGaps?: boolean;
  /** How long a fanned-out Prepare hands the lock over for: the whole night's timeout (default FANNED_OUT_LEASE_MS). */
  fannedOutLeaseMs?: number;
  onProgress?: (event: ProgressEvent) => void;
  now?: () => Date;
}

export type RunStatus = 'succeeded' | 'empty_extract' | 'missing_extract';

export interface RunResult extends IngestCounts {
  runId: string;
  date: string;
  status: RunStatus;
  customersScored: number;
  /** Where the extract was looked for: the answer to "why nothing was published". */
  extractLocation: string;
  /** The published HTML report (absent when nothing was published). */
  report?: string;
}

const EXTRACT_PREFIX = 'transactions';
const RUN_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Where a run's HTML report is published (self-contained: open it from anywhere). */
export function reportKey(date: string): string {
  return `reports/dt=${date}/index.html`;
}

/** Where a run's exclusion list (control-group customer ids, CSV) is published; with a channel, that channel's. */
export function controlExportKey(date: string, channel?: string): string {
  return `exports/holdout/dt=${date}/${controlExportFile(channel)}`;
}

const controlExportFile = (channel?: string) => (channel ? `control-${channel}.csv` : 'control.csv');

/** Whether a run for the date has been published (its manifest exists, and it is written last). */
export async function isPublished(dest: ObjectStore, date: string): Promise<boolean> {
  return (await dest.list(partitionKey(runManifest, date))).length > 0;
}

/** What a triggered night returns: the run, or why it did not run. */
export type NightlyOutcome = RunResult | { date: string; status: 'already_published' };

/**
 * The night for a date as a trigger (schedule, Slack) asks for it: a published date is left alone
 * unless `force`, so a retried or doubled trigger does not redo a night.
 */
export async function runUnlessPublished(date: string, force: boolean, deps: RunDeps): Promise<NightlyOutcome> {
  if (!force && (await isPublished(deps.dest, date))) return { date, status: 'already_published' };
  return runNightly(date, deps);
}

export class RunError extends Error {
  override name = 'RunError';
}

/** The run was refused: an earlier extract date is not published, so its history would lack those orders. */
export class EarlierDatesUnpublished extends RunError {
  override name = 'EarlierDatesUnpublished';
  constructor(
    readonly date: string,
    readonly dates: readonly string[],
  ) {
    const listed = dates.length <= 3 ? dates.join(', ') : `${dates[0]}, ${dates[1]} … ${dates.at(-1)}`;
    const count = dates.length === 1 ? '1 earlier extract date is' : `${dates.length} earlier extract dates are`;
    super(
      `${date}: ${count} not published (${listed}): this run would score a history without their orders. ` +
        `Run them first, in date order (crm-metrics run --from ${dates[0]} --to ${date}), or run anyway with --allow-gaps (allowGaps in a Lambda event)`,
    );
  }
}

/** A table's partitions in a store, by date, for dates passing `keep`. */
async function partitions(store: ObjectStore, table: Table, keep: (date: string) => boolean): Promise<Map<string, ObjectInfo>> {
  const found = new Map<string, ObjectInfo>();
  for (const object of await store.list(`${table.name}/`)) {
    const date = /\/dt=(\d{4}-\d{2}-\d{2})\/data\.parquet$/.exec(object.key)?.[1];
    if (date && keep(date)) found.set(date, object);
  }
  return found;
}

/** Extract files are everything under the date's prefix except markers (`_SUCCESS`) and hidden files. */
function isExtractFile({ key }: ObjectInfo): boolean {
  const name = key.split('/').pop() ?? '';
  return !name.startsWith('.') && !name.startsWith('_');
}

export async function runNightly(date: string, deps: RunDeps): Promise<RunResult> {
  const started = await startRun(date, deps);
  if ('status' in started) return started;
  const lock = await claimDestination(started, deps);
  try {
    if (deps.config.clv.shards > 1) {
      // The fan-out's protocol, in this process and under one lock: three phases that share
      // nothing but the store.
      const prepared = await prepareClaimed(started, deps, lock);
      for (const key of prepared.shardKeys) await scoreShard(key, deps);
      return await finishClaimed(prepared.runId, deps, lock);
    }
    const run = await openRun(started, deps, lock);
    try {
      const state = await prepare(run, false);
      return await finish(run, state);
    } finally {
      await run.close();
    }
  } finally {
    await release(lock);
  }
}

/** What a run knows before it opens its engine: its identity and the extract it will read. */
interface RunStart {
  runId: string;
  date: string;
  startedAt: string;
  extract: ObjectInfo[];
}

/** Where the date's extract is and, when it has no files, the `missing_extract` result instead. */
async function startRun(date: string, deps: RunDeps): Promise<RunStart | RunResult> {
  if (!isCalendarDate(date)) throw new RunError(`invalid run date "${date}": expected YYYY-MM-DD`);
  const runId = randomUUID();
  const startedAt = (deps.now ?? (() => new Date()))().toISOString();
  const extractPrefix = `${EXTRACT_PREFIX}/dt=${date}/`;
  const extract = (await deps.source.list(extractPrefix)).filter(isExtractFile);
  if (extract.length === 0) {
    return {
      runId,
      date,
      status: 'missing_extract',
      extractLocation: deps.source.describe(extractPrefix),
      customersScored: 0,
      ...{ filesRead: 0, rowsRead: 0, rowsAccepted: 0, rowsRejected: 0, rowsDuplicate: 0, ordersAdded: 0 },
    };
  }
  return { runId, date, startedAt, extract };
}

function lockOptions(deps: RunDeps): LockOptions {
  return { now: deps.now ?? (() => new Date()), scratchRoot: deps.scratchRoot ?? tmpdir() };
}

/**
 * Takes the destination's lock for the run (DestinationLocked while another run holds it), refuses
 * the run while an earlier extract date is unpublished (EarlierDatesUnpublished, unless
 * `allowGaps`), and then removes what killed runs left in the staging folder: with the lock held,
 * no other run is live, so every other run's staging is stale. A refused run changes nothing.
 */
async function claimDestination(start: RunStart, deps: RunDeps): Promise<RunLock> {
  const lock = await RunLock.acquire(deps.dest, { runId: start.runId, date: start.date }, lockOptions(deps));
  try {
    if (!deps.allowGaps) {
      const gaps = await unpublishedEarlierDates(deps.source, deps.dest, start.date);
      if (gaps.length > 0) throw new EarlierDatesUnpublished(start.date, gaps);
    }
    // Runs' folders only (ids are UUIDs): the pipeline workgroup's Athena results live there too.
    const staged = new Set((await deps.dest.list(STAGING_ROOT)).map(({ key }) => key.slice(STAGING_ROOT.length).split('/')[0]!));
    for (const runId of staged) if (RUN_ID.test(runId) && runId !== start.runId) await deps.dest.deletePrefix(stagingPrefix(runId));
    return lock;
  } catch (error) {
    await release(lock);
    throw error;
  }
}

/** A lease that could not be deleted (the store failing) runs out by itself: not worth failing a run over. */
async function release(lock: RunLock): Promise<void> {
  await lock.release().catch(() => {});
}

/**
 * Extract dates before `date` whose run is not published: extract files under
 * `transactions/dt=X/` in the source, no `run_manifest` partition for X in the destination. A run
 * for `date` would score a history without their orders (and mark it "succeeded"). A date without
 * extract files (a missing extract) is no gap: there is nothing to wait for.
 */
async function unpublishedEarlierDates(source: ObjectStore, dest: ObjectStore, date: string): Promise<string[]> {
  const extractDates = new Set<string>();
  for (const object of await source.list(`${EXTRACT_PREFIX}/`)) {
    const day = /^transactions\/dt=(\d{4}-\d{2}-\d{2})\//.exec(object.key)?.[1];
    // A folder named after no real day (dt=2024-02-30) can never be run, so it is no gap to wait for.
    if (day !== undefined && day < date && isCalendarDate(day) && isExtractFile(object)) extractDates.add(day);
  }
  const published = await partitions(dest, runManifest, (day) => day < date);
  return [...extractDates].filter((day) => !published.has(day)).sort();
}

/**
 * What the first phase hands the last: serialisable, so that the phases can run in different
 * processes (the fanned-out night keeps it in the run's staging folder).
 */
interface RunState extends RunStart {
  counts: IngestCounts;
  fits: ModelFitRow[];
  fitted: FittedClv;
  /** Store keys of the shard files when scoring is fanned out (none without customers); absent when scored in process. */
  shardKeys?: string[];
  /** The earlier run whose campaign_daily tonight's attribution delta is added to; absent when rebuilt from nothing. */
  carriedFrom?: string;
}

/** A run with its engine and scratch folder open: the phases' working context. */
interface Run extends RunStart {
  deps: RunDeps;
  /** The destination's lock, held by this run: confirmed right before publishing. */
  lock: RunLock;
  engine: SqlEngine;
  scratch: string;
  /** The local file of a table this run writes. */
  output: (table: Table) => string;
  /** Builds a table, writes it as the run's file (catalog shape, sorted by its orderBy) and checks it. */
  write: <C>(table: TableModel & { build(ctx: C): Promise<string> | string }, ctx: C) => Promise<void>;
  now: () => Date;
  progress: (stage: string, rows?: number) => void;
  /** Earlier runs' partitions of a table, by date (listed once per table). */
  earlier: (table: Table) => Promise<Map<string, ObjectInfo>>;
  /** The local file of an earlier run's partition (fetched once). */
  fetch: (table: Table, date: string) => Promise<string>;
  /** The local files of every earlier partition of a table. */
  earlierFiles: (table: Table) => Promise<string[]>;
  close: () => Promise<void>;
}

async function openRun(start: RunStart, deps: RunDeps, lock: RunLock): Promise<Run> {
  const now = deps.now ?? (() => new Date());
  const scratch = await newScratch(deps, 'run');
  const engine = await deps.openEngine({ tempDirectory: join(scratch, 'engine') }).catch(async (error: unknown) => {
    await removeScratch(scratch);
    throw error;
  });
  const output = (table: Table) => join(scratch, `${table.name}.parquet`);
  const listed = new Map<string, Promise<Map<string, ObjectInfo>>>();
  const earlier = (table: Table) => {
    if (!listed.has(table.name)) listed.set(table.name, partitions(deps.dest, table, (d) => d < start.date));
    return listed.get(table.name)!;
  };
  const fetched = new Map<string, Promise<string>>();
  const fetch = async (table: Table, date: string) => {
    const key = (await earlier(table)).get(date)?.key;
    if (!key) throw new RunError(`${table.name}: no partition for ${date}`);
    if (!fetched.has(key)) fetched.set(key, deps.dest.localPath(key, scratch));
    return fetched.get(key)!;
  };
  return {
    ...start,
    deps,
    lock,
    engine,
    scratch,
    output,
    write: async (table, ctx) => {
      const relation = await table.build(ctx);
      await engine.run(copyToParquet(selectAs(table, relation, 'keepsBuildOrder' in table), output(table)));
      await checkTable(engine, table, output(table), deps.config);
    },
    now,
    progress: (stage, rows) =>
      deps.onProgress?.({ stage, ...(rows === undefined ? {} : { rows }), elapsedMs: now().getTime() - Date.parse(start.startedAt) }),
    earlier,
    fetch,
    earlierFiles: async (table) => Promise.all([...(await earlier(table)).keys()].map((day) => fetch(table, day))),
    close: async () => {
      await engine.close();
      await removeScratch(scratch);
    },
  };
}

export type HistoryEngineKind = 'local' | 'remote';

/**
 * Where the history queries run: as configured, or for `auto` on the remote engine once the
 * curated history is larger than one function should fetch and scan (and a remote engine exists).
 */
export function chooseHistoryEngine(engine: Config['engine'], historyBytes: number, remoteAvailable: boolean): HistoryEngineKind {
  if (engine.history === 'athena' && !remoteAvailable) {
    throw new RunError('engine.history is "athena" but no Athena is configured (ATHENA_WORKGROUP and GLUE_DATABASE on AWS)');
  }
  if (engine.history === 'auto') return remoteAvailable && historyBytes > engine.auto_max_history_gb * 1e9 ? 'remote' : 'local';
  return engine.history === 'athena' ? 'remote' : 'local';
}

/** The history as the run sees it: earlier nights' partitions and this run's new orders. */
async function historyOf(run: Run, kind: HistoryEngineKind): Promise<HistoryEngine> {
  if (kind === 'remote') return new RemoteHistory(run.deps.remote!, run.engine, run, run.deps.dest, run.scratch);
  return new LocalHistory(run.engine, await run.earlierFiles(transactions), run.output(transactions));
}

/**
 * An extract's files brought local (decompressed, line endings normalised) in the run's scratch,
 * numbered from `firstIndex` so that the copies of several extracts never collide.
 */
async function localizeExtract(run: Run, objects: readonly ObjectInfo[], configured: FileFormat | undefined, firstIndex: number): Promise<ExtractFile[]> {
  const files: ExtractFile[] = [];
  for (const [i, { key, etag }] of objects.entries()) {
    const format = formatOf(key, configured);
    files.push({ key, format, local: format && (await localize(run.deps.source, key, run.scratch, firstIndex + i, format !== 'parquet', etag)) });
  }
  return files;
}

/**
 * The CRM platform's extracts of the date, kind by kind after the transactions: each kind's files
 * (none is a night without it: zeros in source_manifest), its curated table, its rejects.
 * `fileIndex` continues the transactions' file numbering, so that local copies never collide.
 */
async function ingestCrmKinds(run: Run, fileIndex: number): Promise<void> {
  const { deps, engine, date } = run;
  const ingested: IngestContext = { engine, config: deps.config };
  for (const table of TABLES) {
    if (!('source' in table)) continue;
    const kind = sourceKind(table.source);
    const input = deps.config.sources[kind.name];
    const objects = (await deps.source.list(`${kind.name}/dt=${date}/`)).filter(isExtractFile);
    const files = await localizeExtract(run, objects, input.format, fileIndex);
    fileIndex += files.length;
    const counts = await ingestKind(engine, files, kind, input, date, await run.earlierFiles(table));
    await run.write(table, ingested);
    await recordSource(engine, kind.name, counts);
    await dropStaging(engine);
  }
}

/** First phase: ingest the extract, summarise the customers and fit the CLV models. */
async function prepare(run: Run, fanOut: boolean): Promise<RunState> {
  const { deps, engine, date } = run;
  const files = await localizeExtract(run, run.extract, deps.config.input.format, 0);
  const earlier = await run.earlier(transactions);
  const historyBytes = [...earlier.values()].reduce((sum, o) => sum + o.bytes, 0);
  const historyEngine = chooseHistoryEngine(deps.config.engine, historyBytes, deps.remote !== undefined);
  const historyFiles = historyEngine === 'local' ? await run.earlierFiles(transactions) : [];
  run.progress('ingest');
  await createNightTables(engine);
  let counts = await ingestExtract(engine, files, deps.config.input, date, historyFiles);
  const ingested: IngestContext = { engine, config: deps.config };
  await run.write(transactions, ingested);
  // The remote engine and a later phase find the new orders in the run's staging folder.
  const staged = new Set<Table>();
  const stage = async (tables: readonly Table[]) => {
    for (const table of tables) await deps.dest.put(`${workFolder(run.runId, table.name)}data.parquet`, run.output(table));
    for (const table of tables) staged.add(table);
  };
  if (historyEngine === 'remote') await stage([transactions]);
  const history = await historyOf(run, historyEngine);
  if (historyEngine === 'remote') {
    // The history stayed remote, so the ingest could only dedupe within the extract: the remote
    // engine names the staged orders it has seen on earlier days, and those are dropped here.
    const seen = await dropSeenOrders(engine, deps.config.input, history);
    if (seen.orders > 0) {
      await run.write(transactions, ingested);
      counts = { ...counts, rowsAccepted: counts.rowsAccepted - seen.rows, rowsDuplicate: counts.rowsDuplicate + seen.rows, ordersAdded: counts.ordersAdded - seen.orders };
      await stage([transactions]);
    }
  }
  await recordSource(engine, 'transactions', counts);
  await dropStaging(engine);
  await ingestCrmKinds(run, files.length);
  await run.write(rejects, ingested);
  await run.write(sourceManifest, ingested);
  // The transactions are there already when the remote engine needed them.
  if (fanOut) await stage(PREPARED_OUTPUTS.filter((table) => !staged.has(table)));
  run.progress('ingested', counts.rowsRead);

  // The night's one pass over the history; everything after it reads its rows.
  const spec = tablesFactsSpec(deps.config, date);
  await history.materialize(FACTS_TABLE, customerFactsSql(history.history, spec));
  run.progress('facts');
  await engine.run(`CREATE TEMP TABLE ${CLV_SUMMARY_TABLE} AS ${customerSummarySql(`SELECT * FROM ${FACTS_TABLE}`, date, deps.config.clv.time_unit)}`);
  const inputs = await readClvInputs(engine);
  // The per-channel facts and the attribution are built while this thread fits the models:
  // one query in flight on the engine's threads, the fit on this one (0.3 s less at 1M customers on two cores).
  let carried: string | undefined;
  const historyDone = history
    .materialize(CHANNEL_FACTS_TABLE, channelFactsSql(history.history, spec))
    .then(async () => (carried = await attributeOrders(run, history)))
    .then(async () => {
      // Only on the nights the model is validated; else an empty table for the fanned-out phases.
      const actuals = trackingActualsSql(history.history, date, deps.config.clv);
      if (actuals) await history.materialize(TRACKING_ACTUALS, actuals);
      else await engine.run(`CREATE OR REPLACE TEMP TABLE ${TRACKING_ACTUALS} AS ${NO_TRACKING_ACTUALS}`);
    });
  const { fits, fitted } = await alongside(historyDone, () => fitClv(inputs, deps.config.clv));
  const state: RunState = { runId: run.runId, date, startedAt: run.startedAt, extract: run.extract, counts, fits, fitted, ...(carried ? { carriedFrom: carried } : {}) };
  if (fanOut) {
    for (const table of FACTS_TABLES) {
      await engine.run(copyToParquet(`SELECT * FROM ${table}`, join(run.scratch, `${table}.parquet`)));
      await deps.dest.put(factsKey(run.runId, table), join(run.scratch, `${table}.parquet`));
    }
    state.shardKeys = await stageShardInputs(run);
  }
  run.progress('fitted');
  return state;
}

/**
 * What tonight changes in the orders credited to CRM messages (`attribution-sql.ts`), as the temp
 * table {@link ATTRIBUTION_DELTA_TABLE}; returns the run whose campaign_daily it is added to
 * (undefined: rebuilt from nothing). With that run, the orders to credit are tonight's and the
 * earlier ones after tonight's first open or click (a late event may take them over); without it,
 * every order since the first open or click. The orders come from the history engine (where the
 * history is), in one narrow statement; the attribution runs on the events in the embedded
 * engine, on those in the attribution window before the first order only.
 */
async function attributeOrders(run: Run, history: HistoryEngine): Promise<string | undefined> {
  const { engine, date, deps } = run;
  const carried = await carriedFrom({ ...run, config: deps.config }, campaignDaily, [transactions, crmEvents]);
  const earlierFiles = await run.earlierFiles(crmEvents);
  const events = (files: readonly string[], where = 'true') => `SELECT * FROM ${readParquet(files)} WHERE ${where}`;
  const fresh = carried ? [run.output(crmEvents)] : [...earlierFiles, run.output(crmEvents)];
  const [{ first }] = (await engine.query(`SELECT CAST(min(occurred_at) AS DATE) AS first FROM (${events(fresh)}) AS e WHERE event_type IN ('opened', 'clicked')`)) as [{ first: string | null }];
  const purchases = (from: string, isNew: boolean, firstDay?: string) =>
    `SELECT transaction_id, customer_id, ordered_at, amount, is_return, ${isNew} AS is_new FROM (${from}) AS h
      WHERE NOT is_return${firstDay ? ` AND order_date BETWEEN ${dateLiteral(firstDay)} AND ${dateLiteral(date)}` : ''}`;
  // Tonight's orders can go to an earlier night's touch: there was one if the totals have a first response.
  const touchedBefore = carried && (await engine.query(`SELECT 1 FROM ${readParquet([await run.fetch(campaignDaily, carried)])} WHERE first_opens + first_clicks > 0 LIMIT 1`)).length > 0;
  const toCredit = carried
    ? [...(first || touchedBefore ? [purchases(history.staged, true)] : []), ...(first ? [purchases(history.earlier, false, first)] : [])]
    : first ? [purchases(history.history, true, first)] : [];
  let orders = `${purchases(`SELECT * FROM ${readParquet([run.output(transactions)])}`, true)} AND false`;
  if (toCredit.length) {
    await history.materialize('crm_orders', toCredit.join('\nUNION ALL\n'));
    orders = 'SELECT * FROM crm_orders';
  }
  // The touches that can credit these orders: in the longer window before the first of them.
  const windowDays = Math.max(deps.config.attribution.click_days, deps.config.attribution.open_days);
  const [{ start }] = (await engine.query(`SELECT strftime(min(ordered_at) - INTERVAL '${windowDays}' DAY, '%Y-%m-%d %H:%M:%S.%f') AS start FROM (${orders}) AS o`)) as [{ start: string | null }];
  const inWindow = start === null ? 'false' : `occurred_at >= TIMESTAMP ${literal(start)}`;
  const earlierEvents = carried && earlierFiles.length ? events(earlierFiles, inWindow) : undefined;
  const delta = attributionDeltaSql(orders, events([...earlierFiles, run.output(crmEvents)], inWindow), earlierEvents, deps.config.attribution);
  await engine.run(`CREATE OR REPLACE TEMP TABLE ${ATTRIBUTION_DELTA_TABLE} AS ${delta}`);
  return carried;
}

/** Last phase: the night's shared intermediates, then every table from the index, the report; publish everything. */
async function finish(run: Run, state: RunState): Promise<RunResult> {
  const { deps, engine, date } = run;
  const ctx = await intermediates(run, state);
  for (const table of TABLES) {
    if ('phase' in table) continue;
    await run.write(table, ctx);
    run.progress(table.name);
  }
  const { counts, customersScored, status } = ctx.run;
  const recent = async (table: Table) => {
    const dates = [...(await run.earlier(table)).keys()].sort().slice(-(TREND_RUNS - 1));
    return Promise.all(dates.map(async (day) => ({ date: day, file: await run.fetch(table, day) })));
  };
  const seconds = (run.now().getTime() - Date.parse(run.startedAt)) / 1000;
  const reportData = await gatherReportData(
    engine,
    { output: (name) => join(run.scratch, `${name}.parquet`), scores: ctx.scored, kpiHistory: await recent(kpiDaily), forecastHistory: await recent(forecastAccuracy) },
    { date, display: deps.config.display, run: { status, ...pick(counts, 'rowsRead', 'rowsAccepted', 'rowsRejected', 'rowsDuplicate'), customersScored, seconds } },
  );
  await writeFile(join(run.scratch, 'report.html'), renderReport(reportData));
  // The exclusion lists a sending tool imports, so that the control groups really receive nothing (of their channel).
  const exports = [undefined, ...channelHoldouts(deps.config.holdout)].map((channel) => ({ channel, key: controlExportKey(date, channel), file: join(run.scratch, controlExportFile(channel)) }));
  for (const { channel, file } of exports) await engine.run(controlExportSql(ctx.assignment, file, channel));
  run.progress('report');

  const tableFile = (table: Table) => ({ key: partitionKey(table, date), file: run.output(table) });
  // The lease renewed (and proven this run's) right before the destination changes.
  await run.lock.confirm();
  await publish(deps.dest, run.runId, date, [
    ...TABLES.filter((table) => table !== runManifest).map(tableFile),
    ...exports,
    { key: reportKey(date), file: join(run.scratch, 'report.html') },
    // Last: a reader who sees the manifest sees a complete run.
    tableFile(runManifest),
  ]);
  run.progress('published');
  const extractLocation = deps.source.describe(`${EXTRACT_PREFIX}/dt=${date}/`);
  return { runId: run.runId, date, extractLocation, ...counts, status, customersScored, report: deps.dest.describe(reportKey(date)) };
}

/**
 * The intermediates several tables share, built once a night: the RFM scores from the history,
 * the CLV scores (in the engine or from the shard files), both joined, and the holdout assignment.
 */
async function intermediates(run: Run, state: RunState): Promise<BuildContext> {
  const { deps, engine, date } = run;
  await engine.run(`CREATE TEMP TABLE rfm_scores AS ${customerScoresSql(`SELECT * FROM ${FACTS_TABLE}`, date, deps.config.rfm)}`);
  const customersScored = await countRows(engine, 'SELECT * FROM rfm_scores');
  run.progress('rfm', customersScored);
  if (state.shardKeys) {
    const scoreFiles = await Promise.all(state.shardKeys.map((key) => deps.dest.localPath(shardScoresKey(key), run.scratch)));
    await loadShardScores(engine, state.fitted, scoreFiles);
  } else {
    await scoreInEngine(engine, state.fitted);
  }
  await engine.run(scoredViewSql('scored', 'rfm_scores'));
  // The groups are sticky: carried from the latest earlier night under the same configuration, only new customers hashed.
  const assignedOn = await carriedFrom({ ...run, config: deps.config }, holdoutAssignment, []);
  const previous = assignedOn && `SELECT customer_id, holdout_group, channel_controls FROM ${readParquet([await run.fetch(holdoutAssignment, assignedOn)])}`;
  await engine.run(`CREATE TEMP TABLE assignment AS ${holdoutAssignmentSql(`SELECT * FROM ${FACTS_TABLE}`, deps.config.holdout, previous)}`);
  run.progress('clv');
  const { counts } = state;
  return {
    engine,
    config: deps.config,
    date,
    customers: `SELECT * FROM ${FACTS_TABLE}`,
    channels: `SELECT * FROM ${CHANNEL_FACTS_TABLE}`,
    rfmScores: 'SELECT * FROM rfm_scores',
    attribution: { delta: `SELECT * FROM ${ATTRIBUTION_DELTA_TABLE}`, carriedFrom: state.carriedFrom },
    scored: 'SELECT * FROM scored',
    assignment: 'SELECT * FROM assignment',
    written: (table) => `SELECT * FROM ${readParquet([run.output(table)])}`,
    run: {
      runId: run.runId,
      startedAt: run.startedAt,
      extract: run.extract,
      counts,
      customersScored,
      fits: state.fits,
      status: counts.rowsAccepted + counts.rowsDuplicate === 0 ? 'empty_extract' : 'succeeded',
    },
    now: run.now,
    earlier: run.earlier,
    fetch: run.fetch,
  };
}

function pick<T, K extends keyof T>(from: T, ...keys: K[]): Pick<T, K> {
  return Object.fromEntries(keys.map((k) => [k, from[k]])) as Pick<T, K>;
}

// ---------------------------------------------------------------------------------------------
// The fanned-out night: the same phases, in separate processes that share the run's staging folder.

/** The outputs of the first phase the last one needs: read back from staging by {@link finishFannedOut} … */
const PREPARED_OUTPUTS: readonly Table[] = TABLES.filter((table) => 'phase' in table);
/** … and the night's results from the history: the customer facts and the attribution's delta. */
const FACTS_TABLES = [FACTS_TABLE, CHANNEL_FACTS_TABLE, ATTRIBUTION_DELTA_TABLE, TRACKING_ACTUALS];
const factsKey = (runId: string, table: string) => `${workFolder(runId, table)}data.parquet`;

export type PreparedRun =
  | { status: 'prepared'; runId: string; date: string; shardPrefix: string; shardKeys: string[] }
  | { status: 'missing_extract'; runId: string; date: string; result: RunResult };

/**
 * How long a fanned-out night's lease lasts from the end of Prepare: the shards do not renew it
 * and Finish resumes it, so it spans the Distributed Map (the execution's default time limit is two
 * hours; a longer Map still resumes the lease as long as no other run has taken it).
 */
export const FANNED_OUT_LEASE_MS = 2 * 3600_000;

/**
 * First phase of a fanned-out night: ingest and fit, then leave in the run's staging folder the
 * state, the ingested tables and one customer-summary file per shard (under `shardPrefix`).
 *
 * The night holds the destination's lock from here to the end of {@link finishFannedOut}, across
 * invocations: Prepare takes it and hands it over with a lease of {@link FANNED_OUT_LEASE_MS} (the
 * shards, which touch only the run's staging folder, leave it alone), Finish resumes it unless
 * another run has taken it meanwhile, and releases it. A night that fails before Finish leaves the
 * lease to run out.
 */
export async function prepareFannedOut(date: string, deps: RunDeps): Promise<PreparedRun> {
  const started = await startRun(date, deps);
  if ('status' in started) return { status: 'missing_extract', runId: started.runId, date, result: started };
  const lock = await claimDestination(started, deps);
  try {
    const prepared = await prepareClaimed(started, deps, lock);
    await lock.handOver(deps.fannedOutLeaseMs ?? FANNED_OUT_LEASE_MS);
    return prepared;
  } catch (error) {
    await release(lock);
    throw error;
  }
}

async function prepareClaimed(started: RunStart, deps: RunDeps, lock: RunLock): Promise<PreparedRun & { status: 'prepared' }> {
  const run = await openRun(started, deps, lock);
  try {
    const state = await prepare(run, true);
    const stateFile = join(run.scratch, 'state.json');
    await writeFile(stateFile, JSON.stringify(state));
    await deps.dest.put(stateKey(run.runId), stateFile);
    return { status: 'prepared', runId: run.runId, date: run.date, shardPrefix: shardInputPrefix(run.runId), shardKeys: state.shardKeys ?? [] };
  } finally {
    await run.close();
  }
}

/** Writes the customer summary as shard files into the run's staging folder; returns their keys. */
async function stageShardInputs(run: Run): Promise<string[]> {
  const dir = join(run.scratch, 'shards');
  const keys = [];
  for (const file of await writeShardInputs(run.engine, run.deps.config.clv.shards, dir)) {
    const key = `${shardInputPrefix(run.runId)}${file.split(sep).join('/')}`;
    await run.deps.dest.put(key, join(dir, file));
    keys.push(key);
  }
  return keys;
}

/**
 * Scores one shard file (a store key under a prepared run's `shardPrefix`) with the run's fitted
 * parameters, into its scores file. Reads nothing else: any number run in parallel.
 */
export async function scoreShard(inputKey: string, deps: RunDeps): Promise<{ key: string; customers: number }> {
  const runId = runOfShardKey(inputKey);
  if (!runId) throw new RunError(`not a shard input key: ${inputKey}`);
  const scratch = await newScratch(deps, 'shard');
  try {
    const engine = await deps.openEngine({ tempDirectory: join(scratch, 'engine') });
    try {
      const state = await readState(runId, deps.dest, scratch);
      const output = join(scratch, 'scores.parquet');
      const customers = await scoreShardFile(engine, await deps.dest.localPath(inputKey, scratch), state.fitted, output);
      await deps.dest.put(shardScoresKey(inputKey), output);
      return { key: inputKey, customers };
    } finally {
      await engine.close();
    }
  } finally {
    await removeScratch(scratch);
  }
}

async function readState(runId: string, dest: ObjectStore, scratch: string): Promise<RunState> {
  return JSON.parse(await readFile(await dest.localPath(stateKey(runId), scratch), 'utf8')) as RunState;
}

/**
 * Last phase of a fanned-out night: resumes the lock Prepare handed over (LockLost if another run
 * has taken it since: the prepared state may be out of date), then the prepared run's state and
 * files back, {@link finish}, and the lock released.
 */
export async function finishFannedOut(runId: string, deps: RunDeps): Promise<RunResult> {
  const lock = await RunLock.resume(deps.dest, runId, lockOptions(deps));
  try {
    return await finishClaimed(runId, deps, lock);
  } finally {
    await release(lock);
  }
}

async function finishClaimed(runId: string, deps: RunDeps, lock: RunLock): Promise<RunResult> {
  const probe = await newScratch(deps, 'state');
  const state = await readState(runId, deps.dest, probe).finally(() => removeScratch(probe));
  const run = await openRun(state, deps, lock);
  try {
    for (const table of PREPARED_OUTPUTS) await copyFile(await deps.dest.localPath(`${workFolder(runId, table.name)}data.parquet`, run.scratch), run.output(table));
    for (const table of FACTS_TABLES) {
      await run.engine.run(`CREATE TEMP TABLE ${table} AS SELECT * FROM ${readParquet([await deps.dest.localPath(factsKey(runId, table), run.scratch)])}`);
    }
    return await finish(run, state);
  } finally {
    await run.close();
  }
}

function newScratch(deps: RunDeps, kind: ScratchKind): Promise<string> {
  return makeScratch(deps.scratchRoot ?? tmpdir(), kind);
}

/**
 * Publishes a run in two steps. First every file is uploaded under the run's staging prefix, the
 * long step where an upload can fail: the published result is untouched until all have arrived.
 * Then each is moved onto its fixed key, one atomic replace per partition (rename locally, a
 * server-side copy on S3), in the given order with the manifest last. A reader sees a partition's
 * old file or its new one, never half of one and never two.
 *
 * A re-run replaces a date that is already published: its old manifest is removed before the first
 * move, so while the tables are being replaced (or if that is cut short) the date reads as not
 * published — `_latest` views fall back to the previous run and triggers without `force` redo it —
 * instead of an old manifest vouching for a mix of old and new tables.
 */
async function publish(dest: ObjectStore, runId: string, date: string, files: readonly { key: string; file: string }[]): Promise<void> {
  const staging = stagingPrefix(runId);
  try {
    for (const { key, file } of files) await dest.put(`${staging}${key}`, file);
  } catch (error) {
    // The uploads only: a fanned-out run's state and shard files stay for a retried Finish.
    for (const folder of new Set(files.map(({ key }) => key.slice(0, key.indexOf('/') + 1)))) await dest.deletePrefix(`${staging}${folder}`);
    throw error;
  }
  await dest.deletePrefix(partitionPrefix(runManifest, date));
  // A failed move leaves the rest staged (expired by lifecycle); a re-run publishes afresh.
  for (const { key } of files) await dest.move(`${staging}${key}`, key);
  await dest.deletePrefix(staging);
}

/**
 * Runs `work` on this thread while `pending` (a query already sent to the engine) completes, and
 * returns its result once both are done; a failure of either fails the call, after both have ended.
 */
async function alongside<T>(pending: Promise<unknown>, work: () => T): Promise<T> {
  let result: T;
  try {
    result = work();
  } finally {
    await pending;
  }
  return result;
}
