/**
 * One nightly run for one date, the single entry into the product's work: the CLI, the Lambda
 * handler and the Slack command's `run` all call {@link runNightly}.
 *
 * Flow: list the date's extract → stage and validate every row (rejects kept) → dedupe against the
 * curated history → score RFM over the history as of the date → write every table to local
 * scratch files → publish them (manifest last). Nothing is published unless every table was written.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
import type { SqlEngine } from './engine/sql-engine.js';
import { ingestExtract, NEW_ORDERS_RELATION, REJECTS_RELATION, type IngestCounts } from './ingest/ingest.js';
import { localize } from './ingest/localize.js';
import { formatOf } from './ingest/stage-sql.js';
import { customerScoresSql, segmentMigrationSql, segmentSummarySql } from './rfm/rfm-sql.js';
import { segmentForecastSql } from './clv/forecast-sql.js';
import { CLV_SCORES_TABLE, scoreCustomers } from './clv/score-customers.js';
import { validateModel } from './clv/validate.js';
import { holdoutAssignmentSql } from './holdout/assign-sql.js';
import { holdoutReport, type StatRow } from './holdout/report.js';
import { holdoutStatsSql } from './holdout/results-sql.js';
import { kpiRows, kpiWideSql } from './kpi/kpi-sql.js';
import { forecastAccuracySql, rocSql, type MaturedForecast, type Period } from './kpi/value-sql.js';
import { gatherReportData, TREND_RUNS } from './report/data.js';
import { renderReport } from './report/html.js';
import { copyToParquet, emptyRelation, literal, nullCountsSql, readParquet, selectAs, valuesRelation } from './sql/dialect.js';
import type { ObjectInfo, ObjectStore } from './store/object-store.js';

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
  /** Parent of the run's scratch directory (default: the OS temp dir; /tmp on Lambda). */
  scratchRoot?: string;
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

/** Keys of a table's partitions in a store, as date -> key, for dates passing `keep`. */
async function partitions(store: ObjectStore, table: Table, keep: (date: string) => boolean): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for (const { key } of await store.list(`${table.name}/`)) {
    const date = /\/dt=(\d{4}-\d{2}-\d{2})\/data\.parquet$/.exec(key)?.[1];
    if (date && keep(date)) found.set(date, key);
  }
  return found;
}

/** Extract files are everything under the date's prefix except markers (`_SUCCESS`) and hidden files. */
function isExtractFile({ key }: ObjectInfo): boolean {
  const name = key.split('/').pop() ?? '';
  return !name.startsWith('.') && !name.startsWith('_');
}

export async function runNightly(date: string, deps: RunDeps): Promise<RunResult> {
  if (!isCalendarDate(date)) {
    throw new RunError(`invalid run date "${date}": expected YYYY-MM-DD`);
  }
  const now = deps.now ?? (() => new Date());
  const startedAt = now();
  const runId = randomUUID();
  const progress = (stage: string, rows?: number) =>
    deps.onProgress?.({ stage, ...(rows === undefined ? {} : { rows }), elapsedMs: now().getTime() - startedAt.getTime() });

  const extractPrefix = `${EXTRACT_PREFIX}/dt=${date}/`;
  const extract = (await deps.source.list(extractPrefix)).filter(isExtractFile);
  const base = { runId, date, extractLocation: deps.source.describe(extractPrefix), customersScored: 0 };
  if (extract.length === 0) {
    return { ...base, status: 'missing_extract', filesRead: 0, rowsRead: 0, rowsAccepted: 0, rowsRejected: 0, rowsDuplicate: 0, ordersAdded: 0 };
  }

  const scratch = await mkdtemp(join(deps.scratchRoot ?? tmpdir(), 'crm-metrics-run-'));
  const engine = await deps.openEngine({ tempDirectory: join(scratch, 'engine') });
  try {
    const output = (table: Table) => join(scratch, `${table.name}.parquet`);
    const write = async (table: Table, relation: string) => {
      await engine.run(copyToParquet(selectAs(table, relation), output(table)));
      await checkRequiredColumns(engine, table, output(table));
    };

    const files = [];
    for (const [index, { key, etag }] of extract.entries()) {
      const format = formatOf(key, deps.config.input.format);
      const local = format && (await localize(deps.source, key, scratch, index, format !== 'parquet', etag));
      files.push({ key, format, local });
    }
    const earlier = await partitions(deps.dest, transactions, (d) => d < date);
    const historyFiles = await Promise.all([...earlier.values()].map((key) => deps.dest.localPath(key, scratch)));
    progress('ingest');
    const counts = await ingestExtract(engine, files, deps.config.input, date, historyFiles);
    await write(transactions, NEW_ORDERS_RELATION);
    await write(rejects, REJECTS_RELATION);
    progress('ingested', counts.rowsRead);

    const history = `SELECT * FROM ${readParquet([...historyFiles, output(transactions)])}`;
    await engine.run(`CREATE TEMP TABLE scores AS ${customerScoresSql(history, date, deps.config.rfm)}`);
    const [scored] = await engine.query<{ n: number }>(`SELECT CAST(count(*) AS DOUBLE) AS n FROM scores`);
    const customersScored = scored!.n;
    progress('rfm', customersScored);
    await write(segmentSummary, segmentSummarySql('SELECT * FROM scores'));
    const previousDates = await partitions(deps.dest, customerScores, (d) => d < date);
    const previousDate = [...previousDates.keys()].sort().pop();
    const previous = previousDate
      ? { date: previousDate, relation: `SELECT * FROM ${readParquet([await deps.dest.localPath(previousDates.get(previousDate)!, scratch)])}` }
      : undefined;
    await write(segmentMigration, segmentMigrationSql('SELECT * FROM scores', previous));

    const { fits } = await scoreCustomers(engine, history, date, deps.config.clv, { scratchDir: scratch });
    progress('clv');
    await write(modelFit, valuesRelation(modelFit, fits));
    await engine.run(`CREATE TEMP VIEW scored AS SELECT * FROM scores AS s LEFT JOIN ${CLV_SCORES_TABLE} AS c USING (customer_id)`);
    await write(customerScores, 'SELECT * FROM scored');
    await write(segmentForecast, segmentForecastSql('SELECT * FROM scored'));
    await write(modelValidation, await validateModel(engine, history, date, deps.config.clv));
    progress('validated');

    await write(holdoutAssignment, holdoutAssignmentSql(history, deps.config.holdout));
    // The exclusion list a sending tool imports, so that the control group really receives nothing.
    const assignment = `SELECT * FROM ${readParquet([output(holdoutAssignment)])}`;
    await engine.run(`COPY (SELECT customer_id FROM (${assignment}) WHERE holdout_group = 'control'
      ORDER BY customer_id) TO ${literal(join(scratch, 'control.csv'))} (FORMAT csv, HEADER)`);
    const holdout = deps.config.holdout;
    // The history's first day, from the 1M-row assignment rather than the 10M-row history.
    const [first] = await engine.query<{ first: string | null }>(`SELECT CAST(min(assigned_at) AS VARCHAR) AS first FROM (${assignment})`);
    const windows = [
      { name: `last_${holdout.window_days}_days`, start: shiftDate(date, 1 - holdout.window_days), end: date },
      { name: 'since_start', start: holdout.started_at ?? first!.first ?? date, end: date },
    ];
    /** An earlier run's customer_scores, as a relation, when that run exists (each file fetched once). */
    const fetched = new Map<string, Promise<string>>();
    const scoresAt = async (day: string) => {
      const key = previousDates.get(day);
      if (!key) return undefined;
      if (!fetched.has(key)) fetched.set(key, deps.dest.localPath(key, scratch));
      return readParquet([await fetched.get(key)!]);
    };
    const segmentsAt = async (day: string) => {
      const scores = await scoresAt(day);
      return scores && `SELECT customer_id, segment FROM ${scores}`;
    };
    const segmentRelations = new Map(await Promise.all(windows.map(async (w) => [w.name, await segmentsAt(shiftDate(w.start, -1))] as const)));
    const stats = await engine.query<StatRow>(
      holdoutStatsSql(history, assignment, windows, (w) => segmentRelations.get(w.name), holdout.winsor_quantile),
    );
    const report = holdoutReport(stats, { controlShare: holdout.control_share, minGroupSize: holdout.min_group_size });
    await write(holdoutResults, valuesRelation(holdoutResults, report));
    progress('holdout');

    await write(kpiDaily, valuesRelation(kpiDaily, kpiRows(await engine.query(kpiWideSql(history, assignment, date, deps.config.kpi)))));
    const periods: Period[] = [];
    for (const [name, days] of ROC_PERIODS) {
      const start = shiftDate(date, -days);
      const scores = await scoresAt(start);
      if (scores) periods.push({ name, start, startScores: `SELECT customer_id, segment, clv FROM ${scores}` });
    }
    await write(roc, rocSql(periods, 'SELECT customer_id, clv FROM scored', history, date) ?? emptyRelation(roc));
    const forecasts = await partitions(deps.dest, segmentForecast, (d) => d < date);
    const matured: MaturedForecast[] = [];
    for (const horizonDays of FORECAST_HORIZON_DAYS) {
      const forecastDate = shiftDate(date, -horizonDays);
      const [scores, forecast] = [await scoresAt(forecastDate), forecasts.get(forecastDate)];
      if (scores && forecast) {
        matured.push({
          horizonDays,
          forecastDate,
          scores: `SELECT customer_id, segment, grade FROM ${scores}`,
          forecast: `SELECT * FROM ${readParquet([await deps.dest.localPath(forecast, scratch)])}`,
        });
      }
    }
    await write(forecastAccuracy, forecastAccuracySql(matured, history, date) ?? emptyRelation(forecastAccuracy));
    progress('kpi');

    const status: RunStatus = counts.rowsAccepted + counts.rowsDuplicate === 0 ? 'empty_extract' : 'succeeded';
    const recent = async (table: Table) => {
      const dates = [...(await partitions(deps.dest, table, (d) => d < date)).entries()].sort(([a], [b]) => (a < b ? -1 : 1));
      return Promise.all(dates.slice(-(TREND_RUNS - 1)).map(async ([day, key]) => ({ date: day, file: await deps.dest.localPath(key, scratch) })));
    };
    const reportData = await gatherReportData(
      engine,
      { output: (name) => join(scratch, `${name}.parquet`), scores: 'SELECT * FROM scored', kpiHistory: await recent(kpiDaily), forecastHistory: await recent(forecastAccuracy) },
      {
        date,
        display: deps.config.display,
        run: {
          status,
          rowsRead: counts.rowsRead,
          rowsAccepted: counts.rowsAccepted,
          rowsRejected: counts.rowsRejected,
          rowsDuplicate: counts.rowsDuplicate,
          customersScored,
          seconds: (now().getTime() - startedAt.getTime()) / 1000,
        },
      },
      report,
    );
    await writeFile(join(scratch, 'report.html'), renderReport(reportData));
    progress('report');

    const manifest: Record<(typeof runManifest.columns)[number]['name'], string | number> = {
      run_id: runId,
      status,
      files_read: counts.filesRead,
      rows_read: counts.rowsRead,
      rows_accepted: counts.rowsAccepted,
      rows_rejected: counts.rowsRejected,
      rows_duplicate: counts.rowsDuplicate,
      orders_added: counts.ordersAdded,
      customers_scored: customersScored,
      config_hash: configHash(deps.config),
      input_files: JSON.stringify(extract.map(({ key, bytes, etag }) => ({ file: key, bytes, etag }))),
      started_at: startedAt.toISOString(),
      finished_at: now().toISOString(),
    };
    await write(runManifest, valuesRelation(runManifest, [manifest]));

    const tableFile = (table: Table) => ({ key: partitionKey(table, date), file: output(table) });
    await publish(deps.dest, runId, date, [
      ...CATALOG.filter((table) => table !== runManifest).map(tableFile),
      { key: controlExportKey(date), file: join(scratch, 'control.csv') },
      { key: reportKey(date), file: join(scratch, 'report.html') },
      // Last: a reader who sees the manifest sees a complete run.
      tableFile(runManifest),
    ]);
    progress('published');
    return { ...base, ...counts, status, customersScored, report: deps.dest.describe(reportKey(date)) };
  } finally {
    await engine.close();
    await rm(scratch, { recursive: true, force: true });
  }
}

/** A required column with NULLs is a bug upstream: the run fails before anything is published. */
async function checkRequiredColumns(engine: SqlEngine, table: Table, file: string): Promise<void> {
  const sql = nullCountsSql(table, `SELECT * FROM ${readParquet([file])}`);
  if (!sql) return;
  const [counts] = await engine.query<Record<string, number>>(sql);
  const bad = Object.entries(counts ?? {}).filter(([, n]) => n > 0);
  if (bad.length) throw new RunError(`${table.name}: NULL in required column(s) ${bad.map(([c, n]) => `${c} (${n} rows)`).join(', ')}`);
}

/** Where runs stage their outputs before publishing: outside every table's location. */
export const STAGING_ROOT = '_staging/';

export function stagingPrefix(runId: string): string {
  return `${STAGING_ROOT}${runId}/`;
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
    await dest.deletePrefix(staging);
    throw error;
  }
  await dest.deletePrefix(partitionPrefix(runManifest, date));
  // A failed move leaves the rest staged (expired by lifecycle); a re-run publishes afresh.
  for (const { key } of files) await dest.move(`${staging}${key}`, key);
  await dest.deletePrefix(staging);
}
