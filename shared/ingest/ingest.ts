/**
 * Ingest of one date's extract: every input row lands in the `typed` table, valid or with a reject
 * reason; `new_orders` (a view or table) then holds the orders not seen before, and the rest of
 * the valid rows are counted as duplicates.
 */
import { FIELDS, type InputConfig } from '../config.js';
import type { HistoryEngine } from '../engine/history.js';
import type { SqlEngine } from '../engine/sql-engine.js';
import { sqlType } from '../catalog.js';
import { ident, literal, readParquet } from '../sql/dialect.js';
import { referralProblemsSql } from '../crm/referral-sql.js';
import { kindFields, validateKindSql, type SourceKind } from './kinds.js';
import type { LocalFile } from './localize.js';
import {
  fieldPositions,
  LINES_TABLE,
  lineErrorsSql,
  loadLinesSql,
  duplicateColumnsReason,
  missingColumnsReason,
  readLines,
  scanLinesSql,
  splitFieldsSql,
  matchingLinesSql,
  nativeCsvValuesSql,
  nativeFailedLinesSql,
  nativeTextStageSql,
  stageCsvSql,
  stageJsonlSql,
  stageParquetSql,
  transactionFields,
  type FieldMap,
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

/** How delimited text files are read: the settings every kind of extract shares. */
type TextInput = Pick<InputConfig, 'delimiter' | 'header' | 'names'> & Partial<Pick<InputConfig, 'parser'>>;

/** How one kind of extract is staged and typed into the `typed` table. */
interface Staging {
  input: TextInput;
  fields: FieldMap;
  /** SELECT typing a staging relation into rows of `typed`. */
  validate(stage: string): string;
  /** DuckDB's own reader for the clean delimited files, when the kind has one (transactions). */
  fastPath?: (files: readonly FastFile[]) => Promise<LineFile[]>;
}

/**
 * Stages and types every file of an extract into the `typed` table (created by the caller): each
 * input row once, valid or with its reason, and one row per file that could not be read.
 */
async function stageExtract(engine: SqlEngine, files: readonly ExtractFile[], staging: Staging): Promise<void> {
  await engine.run(LINES_TABLE);
  const fast: FastFile[] = [];
  const lineFiles: LineFile[] = [];
  for (const [index, file] of files.entries()) {
    const route = await routeFile(engine, index, file, staging);
    if (route?.route === 'fast') fast.push(route);
    else if (route?.route === 'lines') lineFiles.push(route);
  }
  if (fast.length) lineFiles.push(...(await staging.fastPath!(fast)));
  const stages: string[] = [];
  for (const file of lineFiles) stages.push(await loadLines(engine, file, staging));
  // All line-path files in one statement: splitting and typing run on every core.
  if (stages.length) await engine.run(`INSERT INTO typed ${staging.validate(stages.join('\nUNION ALL\n'))}`);
  await engine.run('DROP TABLE lines');
  // A readable file's own problem (e.g. truncated gzip) is recorded last: staging may redo a file's rows.
  for (const [index, { key, local }] of files.entries()) {
    if (local?.readable && local.problem) await engine.run(fileReject(index, key, local.problem.reason, local.problem.raw));
  }
}

/** Rows read and rejected, from `typed` (for transactions before the new orders are chosen: that deletes the repeats from it). */
async function readCounts(engine: SqlEngine): Promise<{ rows_read: number; rows_rejected: number }> {
  const [read] = await engine.query<{ rows_read: number; rows_rejected: number }>(`SELECT
      CAST(count(*) AS DOUBLE) AS rows_read, CAST(count(reason) AS DOUBLE) AS rows_rejected FROM typed`);
  return read!;
}

export async function ingestExtract(
  engine: SqlEngine,
  files: readonly ExtractFile[],
  input: InputConfig,
  runDate: string,
  historyFiles: readonly string[],
): Promise<IngestCounts> {
  await engine.run(TYPED_TABLE);
  await stageExtract(engine, files, {
    input,
    fields: transactionFields(input),
    validate: (stage) => validateSql(stage, input, runDate),
    fastPath: (fast) => stageCsvFast(engine, fast, input, runDate),
  });
  const { rows_read: rowsRead, rows_rejected: rowsRejected } = await readCounts(engine);
  for (const sql of newOrdersSql(input, historyFiles)) await engine.run(sql);
  const [added] = await engine.query<{ rows_accepted: number; orders_added: number }>(`SELECT
      CAST(coalesce(sum(row_count), 0) AS DOUBLE) AS rows_accepted, CAST(count(*) AS DOUBLE) AS orders_added FROM new_orders`);
  const { rows_accepted: rowsAccepted, orders_added: ordersAdded } = added!;
  return {
    filesRead: files.length,
    rowsRead,
    rowsRejected,
    rowsAccepted,
    rowsDuplicate: rowsRead - rowsRejected - rowsAccepted,
    ordersAdded,
  };
}

/** The new rows of the CRM kind just ingested, shaped as its curated table (before the catalog cast). */
export const KIND_ROWS_RELATION = 'SELECT * FROM new_rows';

/** How a CRM kind's extracts are read: the text settings, the column mapping and the date-time format. */
export interface KindInput extends TextInput {
  /** Canonical field → source column; an unmapped field is read from the column of its name. */
  columns: Readonly<Partial<Record<string, string>>>;
  timestamp_format?: string | undefined;
  /** Fields whose hash (and occurrence number) is the row's id, for a source without the kind's id. */
  id_from?: readonly string[] | undefined;
}

/**
 * Ingest of one CRM kind's extract (after the transactions', whose staging tables must be gone):
 * every row lands in `typed`, valid or with its reason; `new_rows` then holds the valid rows whose
 * key neither an earlier row of the extract (by file, then line) nor an earlier night (the kind's
 * curated partitions, `historyFiles`) holds, and the other valid rows are duplicates. A kind
 * without a key gets `row_id`: a hash of all its fields and the occurrence number, so identical
 * rows of one extract stay distinct and a re-delivered extract is recognised.
 */
export async function ingestKind(
  engine: SqlEngine,
  files: readonly ExtractFile[],
  kind: SourceKind,
  input: KindInput,
  runDate: string,
  historyFiles: readonly string[],
): Promise<IngestCounts> {
  await engine.run(`CREATE TEMP TABLE typed (file_index INTEGER, source_file VARCHAR, source_line BIGINT, raw VARCHAR, reason VARCHAR,
    ${kind.fields.map((f) => `${ident(f.name)} ${sqlType(f.type)}`).join(', ')})`);
  // With a derived id, the delivered one is neither needed nor kept.
  const derivedId = input.id_from ? kind.key![0]! : undefined;
  const read: SourceKind = derivedId ? { ...kind, fields: kind.fields.map((f) => (f.name === derivedId ? { ...f, required: undefined } : f)) } : kind;
  const staging = { input, fields: kindFields(read, input.columns), validate: (stage: string) => validateKindSql(read, stage, runDate, input.timestamp_format) };
  await stageExtract(engine, files, {
    ...staging,
    // A profile's referral is judged after the dedupe, and its reject must name its line: profiles take the line path.
    ...(kind.referrals ? {} : { fastPath: (fast: readonly FastFile[]) => stageKindFast(engine, fast, kind.name, staging) }),
  });
  // Counted before the dedupe, which deletes a keyed kind's repeats from `typed`.
  const { rows_read: rowsRead } = await readCounts(engine);
  const names = kind.fields.map((f) => ident(f.name));
  const key = kind.key?.map(ident) ?? ['row_id'];
  // Of rows sharing a key, the first by file and then content is kept (the fast path knows no lines).
  const rowOrder = ['file_index', ...names, 'source_line'].join(', ');
  const seen = historyFiles.length ? `SELECT ${key.join(', ')} FROM ${readParquet(historyFiles)}` : undefined;
  const on = (a: string, b: string) => key.map((k) => `${a}.${k} = ${b}.${k}`).join(' AND ');
  const valid = 'SELECT * EXCLUDE (raw, reason), rowid AS row_key FROM typed WHERE reason IS NULL';
  const idOf = kind.key ? derivedId : 'row_id';
  if (idOf) {
    // An id from a hash of the fields and the occurrence number: the whole row for a keyless kind,
    // the configured fields for `id_from`. A window, so a table, kept in the extract's order.
    const hashed = (derivedId ? input.id_from!.map(ident) : names).map((f) => `coalesce(CAST(${f} AS VARCHAR), '')`);
    const id = `md5(concat_ws(chr(31), ${hashed.join(', ')})) || '-' || CAST(row_number() OVER (PARTITION BY ${hashed.join(', ')} ORDER BY ${rowOrder}) AS VARCHAR)`;
    await engine.run(`CREATE TEMP TABLE candidates AS SELECT * ${derivedId ? `REPLACE (${id} AS ${ident(derivedId)})` : `, ${id} AS row_id`}
      FROM (${valid}) ORDER BY row_key`);
  } else {
    // A view in the extract's order: the rows are written as they came, and only the repeats are deleted.
    await engine.run(`CREATE TEMP VIEW candidates AS ${valid}`);
  }
  // Repeats are rare: only the keys occurring twice are ranked.
  await engine.run(`CREATE TEMP TABLE dropped AS
    SELECT c.row_key FROM candidates AS c SEMI JOIN (SELECT ${key.join(', ')} FROM candidates GROUP BY ALL HAVING count(*) > 1) AS d ON ${on('c', 'd')}
    QUALIFY row_number() OVER (PARTITION BY ${key.map((k) => `c.${k}`).join(', ')} ORDER BY ${rowOrder}) > 1
    ${seen ? `UNION SELECT c.row_key FROM candidates AS c JOIN (${seen}) AS h ON ${on('c', 'h')}` : ''}`);
  await engine.run(idOf ? 'DELETE FROM candidates WHERE row_key IN (SELECT row_key FROM dropped)' : 'DELETE FROM typed WHERE rowid IN (SELECT row_key FROM dropped)');
  if (kind.referrals) await rejectBadReferrals(engine, names, historyFiles);
  const [counted] = await engine.query<{ rejected: number; accepted: number }>(`SELECT
      (SELECT CAST(count(reason) AS DOUBLE) FROM typed) AS rejected, (SELECT CAST(count(*) AS DOUBLE) FROM candidates) AS accepted`);
  const { rejected, accepted } = counted!;
  await engine.run('CREATE TEMP VIEW new_rows AS SELECT * EXCLUDE (file_index, source_line, row_key) FROM candidates');
  return { filesRead: files.length, rowsRead, rowsRejected: rejected, rowsAccepted: accepted, rowsDuplicate: rowsRead - rejected - accepted, ordersAdded: accepted };
}

/**
 * A profile delivered tonight whose referral cannot count — the customer names itself, names no
 * customer known as of tonight, or closes a referral cycle — is rejected with the reason instead of
 * becoming the current profile (`referralProblemsSql`), so that no referral is counted twice. The
 * current profiles are the latest version per customer of the earlier nights and tonight's rows.
 */
async function rejectBadReferrals(engine: SqlEngine, fields: readonly string[], historyFiles: readonly string[]): Promise<void> {
  const earlier = historyFiles.length
    ? `SELECT customer_id, referred_by, updated_at, CAST(NULL AS BIGINT) AS row_key FROM ${readParquet(historyFiles)} UNION ALL `
    : '';
  // The row as JSON for the reject: accepted rows keep no raw text.
  await engine.run(`CREATE TEMP TABLE referral_problems AS
    WITH versions AS (${earlier}SELECT customer_id, referred_by, updated_at, row_key FROM candidates),
    profiles AS (SELECT * FROM versions QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY updated_at DESC) = 1)
    SELECT p.row_key, r.reason, CAST(to_json(struct_pack(${fields.map((f) => `c.${f}`).join(', ')})) AS VARCHAR) AS raw
    FROM (${referralProblemsSql('SELECT customer_id, referred_by FROM profiles')}) AS r
    JOIN profiles AS p USING (customer_id) JOIN candidates AS c ON c.row_key = p.row_key`);
  // A rejected row has a reason: the candidates (a view of the valid rows) no longer hold it.
  await engine.run('UPDATE typed SET reason = p.reason, raw = p.raw FROM referral_problems AS p WHERE typed.rowid = p.row_key');
  await engine.run('DROP TABLE referral_problems');
}

/** The new orders, shaped as the `transactions` table (before the catalog cast). */
export const NEW_ORDERS_RELATION = `SELECT *, CAST(ordered_at AS DATE) AS order_date FROM new_orders`;

/**
 * {@link NEW_ORDERS_RELATION} in a fixed order that both ingest paths share, without sorting the
 * extract (~2 s on 10M rows): file by file, each file's rows as read. Neither path appends a row of
 * a file after its others, so each file's rows are in `typed` in line order, and a scan of one
 * table keeps its row order (DuckDB's order preservation). Files usually follow each other in
 * file order too; when they do not (header groups, files on the line path), a UNION ALL of one
 * scan per file puts them in order. Line grain: `new_orders` is already sorted by order id.
 */
export async function orderedNewOrdersRelation(engine: SqlEngine, input: InputConfig): Promise<string> {
  if (input.grain === 'line') return NEW_ORDERS_RELATION;
  const files = await engine.query<{ file_index: number; after_previous: boolean | null }>(`SELECT file_index,
      first_key > lag(last_key) OVER (ORDER BY file_index) AS after_previous
    FROM (SELECT file_index, min(row_key) AS first_key, max(row_key) AS last_key FROM new_orders GROUP BY file_index)
    ORDER BY file_index`);
  if (files.every((f) => f.after_previous !== false)) return NEW_ORDERS_RELATION;
  return files.map((f) => `${NEW_ORDERS_RELATION} WHERE file_index = ${f.file_index}`).join('\nUNION ALL\n');
}

/**
 * Removes from the new orders those whose id is in `seen` (ids found on earlier days elsewhere),
 * from the table under `new_orders`, so that {@link orderedNewOrdersRelation} keeps its order.
 */
function dropOrdersSql(input: InputConfig, seen: string): string {
  const ids = `transaction_id IN (SELECT transaction_id FROM (${seen}))`;
  if (input.grain === 'line') return `DELETE FROM new_orders WHERE ${ids}`;
  return input.transaction_id_from ? `DELETE FROM candidates WHERE ${ids}` : `DELETE FROM typed WHERE reason IS NULL AND ${ids}`;
}

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

/**
 * When the history stays remote, the ingest could only dedupe within the extract: the remote
 * engine names the new orders it has seen on earlier days, and those are dropped from the new
 * orders here. Returns how many orders, and input rows, were dropped.
 */
export async function dropSeenOrders(engine: SqlEngine, input: InputConfig, history: HistoryEngine): Promise<{ orders: number; rows: number }> {
  await history.materialize(SEEN_ORDERS, seenOrdersSql(history.staged, history.earlier));
  const [seen] = await engine.query<{ orders: number; rows: number }>(`SELECT CAST(count(*) AS DOUBLE) AS orders,
    CAST(coalesce(sum(row_count), 0) AS DOUBLE) AS rows FROM new_orders WHERE transaction_id IN (SELECT transaction_id FROM ${SEEN_ORDERS})`);
  if (seen!.orders > 0) await engine.run(dropOrdersSql(input, `SELECT transaction_id FROM ${SEEN_ORDERS}`));
  return seen!;
}

/** Rejected rows of the extract just staged. */
export const REJECTS_RELATION = `SELECT source_file, source_line, reason, raw FROM typed WHERE reason IS NOT NULL`;

/**
 * What the night's sources leave for the `rejects` and `source_manifest` tables: every rejected
 * row with its source, and each source's counts; kept as each source is ingested, since the next
 * source's staging replaces the last.
 */
export const NIGHT_REJECTS = 'night_rejects';
export const NIGHT_SOURCES = 'night_sources';

export async function createNightTables(engine: SqlEngine): Promise<void> {
  await engine.run(`CREATE TEMP TABLE ${NIGHT_REJECTS} (source VARCHAR, source_file VARCHAR, source_line BIGINT, reason VARCHAR, raw VARCHAR)`);
  await engine.run(`CREATE TEMP TABLE ${NIGHT_SOURCES} (source VARCHAR, files_read INTEGER, rows_read BIGINT, rows_accepted BIGINT, rows_rejected BIGINT, rows_duplicate BIGINT)`);
}

/** Keeps the staged source's rejects and counts (before its staging tables are dropped). */
export async function recordSource(engine: SqlEngine, source: string, counts: IngestCounts): Promise<void> {
  await engine.run(`INSERT INTO ${NIGHT_REJECTS} SELECT ${literal(source)}, * FROM (${REJECTS_RELATION})`);
  const { filesRead, rowsRead, rowsAccepted, rowsRejected, rowsDuplicate } = counts;
  await engine.run(`INSERT INTO ${NIGHT_SOURCES} VALUES (${literal(source)}, ${filesRead}, ${rowsRead}, ${rowsAccepted}, ${rowsRejected}, ${rowsDuplicate})`);
}

function fileReject(index: number, sourceFile: string, reason: string, raw: string | null): string {
  return `INSERT INTO typed (file_index, source_file, source_line, raw, reason)
    VALUES (${index}, ${literal(sourceFile)}, NULL, ${raw === null ? 'NULL' : literal(raw)}, ${literal(reason)})`;
}

/** A delimited file for DuckDB's reader, with its column names and count of non-empty lines. */
interface FastFile extends StageFile {
  route: 'fast';
  names: string[];
  nonEmptyLines: number;
}

/** A text file for the line path; `errorTable` holds the lines DuckDB could not decode, if any. */
interface LineFile extends StageFile {
  route: 'lines';
  format: 'csv' | 'jsonl';
  errorTable?: string;
}

/**
 * Decides how a file is staged. Unreadable files become one reject and Parquet is typed at once
 * (both return undefined); a text file goes to the fast path when it is a clean delimited file,
 * else to the line path.
 */
async function routeFile(engine: SqlEngine, index: number, file: ExtractFile, staging: Staging): Promise<FastFile | LineFile | undefined> {
  const { input, fields } = staging;
  const { key, local, format } = file;
  if (!local?.readable || !format) {
    const reason = local?.problem?.reason ?? 'not an extract file (expected .csv, .jsonl, .parquet, optionally .gz)';
    await engine.run(fileReject(index, key, reason, local?.problem?.raw ?? null));
    return undefined;
  }
  const stage: StageFile = { fileIndex: index, sourceFile: key, path: local.path };
  try {
    if (format === 'parquet') {
      const described = await engine.query<{ column_name: string }>(`DESCRIBE SELECT * FROM read_parquet(${literal(local.path)})`);
      const staged = stageParquetSql(stage, fields, described.map((d) => d.column_name));
      await engine.run(`INSERT INTO typed ${staging.validate(staged)}`);
      return undefined;
    }
    const errorTable = `line_errors_${index}`;
    const [scan] = await engine.query<{ non_empty: number }>(scanLinesSql(local.path, errorTable));
    const [errors] = await engine.query<{ n: number }>(`SELECT CAST(count(*) AS DOUBLE) AS n FROM ${errorTable}`);
    if (errors!.n > 0) {
      await engine.run(`INSERT INTO typed (file_index, source_file, source_line, raw, reason) ${lineErrorsSql(index, key, errorTable)}`);
      return { route: 'lines', ...stage, format, errorTable };
    }
    if (format === 'csv' && staging.fastPath && input.parser === 'auto' && input.delimiter !== 'whitespace') {
      const names = await columnNames(engine, `SELECT line FROM ${readLines(local.path, 'ignore_errors = true')} LIMIT 1`, input);
      if (!missingColumnsReason(fields, fieldPositions(fields, names)) && !duplicateColumnsReason(fields, names)) {
        return { route: 'fast', ...stage, names, nonEmptyLines: scan!.non_empty };
      }
    }
    return { route: 'lines', ...stage, format };
  } catch (error) {
    // A file the engine cannot read at all (corrupt Parquet, …) is one reject; the run goes on.
    // Other errors (binder, parser) are bugs in our SQL and must fail the run.
    if (!DATA_ERROR.test((error as Error).message)) throw error;
    await engine.run(`DELETE FROM typed WHERE file_index = ${index} AND source_line IS NOT NULL`);
    // The engine's message names the local copy; the reject names the file as the source knows it.
    const message = firstLine((error as Error).message).replaceAll(local.path, key);
    await engine.run(fileReject(index, key, `unreadable ${format} file: ${message}`, null));
    return undefined;
  }
}

/** Loads a line-path file into `lines`; returns its staging SELECT, typed with the others. */
async function loadLines(engine: SqlEngine, file: LineFile, { input, fields }: Staging): Promise<string> {
  await engine.run(loadLinesSql(file.fileIndex, file.path, file.errorTable));
  if (file.format === 'jsonl') return stageJsonlSql(file, fields);
  const header = `SELECT line FROM lines WHERE file_index = ${file.fileIndex} AND source_line = 1`;
  return stageCsvSql(file, input, fields, await columnNames(engine, header, input));
}

/** Column names of a delimited file: its header line (`firstLine`) split like the data, or the configured names. */
async function columnNames(engine: SqlEngine, firstLine: string, input: TextInput): Promise<string[]> {
  if (!input.header) return input.names ?? [];
  const [header] = await engine.query<{ names: string[] | null }>(
    `SELECT ${splitFieldsSql(input.delimiter)} AS names FROM (${firstLine})`,
  );
  return header?.names ?? [];
}

/**
 * The fast path: DuckDB's parallel CSV reader types the rows of all clean delimited files sharing
 * a header in one statement. Only the lines it rejects and the rows failing a check are then
 * re-read line by line, so each reject names its line and carries the same reason as on the line
 * path. Returns the files that must take the line path whole after all: records spanning lines
 * (the line path rejects those) or a re-read that does not add up.
 */
async function stageCsvFast(engine: SqlEngine, files: readonly FastFile[], input: InputConfig, runDate: string): Promise<LineFile[]> {
  return stageFast(engine, files, 'native_errors', {
    insert: (group, rejects) => verdictSql(nativeCsvValuesSql(group, input, group[0]!.names, rejects), input, runDate),
    keep: (file, rejects, check) => repairFast(engine, file, input, runDate, rejects, check),
  });
}

/**
 * The fast path's frame: per group of files sharing a header, one statement of DuckDB's reader
 * into `typed` (`insert`, with its rejects table), then per file whether its rows can stay
 * (`keep`, from the file's count of rows with a reason and of records); the others are returned
 * to be read whole on the line path.
 */
async function stageFast(
  engine: SqlEngine,
  files: readonly FastFile[],
  rejectsPrefix: string,
  { insert, keep }: { insert(group: readonly FastFile[], rejects: string): string; keep(file: FastFile, rejects: string, check: { suspects: number; records: number }): Promise<boolean> },
): Promise<LineFile[]> {
  const whole: LineFile[] = [];
  for (const [index, group] of byHeader(files).entries()) {
    const rejects = `${rejectsPrefix}_${index}`;
    await engine.run(`INSERT INTO typed ${insert(group, rejects)}`);
    const checks = await engine.query<{ file_index: number; suspects: number; records: number }>(`SELECT file_index,
        CAST(count(reason) AS DOUBLE) AS suspects, CAST(count(*) AS DOUBLE) AS records
      FROM typed WHERE file_index IN (${group.map((f) => f.fileIndex).join(', ')}) GROUP BY file_index`);
    for (const file of group) {
      const check = checks.find((c) => c.file_index === file.fileIndex) ?? { suspects: 0, records: 0 };
      if (!(await keep(file, rejects, check))) whole.push(await toLinePath(engine, file));
    }
  }
  return whole;
}

/** Fast-path files grouped by their column names: one reader statement per group. */
function byHeader(files: readonly FastFile[]): FastFile[][] {
  const groups = new Map<string, FastFile[]>();
  for (const file of files) {
    const header = JSON.stringify(file.names);
    groups.set(header, [...(groups.get(header) ?? []), file]);
  }
  return [...groups.values()];
}

/** A fast-path file read after all as a whole on the line path: its rows leave `typed` and `lines`. */
async function toLinePath(engine: SqlEngine, file: FastFile): Promise<LineFile> {
  await engine.run(`DELETE FROM typed WHERE file_index = ${file.fileIndex}`);
  await engine.run(`DELETE FROM lines WHERE file_index = ${file.fileIndex}`);
  return { ...file, route: 'lines', format: 'csv' };
}

/**
 * A CRM kind's fast path: DuckDB's parallel reader splits the clean delimited files, every column
 * as text, and the kind's own validation types them as on the line path. A file with a line the
 * reader rejects, a row failing a check, or records spanning lines then goes whole to the line path,
 * so every reject names its line and has the line path's reason; most extracts have none.
 */
function stageKindFast(engine: SqlEngine, files: readonly FastFile[], kind: string, staging: Omit<Staging, 'fastPath'>): Promise<LineFile[]> {
  const { input, fields, validate } = staging;
  return stageFast(engine, files, `native_errors_${kind}`, {
    insert: (group, rejects) => validate(nativeTextStageSql(group, input, fields, group[0]!.names, rejects)),
    keep: async (file, rejects, { suspects, records }) => {
      const [failed] = await engine.query<{ n: number }>(`SELECT CAST(count(*) AS DOUBLE) AS n FROM (${nativeFailedLinesSql(rejects, file.path)})`);
      return suspects === 0 && failed!.n === 0 && records + (input.header ? 1 : 0) === file.nonEmptyLines;
    },
  });
}

/** Re-reads a fast-path file's failed and suspect lines through the line path; false when the file must go whole. */
async function repairFast(
  engine: SqlEngine,
  file: FastFile,
  input: InputConfig,
  runDate: string,
  rejects: string,
  { suspects, records }: { suspects: number; records: number },
): Promise<boolean> {
  const index = file.fileIndex;
  const failed = nativeFailedLinesSql(rejects, file.path);
  const [counted] = await engine.query<{ n: number }>(`SELECT CAST(count(DISTINCT source_line) AS DOUBLE) AS n FROM (${failed})`);
  const failedLines = counted!.n;
  // Fewer records than lines means quoted fields spanning lines: the line path rejects those.
  if (records + failedLines + (input.header ? 1 : 0) !== file.nonEmptyLines) return false;
  if (failedLines === 0 && suspects === 0) return true;

  const suspectRows = `SELECT transaction_id, customer_id FROM typed WHERE file_index = ${index} AND reason IS NOT NULL`;
  // Only the lines that can matter are kept: DuckDB's failures and those containing a suspect's id.
  const ids = await engine.query<{ id: string | null }>(
    `SELECT coalesce(transaction_id, customer_id) AS id FROM (${suspectRows}) LIMIT ${MAX_SUSPECT_FILTER + 1}`,
  );
  const filter =
    ids.length <= MAX_SUSPECT_FILTER && ids.every((row) => row.id !== null)
      ? [`source_line IN (${failed})`, ...(ids.length ? [`regexp_matches(line, ${literal(anyOf(ids.map((row) => row.id!)))})`] : [])].join(' OR ')
      : 'true';
  await engine.run(loadLinesSql(index, file.path, undefined, filter));
  await engine.run(`DELETE FROM lines WHERE file_index = ${index} AND source_line NOT IN (
      ${failed} UNION ${matchingLinesSql(index, input, file.names, suspectRows)})`);
  await engine.run(`DELETE FROM typed WHERE file_index = ${index} AND reason IS NOT NULL`);
  // Re-read lines: rejects keep their line-path verdict; lines DuckDB failed but the line path
  // accepts are rows too; matched lines that pass were already typed above.
  await engine.run(`INSERT INTO typed SELECT * FROM (${validateSql(stageCsvSql(file, input, transactionFields(input), file.names), input, runDate)})
    WHERE reason IS NOT NULL OR source_line IN (${failed})`);
  const [recheck] = await engine.query<{ found: number; accepted: number }>(`SELECT
      CAST(count(*) FILTER (WHERE reason IS NOT NULL AND source_line NOT IN (${failed})) AS DOUBLE) AS found,
      CAST(count(*) FILTER (WHERE reason IS NULL) AS DOUBLE) AS accepted
    FROM typed WHERE file_index = ${index} AND source_line IS NOT NULL`);
  await engine.run(`DELETE FROM lines WHERE file_index = ${index}`);
  // A failed line the line path accepts would be a row after the file's others: the file goes
  // whole, so that its rows stay in line order (as on the line path).
  return recheck!.found === suspects && recheck!.accepted === 0;
}

/**
 * A regular expression matching text that contains any of `words`: one pass over each line, where
 * an OR of `contains` calls scans it once per word.
 */
function anyOf(words: readonly string[]): string {
  return [...new Set(words)].map((w) => w.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&')).join('|');
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
      SELECT * FROM orders AS o WHERE NOT EXISTS (SELECT 1 FROM (${seen}) AS h WHERE h.transaction_id = o.transaction_id)
      ORDER BY transaction_id`,
    ];
  }
  // Order grain: duplicates are rare, so only their row keys are collected (repeats after the kept
  // row, and ids seen on earlier days) and those rows deleted; the new orders are then a view over
  // one table, streamed once into the Parquet writer in the table's order (a join would lose it).
  const rows = input.transaction_id_from ? 'candidates' : 'typed';
  return [
    // Derived ids come from a window, which loses the row order: computed once into a table, in
    // the order of `typed`. Delivered ids need no copy.
    input.transaction_id_from
      ? `CREATE TEMP TABLE candidates AS ${candidates} ORDER BY row_key`
      : `CREATE TEMP VIEW candidates AS ${candidates}`,
    `CREATE TEMP TABLE dropped AS
      SELECT row_key FROM candidates
      WHERE transaction_id IN (SELECT transaction_id FROM candidates GROUP BY transaction_id HAVING count(*) > 1)
      QUALIFY row_number() OVER (PARTITION BY transaction_id ORDER BY ${ROW_ORDER}) > 1
      UNION
      SELECT row_key FROM candidates WHERE transaction_id IN (${seen})`,
    `DELETE FROM ${rows} WHERE ${input.transaction_id_from ? 'row_key' : 'rowid'} IN (SELECT row_key FROM dropped)`,
    `CREATE TEMP VIEW new_orders AS SELECT * EXCLUDE (source_line), 1 AS row_count FROM candidates`,
  ];
}

/**
 * Drops the ingest's staging tables once the new orders and the rejects are written: at 10M rows
 * they hold about a third of the engine's memory, which the night's later statements then lack
 * (each ran a quarter to a half slower with them in place).
 */
export async function dropStaging(engine: SqlEngine): Promise<void> {
  // new_orders and candidates are views or tables, by grain and by where the ids come from.
  const objects = await engine.query<{ name: string; kind: string }>(`
    SELECT view_name AS name, 'VIEW' AS kind FROM duckdb_views() WHERE temporary AND view_name IN ('new_orders', 'new_rows', 'candidates')
    UNION ALL
    SELECT table_name, 'TABLE' FROM duckdb_tables() WHERE temporary AND table_name IN ('new_orders', 'candidates', 'dropped', 'typed')`);
  // Views first: they read the tables.
  for (const { name, kind } of objects.sort((a, b) => b.kind.localeCompare(a.kind))) await engine.run(`DROP ${kind} ${name}`);
}

/** Column of the `typed` table holding a canonical field (unit_price is folded into amount). */
function fieldColumn(field: (typeof FIELDS)[number]): string {
  return field === 'unit_price' ? 'amount' : field;
}
