/**
 * Ingest of one date's extract: every input row lands in the `typed` table, valid or with a reject
 * reason; `new_orders` (a view or table) then holds the orders not seen before, and the rest of
 * the valid rows are counted as duplicates.
 */
import { FIELDS, type InputConfig } from '../config.js';
import type { SqlEngine } from '../engine/sql-engine.js';
import { ident, literal, readParquet } from '../sql/dialect.js';
import type { LocalFile } from './localize.js';
import {
  fieldPositions,
  LINES_TABLE,
  lineErrorsSql,
  loadLinesSql,
  missingColumnsReason,
  readLines,
  scanLinesSql,
  splitFieldsSql,
  matchingLinesSql,
  nativeCsvValuesSql,
  stageCsvSql,
  stageJsonlSql,
  stageParquetSql,
  type FileFormat,
  type StageFile,
} from './stage-sql.js';
import { TYPED_TABLE, validateSql, verdictSql } from './validate-sql.js';

export interface ExtractFile {
  /** Path relative to the source root (recorded in rejects and lineage). */
  key: string;
  /** Undefined for a file that is not an extract (unknown extension): it is rejected whole. */
  format: FileFormat | undefined;
  local: LocalFile | undefined;
}

export interface IngestCounts {
  filesRead: number;
  rowsRead: number;
  rowsAccepted: number;
  rowsRejected: number;
  rowsDuplicate: number;
  ordersAdded: number;
}

/** Above this many suspect rows in a file, its lines are loaded whole rather than filtered by id. */
const MAX_SUSPECT_FILTER = 500;

/** DuckDB's messages for errors caused by a file's content rather than by the query. */
const DATA_ERROR = /^(Invalid Input Error|IO Error|Conversion Error)/;

/**
 * Which of several rows with one order id is kept: the first file, then by content, then line.
 * Content before line, so both ingest paths (one of which knows no lines) keep the same row.
 */
const ROW_ORDER = '(file_index, ordered_at, customer_id, amount, quantity, channel, currency, is_return, source_line, row_key)';

export async function ingestExtract(
  engine: SqlEngine,
  files: readonly ExtractFile[],
  input: InputConfig,
  runDate: string,
  historyFiles: readonly string[],
): Promise<IngestCounts> {
  await engine.run(TYPED_TABLE);
  await engine.run(LINES_TABLE);
  const stages: string[] = [];
  for (const [index, file] of files.entries()) {
    const stage = await loadFile(engine, index, file, input, runDate);
    if (stage) stages.push(stage);
  }
  // All text files in one statement: splitting and typing run on every core.
  if (stages.length) await engine.run(`INSERT INTO typed ${validateSql(stages.join('\nUNION ALL\n'), input, runDate)}`);
  await engine.run('DROP TABLE lines');
  for (const sql of newOrdersSql(input, historyFiles)) await engine.run(sql);
  const [counts] = await engine.query<Record<string, number>>(`SELECT
      CAST((SELECT count(*) FROM typed) AS DOUBLE) AS rows_read,
      CAST((SELECT count(*) FROM typed WHERE reason IS NOT NULL) AS DOUBLE) AS rows_rejected,
      CAST((SELECT count(*) FROM typed WHERE reason IS NULL) AS DOUBLE) AS rows_valid,
      CAST((SELECT coalesce(sum(row_count), 0) FROM new_orders) AS DOUBLE) AS rows_accepted,
      CAST((SELECT count(*) FROM new_orders) AS DOUBLE) AS orders_added`);
  const c = counts!;
  return {
    filesRead: files.length,
    rowsRead: c['rows_read']!,
    rowsRejected: c['rows_rejected']!,
    rowsAccepted: c['rows_accepted']!,
    rowsDuplicate: c['rows_valid']! - c['rows_accepted']!,
    ordersAdded: c['orders_added']!,
  };
}

/** The new orders, shaped as the `transactions` table (before the catalog cast). */
export const NEW_ORDERS_RELATION = `SELECT *, CAST(ordered_at AS DATE) AS order_date FROM new_orders`;

/** Rejected rows, shaped as the `rejects` table. */
export const REJECTS_RELATION = `SELECT source_file, source_line, reason, raw FROM typed WHERE reason IS NOT NULL`;

function fileReject(index: number, sourceFile: string, reason: string, raw: string | null): string {
  return `INSERT INTO typed (file_index, source_file, source_line, raw, reason)
    VALUES (${index}, ${literal(sourceFile)}, NULL, ${raw === null ? 'NULL' : literal(raw)}, ${literal(reason)})`;
}

/**
 * Stages one file: Parquet rows go straight into `typed`; a text file's lines go into `lines` and
 * its staging SELECT is returned, to be typed together with the other files.
 */
async function loadFile(
  engine: SqlEngine,
  index: number,
  file: ExtractFile,
  input: InputConfig,
  runDate: string,
): Promise<string | undefined> {
  const { key, local, format } = file;
  if (!local?.readable || !format) {
    const reason = local?.problem?.reason ?? 'not an extract file (expected .csv, .jsonl, .parquet, optionally .gz)';
    await engine.run(fileReject(index, key, reason, local?.problem?.raw ?? null));
    return undefined;
  }
  const stage: StageFile = { fileIndex: index, sourceFile: key, path: local.path };
  let sql: string | undefined;
  try {
    sql = await stageReadable(engine, stage, format, input, runDate);
  } catch (error) {
    // A file the engine cannot read at all (corrupt Parquet, …) is one reject; the run goes on.
    // Other errors (binder, parser) are bugs in our SQL and must fail the run.
    if (!DATA_ERROR.test((error as Error).message)) throw error;
    await engine.run(`DELETE FROM typed WHERE file_index = ${index}`);
    await engine.run(`DELETE FROM lines WHERE file_index = ${index}`);
    await engine.run(fileReject(index, key, `unreadable ${format} file: ${firstLine((error as Error).message)}`, null));
  }
  if (local.problem) await engine.run(fileReject(index, key, local.problem.reason, local.problem.raw));
  return sql;
}

/** Stages a readable file; returns the staging SELECT when its lines wait in `lines` for typing. */
async function stageReadable(
  engine: SqlEngine,
  stage: StageFile,
  format: FileFormat,
  input: InputConfig,
  runDate: string,
): Promise<string | undefined> {
  const { fileIndex: index, sourceFile: key, path } = stage;
  if (format === 'parquet') {
    const described = await engine.query<{ column_name: string }>(`DESCRIBE SELECT * FROM read_parquet(${literal(path)})`);
    const staged = stageParquetSql(stage, input, described.map((d) => d.column_name));
    await engine.run(`INSERT INTO typed ${validateSql(staged, input, runDate)}`);
    return undefined;
  }
  const errorTable = `line_errors_${index}`;
  const [scan] = await engine.query<{ non_empty: number }>(scanLinesSql(path, errorTable));
  const [errors] = await engine.query<{ n: number }>(`SELECT CAST(count(*) AS INTEGER) AS n FROM ${errorTable}`);
  const hasErrors = errors!.n > 0;
  if (format === 'csv' && !hasErrors && (await stageCsvFast(engine, stage, input, runDate, scan!.non_empty))) return undefined;
  if (hasErrors) {
    await engine.run(`INSERT INTO typed (file_index, source_file, source_line, raw, reason) ${lineErrorsSql(index, key, errorTable)}`);
  }
  await engine.run(loadLinesSql(index, path, hasErrors ? errorTable : undefined));
  if (format === 'jsonl') return stageJsonlSql(stage, input);
  const header = `SELECT line FROM lines WHERE file_index = ${index} AND source_line = 1`;
  return stageCsvSql(stage, input, await columnNames(engine, header, input));
}

/** Column names of a delimited file: its header line (`firstLine`) split like the data, or the configured names. */
async function columnNames(engine: SqlEngine, firstLine: string, input: InputConfig): Promise<string[]> {
  if (!input.header) return input.names ?? [];
  const [header] = await engine.query<{ names: string[] | null }>(
    `SELECT ${splitFieldsSql(input.delimiter)} AS names FROM (${firstLine})`,
  );
  return header?.names ?? [];
}

/**
 * The fast path for delimited files: DuckDB's parallel CSV reader types the rows; only the lines it
 * rejects and the rows failing a check are re-read line by line, so each reject names its line and
 * carries the same reason as on the line path. Returns false when the file must take the line path
 * whole (whitespace-separated, missing columns, records spanning lines, or an inconsistency).
 */
async function stageCsvFast(engine: SqlEngine, stage: StageFile, input: InputConfig, runDate: string, nonEmptyLines: number): Promise<boolean> {
  if (input.parser !== 'auto' || input.delimiter === 'whitespace') return false;
  const { fileIndex: index, path } = stage;
  const names = await columnNames(engine, `SELECT line FROM ${readLines(path, 'ignore_errors = true')} LIMIT 1`, input);
  if (missingColumnsReason(input, fieldPositions(input, names))) return false;
  const native = `native_errors_${index}`;
  await engine.run(`INSERT INTO typed ${verdictSql(nativeCsvValuesSql(stage, input, names, native), input, runDate)}`);
  const [check] = await engine.query<{ failed_lines: number; suspects: number; records: number }>(`SELECT
      CAST((SELECT count(DISTINCT line) FROM ${native}) AS DOUBLE) AS failed_lines,
      CAST(count(*) FILTER (WHERE reason IS NOT NULL) AS DOUBLE) AS suspects,
      CAST(count(*) AS DOUBLE) AS records
    FROM typed WHERE file_index = ${index}`);
  const { failed_lines: failedLines, suspects, records } = check!;
  const header = input.header ? 1 : 0;
  const discard = async () => {
    await engine.run(`DELETE FROM typed WHERE file_index = ${index}`);
    await engine.run(`DELETE FROM lines WHERE file_index = ${index}`);
    return false;
  };
  // Fewer records than lines means quoted fields spanning lines: the line path rejects those.
  if (records + failedLines + header !== nonEmptyLines) return discard();
  if (failedLines === 0 && suspects === 0) return true;

  const failed = `SELECT CAST(line AS BIGINT) AS source_line FROM ${native}`;
  const suspectRows = `SELECT transaction_id, customer_id FROM typed WHERE file_index = ${index} AND reason IS NOT NULL`;
  // Only the lines that can matter are kept: DuckDB's failures and those containing a suspect's id.
  const ids = await engine.query<{ id: string | null }>(`SELECT coalesce(transaction_id, customer_id) AS id FROM (${suspectRows}) LIMIT ${MAX_SUSPECT_FILTER + 1}`);
  const filter = ids.length <= MAX_SUSPECT_FILTER && ids.every((row) => row.id !== null)
    ? [`source_line IN (${failed})`, ...new Set(ids.map((row) => `contains(line, ${literal(row.id!)})`))].join(' OR ')
    : 'true';
  await engine.run(loadLinesSql(index, path, undefined, filter));
  await engine.run(`DELETE FROM lines WHERE file_index = ${index} AND source_line NOT IN (
      ${failed} UNION ${matchingLinesSql(index, input, names, suspectRows)})`);
  await engine.run(`DELETE FROM typed WHERE file_index = ${index} AND reason IS NOT NULL`);
  // Re-read lines: rejects keep their line-path verdict; lines DuckDB failed but the line path
  // accepts are rows too; matched lines that pass were already typed above.
  await engine.run(`INSERT INTO typed SELECT * FROM (${validateSql(stageCsvSql(stage, input, names), input, runDate)})
    WHERE reason IS NOT NULL OR source_line IN (${failed})`);
  const [recheck] = await engine.query<{ found: number }>(`SELECT CAST(count(*) AS DOUBLE) AS found FROM typed
    WHERE file_index = ${index} AND reason IS NOT NULL AND source_line NOT IN (${failed})`);
  if (recheck!.found !== suspects) return discard();
  await engine.run(`DELETE FROM lines WHERE file_index = ${index}`);
  return true;
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.slice(0, 300);
}

/**
 * The orders of this extract not seen on an earlier day. Order grain: of rows sharing an id, one
 * is kept (first by {@link ROW_ORDER}), the others are duplicates. Line grain: the lines of an id
 * are summed into one order.
 * Sources without ids get one from the configured fields plus the occurrence number, so identical
 * rows in one extract stay distinct while a re-delivered extract is recognised.
 */
function newOrdersSql(input: InputConfig, historyFiles: readonly string[]): string[] {
  const derived = input.transaction_id_from
    ? `md5(concat_ws(chr(31), ${input.transaction_id_from
        .map((f) => `coalesce(CAST(${ident(fieldColumn(f))} AS VARCHAR), '')`)
        .join(', ')})) AS derived_key`
    : 'NULL AS derived_key';
  const id = input.transaction_id_from
    ? `derived_key || '-' || CAST(row_number() OVER (PARTITION BY derived_key ORDER BY ${ROW_ORDER}) AS VARCHAR)`
    : 'transaction_id';
  const candidates = `SELECT * EXCLUDE (transaction_id, derived_key, raw, reason), ${id} AS transaction_id
    FROM (SELECT *, rowid AS row_key, ${derived} FROM typed WHERE reason IS NULL)`;
  const seen = historyFiles.length
    ? `SELECT transaction_id FROM ${readParquet(historyFiles)}`
    : `SELECT CAST(NULL AS VARCHAR) AS transaction_id WHERE false`;
  if (input.grain === 'line') {
    return [
      `CREATE TEMP TABLE new_orders AS
      WITH orders AS (
        SELECT transaction_id, arg_min(customer_id, ${ROW_ORDER}) AS customer_id, min(ordered_at) AS ordered_at,
          sum(amount) AS amount, sum(quantity) AS quantity, arg_min(channel, ${ROW_ORDER}) AS channel,
          arg_min(currency, ${ROW_ORDER}) AS currency, bool_or(is_return) AS is_return,
          arg_min(source_file, ${ROW_ORDER}) AS source_file, count(*) AS row_count
        FROM (${candidates}) GROUP BY transaction_id)
      SELECT * FROM orders AS o WHERE NOT EXISTS (SELECT 1 FROM (${seen}) AS h WHERE h.transaction_id = o.transaction_id)`,
    ];
  }
  // Order grain: duplicates are rare, so only their row keys are collected (repeats after the kept
  // row, and ids seen on earlier days); the new orders are then a view that filters them out,
  // streamed once into the Parquet writer instead of copied into another table.
  return [
    // Derived ids come from a window: computed once into a table. Delivered ids need no copy.
    `CREATE TEMP ${input.transaction_id_from ? 'TABLE' : 'VIEW'} candidates AS ${candidates}`,
    `CREATE TEMP TABLE dropped AS
      SELECT row_key FROM candidates
      WHERE transaction_id IN (SELECT transaction_id FROM candidates GROUP BY transaction_id HAVING count(*) > 1)
      QUALIFY row_number() OVER (PARTITION BY transaction_id ORDER BY ${ROW_ORDER}) > 1
      UNION
      SELECT row_key FROM candidates WHERE transaction_id IN (${seen})`,
    `CREATE TEMP VIEW new_orders AS
      SELECT * EXCLUDE (row_key, file_index, source_line), 1 AS row_count FROM candidates
      WHERE row_key NOT IN (SELECT row_key FROM dropped)`,
  ];
}

/** Column of the `typed` table holding a canonical field (unit_price is folded into amount). */
function fieldColumn(field: (typeof FIELDS)[number]): string {
  return field === 'unit_price' ? 'amount' : field;
}
