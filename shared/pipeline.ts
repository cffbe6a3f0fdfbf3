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
import {
  CATALOG,
  customerScores,
  partitionPrefix,
  FORECAST_HORIZON_DAYS,
  forecastAccuracy,
  kpiDaily,
  roc,
  holdoutAssignment,
  holdoutResults,
  modelFit,
  modelValidation,
  partitionKey,
  rejects,
  runManifest,
  segmentForecast,
  segmentMigration,
  segmentSummary,
  transactions,
  type Table,
} from './catalog.js';
import { configHash, type Config } from './config.js';
import { isCalendarDate, shiftDate } from './dates.js';
import { LocalHistory, RemoteHistory, type HistoryEngine, type RemoteEngine } from './engine/history.js';
import type { SqlEngine } from './engine/sql-engine.js';
import { dropOrdersSql, ingestExtract, orderedNewOrdersRelation, REJECTS_RELATION, type IngestCounts } from './ingest/ingest.js';
import { localize } from './ingest/localize.js';
import { formatOf } from './ingest/stage-sql.js';
import { customerScoresSql, segmentMigrationSql, segmentSummarySql } from './rfm/rfm-sql.js';
import { segmentForecastSql } from './clv/forecast-sql.js';
import { CLV_SCORES_TABLE, CLV_SUMMARY_TABLE, fitClv, scoreInEngine, type ModelFitRow } from './clv/score-customers.js';
import { loadShardScores, scoreShardFile, writeShardInputs } from './clv/shard-files.js';
import type { FittedClv } from './clv/shards.js';
import { customerSummarySql } from './clv/summary-sql.js';
import { validateModel, validationCustomersSql, VALIDATION_CUSTOMERS } from './clv/validate.js';
import { holdoutAssignmentSql } from './holdout/assign-sql.js';
import { holdoutReport, type StatRow } from './holdout/report.js';
import { holdoutStatsSql } from './holdout/results-sql.js';
import { kpiRows, kpiWideSql } from './kpi/kpi-sql.js';
import { forecastAccuracySql, rocSql, spendSql, type MaturedForecast, type Period } from './kpi/value-sql.js';
import { gatherReportData, TREND_RUNS } from './report/data.js';
import { renderReport } from './report/html.js';
import { copyToParquet, emptyRelation, literal, nullCountsSql, readParquet, selectAs, valuesRelation } from './sql/dialect.js';
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

/** Periods of the Return on Customer table, ending at the run date. */
const ROC_PERIODS = [
  ['1d', 1],
  ['30d', 30],
] as const;

/** Where a run's HTML report is published (self-contained: open it from anywhere). */
export function reportKey(date: string): string {
  return `reports/dt=${date}/index.html`;
}

/** Where a run's exclusion list (control-group customer ids, CSV) is published. */
export function controlExportKey(date: string): string {
  return `exports/holdout/dt=${date}/control.csv`;
}

/**
 * One field of control.csv, as SQL over the text column `column`. The list is opened in
 * spreadsheets too, which run a cell that starts with `=`, `+`, `-`, `@`, tab or CR as a formula
 * (CSV injection): such an id is written behind a single quote and in double quotes, as OWASP
 * advises, so that it shows as text. So is an id that starts with a single quote itself, so that
 * dropping one leading quote gives every id back exactly. Other ids are written as they are,
 * quoted (RFC 4180) only when they hold a comma, a double quote or a line break.
 */
function controlCsvField(column: string): string {
  const quoted = (prefix: string) => `'"${prefix}' || replace(${column}, '"', '""') || '"'`;
  return `CASE WHEN regexp_matches(${column}, '^[=+\\-@\\t\\r'']') THEN ${quoted("''")}
    WHEN regexp_matches(${column}, '[",\\n\\r]') THEN ${quoted('')} ELSE ${column} END`;
}

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
    const staged = new Set((await deps.dest.list(STAGING_ROOT)).map(({ key }) => key.slice(STAGING_ROOT.length).split('/')[0]!));
    for (const runId of staged) if (runId !== start.runId) await deps.dest.deletePrefix(stagingPrefix(runId));
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
export async function unpublishedEarlierDates(source: ObjectStore, dest: ObjectStore, date: string): Promise<string[]> {
  const extractDates = new Set<string>();
  for (const object of await source.list(`${EXTRACT_PREFIX}/`)) {
    const day = /^transactions\/dt=(\d{4}-\d{2}-\d{2})\//.exec(object.key)?.[1];
    if (day !== undefined && day < date && isExtractFile(object)) extractDates.add(day);
  }
  const published = await partitions(dest, runManifest, (day) => day < date);
  return [...extractDates].filter((day) => !published.has(day)).sort();
}

/**
 * What the first phase hands the last: serialisable, so that the phases can run in different
 * processes (the fanned-out night keeps it in the run's staging folder).
 */
interface RunState extends RunStart {
  /** Where the history queries run, decided once for the run. */
  historyEngine: HistoryEngineKind;
  counts: IngestCounts;
  fits: ModelFitRow[];
  fitted: FittedClv;
  /** Store keys of the shard files when scoring is fanned out (none without customers); absent when scored in process. */
  shardKeys?: string[];
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
  /**
   * Writes a relation as the run's file of `table` (catalog shape, required columns checked),
   * sorted by the table's `orderBy` unless `inOrder` (the relation's row order is already fixed).
   */
  write: (table: Table, relation: string, inOrder?: boolean) => Promise<void>;
  now: () => Date;
  progress: (stage: string, rows?: number) => void;
  /** Earlier runs' partitions of a table, by date (listed once per table). */
  earlier: (table: Table) => Promise<Map<string, ObjectInfo>>;
  /** The local file of an earlier run's partition (fetched once). */
  fetch: (table: Table, date: string) => Promise<string>;
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
    write: async (table, relation, inOrder) => {
      await engine.run(copyToParquet(selectAs(table, relation, inOrder), output(table)));
      await checkRequiredColumns(engine, table, output(table));
    },
    now,
    progress: (stage, rows) =>
      deps.onProgress?.({ stage, ...(rows === undefined ? {} : { rows }), elapsedMs: now().getTime() - Date.parse(start.startedAt) }),
    earlier,
    fetch,
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
  const days = [...(await run.earlier(transactions)).keys()];
  const files = await Promise.all(days.map((day) => run.fetch(transactions, day)));
  return new LocalHistory(run.engine, files, run.output(transactions), run.fetch);
}

/** First phase: ingest the extract, summarise the customers and fit the CLV models. */
async function prepare(run: Run, fanOut: boolean): Promise<RunState> {
  const { deps, engine, date } = run;
  const files = [];
  for (const [index, { key, etag }] of run.extract.entries()) {
    const format = formatOf(key, deps.config.input.format);
    const local = format && (await localize(deps.source, key, run.scratch, index, format !== 'parquet', etag));
    files.push({ key, format, local });
  }
  const earlier = await run.earlier(transactions);
  const historyBytes = [...earlier.values()].reduce((sum, o) => sum + o.bytes, 0);
  const historyEngine = chooseHistoryEngine(deps.config.engine, historyBytes, deps.remote !== undefined);
  const historyFiles = historyEngine === 'local' ? await Promise.all([...earlier.keys()].map((day) => run.fetch(transactions, day))) : [];
  run.progress('ingest');
  let counts = await ingestExtract(engine, files, deps.config.input, date, historyFiles);
  await run.write(transactions, await orderedNewOrdersRelation(engine, deps.config.input), true);
  await run.write(rejects, REJECTS_RELATION);
  // The remote engine and a later phase find the new orders in the run's staging folder.
  const stagePreparedOutputs = async () => {
    for (const table of PREPARED_OUTPUTS) await deps.dest.put(`${workFolder(run.runId, table.name)}data.parquet`, run.output(table));
  };
  if (fanOut || historyEngine === 'remote') await stagePreparedOutputs();
  const history = await historyOf(run, historyEngine);
  if (historyEngine === 'remote') {
    // The history stayed remote, so the ingest could only dedupe within the extract: the remote
    // engine names the staged orders it has seen on earlier days, and those are dropped here.
    await history.materialize(SEEN_ORDERS, seenOrdersSql(history.staged, history.earlier));
    const [seen] = await engine.query<{ orders: number; rows: number }>(`SELECT CAST(count(*) AS DOUBLE) AS orders,
      CAST(coalesce(sum(row_count), 0) AS DOUBLE) AS rows FROM new_orders WHERE transaction_id IN (SELECT transaction_id FROM ${SEEN_ORDERS})`);
    if (seen!.orders > 0) {
      await engine.run(dropOrdersSql(deps.config.input, `SELECT transaction_id FROM ${SEEN_ORDERS}`));
      await run.write(transactions, await orderedNewOrdersRelation(engine, deps.config.input), true);
      counts = { ...counts, rowsAccepted: counts.rowsAccepted - seen!.rows, rowsDuplicate: counts.rowsDuplicate + seen!.rows, ordersAdded: counts.ordersAdded - seen!.orders };
      await stagePreparedOutputs();
    }
  }
  run.progress('ingested', counts.rowsRead);

  await history.materialize(CLV_SUMMARY_TABLE, customerSummarySql(history.history, date, deps.config.clv.time_unit));
  const { fits, fitted } = await fitClv(engine, deps.config.clv);
  const state: RunState = { runId: run.runId, date, startedAt: run.startedAt, extract: run.extract, historyEngine, counts, fits, fitted };
  if (fanOut) state.shardKeys = await stageShardInputs(run);
  run.progress('fitted');
  return state;
}

/** Last phase: score, analyse and report; publish everything. */
async function finish(run: Run, state: RunState): Promise<RunResult> {
  const { deps, engine, date } = run;
  const { counts } = state;
  const history = await historyOf(run, state.historyEngine);
  await history.materialize('rfm_scores', customerScoresSql(history.history, date, deps.config.rfm, history.dialect));
  const [scored] = await engine.query<{ n: number }>(`SELECT CAST(count(*) AS DOUBLE) AS n FROM rfm_scores`);
  const customersScored = scored!.n;
  run.progress('rfm', customersScored);
  await run.write(segmentSummary, segmentSummarySql('SELECT * FROM rfm_scores'));
  const previousDate = [...(await run.earlier(customerScores)).keys()].sort().pop();
  const previous = previousDate
    ? { date: previousDate, relation: `SELECT * FROM ${readParquet([await run.fetch(customerScores, previousDate)])}` }
    : undefined;
  await run.write(segmentMigration, segmentMigrationSql('SELECT * FROM rfm_scores', previous));

  if (state.shardKeys) {
    const scoreFiles = await Promise.all(state.shardKeys.map((key) => deps.dest.localPath(shardScoresKey(key), run.scratch)));
    await loadShardScores(engine, state.fitted, scoreFiles);
  } else {
    await scoreInEngine(engine, state.fitted);
  }
  run.progress('clv');
  await run.write(modelFit, valuesRelation(modelFit, state.fits));
  await engine.run(`CREATE TEMP VIEW scored AS SELECT * FROM rfm_scores AS s LEFT JOIN ${CLV_SCORES_TABLE} AS c USING (customer_id)`);
  await run.write(customerScores, 'SELECT * FROM scored');
  await run.write(segmentForecast, segmentForecastSql('SELECT * FROM scored'));
  const validation = validationCustomersSql(history.history, date, deps.config.clv);
  if (validation) await history.materialize(VALIDATION_CUSTOMERS, validation);
  await run.write(modelValidation, validation ? await validateModel(engine, date, deps.config.clv) : emptyRelation(modelValidation));
  run.progress('validated');

  const holdout = deps.config.holdout;
  const assignment = await history.materialize('assignment', holdoutAssignmentSql(history.history, holdout, history.dialect));
  await run.write(holdoutAssignment, 'SELECT * FROM assignment');
  // The exclusion list a sending tool imports, so that the control group really receives nothing.
  // Its fields are rendered here (the writer quotes nothing), so that ids a spreadsheet would run
  // are neutralised while every other line stays as it was.
  await engine.run(`COPY (SELECT ${controlCsvField('id')} AS customer_id FROM (SELECT customer_id AS id FROM assignment
    WHERE holdout_group = 'control') AS c ORDER BY id) TO ${literal(join(run.scratch, 'control.csv'))} (FORMAT csv, HEADER, QUOTE '')`);
  // The history's first day, from the per-customer assignment rather than the history.
  const [first] = await engine.query<{ first: string | null }>(`SELECT CAST(min(assigned_at) AS VARCHAR) AS first FROM assignment`);
  const windows = [
    { name: `last_${holdout.window_days}_days`, start: shiftDate(date, 1 - holdout.window_days), end: date },
    { name: 'since_start', start: holdout.started_at ?? first!.first ?? date, end: date },
  ];
  const scoresBefore = await run.earlier(customerScores);
  const segmentRelations = new Map<string, string>();
  for (const w of windows) {
    const day = shiftDate(w.start, -1);
    if (scoresBefore.has(day)) segmentRelations.set(w.name, `SELECT customer_id, segment FROM (${await history.partition(customerScores, day)}) AS p`);
  }
  await history.materialize(
    'holdout_stats',
    holdoutStatsSql(history.history, assignment, windows, (w) => segmentRelations.get(w.name), holdout.winsor_quantile, history.dialect),
  );
  const report = holdoutReport(await engine.query<StatRow>('SELECT * FROM holdout_stats'), {
    controlShare: holdout.control_share,
    minGroupSize: holdout.min_group_size,
  });
  await run.write(holdoutResults, valuesRelation(holdoutResults, report));
  run.progress('holdout');

  await history.materialize('kpi_wide', kpiWideSql(history.history, assignment, date, deps.config.kpi));
  await run.write(kpiDaily, valuesRelation(kpiDaily, kpiRows(await engine.query('SELECT * FROM kpi_wide'))));
  /** An earlier run's scores, as a local relation, when that run exists. */
  const scoresAt = async (day: string) => (scoresBefore.has(day) ? readParquet([await run.fetch(customerScores, day)]) : undefined);
  const periods: Period[] = [];
  for (const [name, days] of ROC_PERIODS) {
    const start = shiftDate(date, -days);
    const startScores = await scoresAt(start);
    if (!startScores) continue;
    await history.materialize(`cash_flow_${name}`, spendSql(history.history, start, date, false));
    periods.push({ name, start, startScores: `SELECT customer_id, segment, clv FROM ${startScores}`, cashFlow: `SELECT * FROM cash_flow_${name}` });
  }
  await run.write(roc, rocSql(periods, 'SELECT customer_id, clv FROM scored') ?? emptyRelation(roc));
  const forecasts = await run.earlier(segmentForecast);
  const matured: MaturedForecast[] = [];
  for (const horizonDays of FORECAST_HORIZON_DAYS) {
    const forecastDate = shiftDate(date, -horizonDays);
    const startScores = await scoresAt(forecastDate);
    if (!startScores || !forecasts.has(forecastDate)) continue;
    await history.materialize(`purchases_${horizonDays}d`, spendSql(history.history, forecastDate, date, true));
    matured.push({
      horizonDays,
      forecastDate,
      scores: `SELECT customer_id, segment, grade FROM ${startScores}`,
      forecast: `SELECT * FROM ${readParquet([await run.fetch(segmentForecast, forecastDate)])}`,
      purchases: `SELECT * FROM purchases_${horizonDays}d`,
    });
  }
  await run.write(forecastAccuracy, forecastAccuracySql(matured) ?? emptyRelation(forecastAccuracy));
  run.progress('kpi');
  const status: RunStatus = counts.rowsAccepted + counts.rowsDuplicate === 0 ? 'empty_extract' : 'succeeded';
  const recent = async (table: Table) => {
    const dates = [...(await run.earlier(table)).keys()].sort().slice(-(TREND_RUNS - 1));
    return Promise.all(dates.map(async (day) => ({ date: day, file: await run.fetch(table, day) })));
  };
  const seconds = (run.now().getTime() - Date.parse(run.startedAt)) / 1000;
  const reportData = await gatherReportData(
    engine,
    { output: (name) => join(run.scratch, `${name}.parquet`), scores: 'SELECT * FROM scored', kpiHistory: await recent(kpiDaily), forecastHistory: await recent(forecastAccuracy) },
    { date, display: deps.config.display, run: { status, ...pick(counts, 'rowsRead', 'rowsAccepted', 'rowsRejected', 'rowsDuplicate'), customersScored, seconds } },
    report,
  );
  await writeFile(join(run.scratch, 'report.html'), renderReport(reportData));
  run.progress('report');

  const manifest: Record<(typeof runManifest.columns)[number]['name'], string | number> = {
    run_id: run.runId,
    status,
    files_read: counts.filesRead,
    rows_read: counts.rowsRead,
    rows_accepted: counts.rowsAccepted,
    rows_rejected: counts.rowsRejected,
    rows_duplicate: counts.rowsDuplicate,
    orders_added: counts.ordersAdded,
    customers_scored: customersScored,
    config_hash: configHash(deps.config),
    input_files: JSON.stringify(run.extract.map(({ key, bytes, etag }) => ({ file: key, bytes, etag }))),
    started_at: run.startedAt,
    finished_at: run.now().toISOString(),
  };
  await run.write(runManifest, valuesRelation(runManifest, [manifest]));

  const tableFile = (table: Table) => ({ key: partitionKey(table, date), file: run.output(table) });
  // The lease renewed (and proven this run's) right before the destination changes.
  await run.lock.confirm();
  await publish(deps.dest, run.runId, date, [
    ...CATALOG.filter((table) => table !== runManifest).map(tableFile),
    { key: controlExportKey(date), file: join(run.scratch, 'control.csv') },
    { key: reportKey(date), file: join(run.scratch, 'report.html') },
    // Last: a reader who sees the manifest sees a complete run.
    tableFile(runManifest),
  ]);
  run.progress('published');
  const extractLocation = deps.source.describe(`${EXTRACT_PREFIX}/dt=${date}/`);
  return { runId: run.runId, date, extractLocation, ...counts, status, customersScored, report: deps.dest.describe(reportKey(date)) };
}

function pick<T, K extends keyof T>(from: T, ...keys: K[]): Pick<T, K> {
  return Object.fromEntries(keys.map((k) => [k, from[k]])) as Pick<T, K>;
}

// ---------------------------------------------------------------------------------------------
// The fanned-out night: the same phases, in separate processes that share the run's staging folder.

/** Orders of the extract the remote history has seen on earlier days. */
const SEEN_ORDERS = 'seen_orders';

/**
 * Ids of the run's new orders (`staged`) that earlier nights (`earlier`) already hold: at most the
 * extract's ids come back, however long the history.
 */
export function seenOrdersSql(staged: string, earlier: string): string {
  return `SELECT DISTINCT transaction_id FROM (${staged}) AS n
    WHERE transaction_id IN (SELECT transaction_id FROM (${earlier}) AS h)`;
}

/** The outputs of the first phase the last one needs: read back from staging by {@link finishFannedOut}. */
const PREPARED_OUTPUTS = [transactions, rejects];

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
    await lock.handOver(FANNED_OUT_LEASE_MS);
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
    return await finish(run, state);
  } finally {
    await run.close();
  }
}

function newScratch(deps: RunDeps, kind: ScratchKind): Promise<string> {
  return makeScratch(deps.scratchRoot ?? tmpdir(), kind);
}

/** A required column with NULLs is a bug upstream: the run fails before anything is published. */
async function checkRequiredColumns(engine: SqlEngine, table: Table, file: string): Promise<void> {
  const sql = nullCountsSql(table, `SELECT * FROM ${readParquet([file])}`);
  if (!sql) return;
  const [counts] = await engine.query<Record<string, number>>(sql);
  const bad = Object.entries(counts ?? {}).filter(([, n]) => n > 0);
  if (bad.length) throw new RunError(`${table.name}: NULL in required column(s) ${bad.map(([c, n]) => `${c} (${n} rows)`).join(', ')}`);
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
