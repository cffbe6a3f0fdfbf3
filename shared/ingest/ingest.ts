/**
 * Ingest of one date's extract: every input row ends in exactly one place, the new orders
 * (`new_orders` temp table) or the rejects (`typed` rows with a reason), or is counted as a duplicate.
 */
import { FIELDS, type InputConfig } from '../config.js';
import type { SqlEngine } from '../engine/sql-engine.js';
import { ident, literal, readParquet } from '../sql/dialect.js';
import type { LocalFile } from './localize.js';
import {
  LINES_TABLE,
  lineErrorsSql,
  loadLinesSql,
  scanLineErrorsSql,
  splitFieldsSql,
  stageCsvSql,
  stageJsonlSql,
  stageParquetSql,
  type FileFormat,
  type StageFile,
} from './stage-sql.js';
import { TYPED_TABLE, validateSql } from './validate-sql.js';

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

/** DuckDB's messages for errors caused by a file's content rather than by the query. */
const DATA_ERROR = /^(Invalid Input Error|IO Error|Conversion Error)/;

/** Order ids get a position from (file, line) so "first occurrence" is well defined. */
const POSITION = 'file_index * 4294967296 + source_line';

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
  await engine.run(newOrdersSql(input, historyFiles));
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
    if (format === 'parquet') {
      const described = await engine.query<{ column_name: string }>(
        `DESCRIBE SELECT * FROM read_parquet(${literal(local.path)})`,
      );
      const staged = stageParquetSql(stage, input, described.map((d) => d.column_name));
      await engine.run(`INSERT INTO typed ${validateSql(staged, input, runDate)}`);
    } else {
      const errorTable = `line_errors_${index}`;
      await engine.query(scanLineErrorsSql(local.path, errorTable));
      const [errors] = await engine.query<{ n: number }>(`SELECT CAST(count(*) AS INTEGER) AS n FROM ${errorTable}`);
      const hasErrors = errors!.n > 0;
      if (hasErrors) {
        await engine.run(`INSERT INTO typed (file_index, source_file, source_line, raw, reason) ${lineErrorsSql(index, key, errorTable)}`);
      }
      await engine.run(loadLinesSql(index, local.path, hasErrors ? errorTable : undefined));
      sql = format === 'jsonl' ? stageJsonlSql(stage, input) : stageCsvSql(stage, input, await columnNames(engine, index, input));
    }
  } catch (error) {
    // A file the engine cannot read at all (corrupt Parquet, …) is one reject; the run goes on.
    // Other errors (binder, parser) are bugs in our SQL and must fail the run.
    if (!DATA_ERROR.test((error as Error).message)) throw error;
    await engine.run(`DELETE FROM typed WHERE file_index = ${index}`);
    await engine.run(`DELETE FROM lines WHERE file_index = ${index}`);
    await engine.run(fileReject(index, key, `unreadable ${format} file: ${firstLine((error as Error).message)}`, null));
    sql = undefined;
  }
  if (local.problem) await engine.run(fileReject(index, key, local.problem.reason, local.problem.raw));
  return sql;
}

/** Column names of a delimited file: its header line (line 1) split like the data, or the configured names. */
async function columnNames(engine: SqlEngine, fileIndex: number, input: InputConfig): Promise<string[]> {
  if (!input.header) return input.names ?? [];
  const [header] = await engine.query<{ names: string[] | null }>(
    `SELECT ${splitFieldsSql(input.delimiter)} AS names FROM lines WHERE file_index = ${fileIndex} AND source_line = 1`,
  );
  return header?.names ?? [];
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.slice(0, 300);
}

/**
 * The orders of this extract not seen on an earlier day. Order grain: the first occurrence of an
 * id wins, later ones are duplicates. Line grain: the lines of an id are summed into one order.
 * Sources without ids get one from the configured fields plus the occurrence number, so identical
 * rows in one extract stay distinct while a re-delivered extract is recognised.
 */
function newOrdersSql(input: InputConfig, historyFiles: readonly string[]): string {
  const derived = input.transaction_id_from
    ? `md5(concat_ws(chr(31), ${input.transaction_id_from
        .map((f) => `coalesce(CAST(${ident(fieldColumn(f))} AS VARCHAR), '')`)
        .join(', ')})) AS derived_key`
    : 'NULL AS derived_key';
  const id = input.transaction_id_from
    ? `derived_key || '-' || CAST(row_number() OVER (PARTITION BY derived_key ORDER BY ${POSITION}) AS VARCHAR)`
    : 'transaction_id';
  const candidates = `SELECT * EXCLUDE (transaction_id, derived_key, raw, reason), ${id} AS transaction_id, ${POSITION} AS pos
    FROM (SELECT *, ${derived} FROM typed WHERE reason IS NULL)`;
  const orders =
    input.grain === 'line'
      ? `SELECT transaction_id, arg_min(customer_id, pos) AS customer_id, min(ordered_at) AS ordered_at,
          sum(amount) AS amount, sum(quantity) AS quantity, arg_min(channel, pos) AS channel,
          arg_min(currency, pos) AS currency, bool_or(is_return) AS is_return,
          arg_min(source_file, pos) AS source_file, arg_min(source_line, pos) AS source_line, count(*) AS row_count
        FROM candidates GROUP BY transaction_id`
      : // Repeated ids are rare: find candidates by hash (an integer key aggregates far faster than
        // strings), confirm on the id itself, and keep every other row untouched.
        `SELECT c.* EXCLUDE (pos, file_index), 1 AS row_count FROM candidates AS c
        LEFT JOIN (
          SELECT transaction_id, min(pos) AS first_pos FROM candidates
          WHERE hash(transaction_id) IN (SELECT h FROM (SELECT hash(transaction_id) AS h FROM candidates) GROUP BY h HAVING count(*) > 1)
          GROUP BY transaction_id HAVING count(*) > 1
        ) AS r ON c.transaction_id = r.transaction_id
        WHERE r.transaction_id IS NULL OR c.pos = r.first_pos`;
  const seen = historyFiles.length
    ? `SELECT transaction_id FROM ${readParquet(historyFiles)}`
    : `SELECT CAST(NULL AS VARCHAR) AS transaction_id WHERE false`;
  return `CREATE TEMP TABLE new_orders AS
    WITH candidates AS (${candidates}), orders AS (${orders})
    SELECT * FROM orders AS o WHERE NOT EXISTS (SELECT 1 FROM (${seen}) AS h WHERE h.transaction_id = o.transaction_id)`;
}

/** Column of the `typed` table holding a canonical field (unit_price is folded into amount). */
function fieldColumn(field: (typeof FIELDS)[number]): string {
  return field === 'unit_price' ? 'amount' : field;
}
