/**
 * SQL that turns one extract file into staged rows, by two paths with one result:
 *
 * - the line path: one row per input line (CSV, JSON Lines) or row (Parquet), each with its
 *   physical line number, raw text, a parse-level reject reason and the canonical fields as text;
 *   typing and validation follow in one place (`validateSql`). DuckDB's CSV reader does not report
 *   line numbers of accepted rows, and rejects must name the line, so each file is read as whole
 *   lines (no delimiter, no quoting) and fields are split in SQL. Records spanning several lines
 *   (newlines inside quotes) are therefore not supported: their pieces are rejected with a reason.
 * - the fast path (`nativeCsvValuesSql`): DuckDB's parallel CSV reader types the rows of a
 *   delimited file; the few lines it or a check rejects are re-read through the line path.
 */
import { FIELDS, sourceColumn, type Field, type InputConfig } from '../config.js';
import { ident, literal } from '../sql/dialect.js';
import { parseIsoTimestamp, trimmed } from './validate-sql.js';

/** Longer lines are rejected ("line too long") rather than parsed. */
export const MAX_LINE_BYTES = 1_048_576;

export type FileFormat = 'csv' | 'jsonl' | 'parquet';

/**
 * What the staging knows of what it stages: the canonical fields of a kind of extract (staged as
 * text, `f_<field>`), the source column each is read from, and those a file must have (by header
 * or schema) for any of its rows to be usable.
 */
export interface FieldMap {
  readonly fields: readonly string[];
  readonly required: readonly string[];
  column(field: string): string;
}

/** The transactions' fields under `input`: its column mapping, and amount or unit price, id or derived id. */
export function transactionFields(input: InputConfig): FieldMap {
  const required: Field[] = ['customer_id', 'ordered_at'];
  required.push(...(input.columns.unit_price ? (['unit_price', 'quantity'] as const) : (['amount'] as const)));
  if (!input.transaction_id_from) required.push('transaction_id');
  return { fields: FIELDS, required, column: (field) => sourceColumn(input, field as Field) };
}

/** How delimited text is read: the settings every kind of extract shares. */
type TextLayout = Pick<InputConfig, 'delimiter' | 'header'>;

/** Lines of every text extract of the run: (file_index, source_line, line). */
export const LINES_TABLE = `CREATE TEMP TABLE lines (file_index INTEGER, source_line BIGINT, line VARCHAR)`;

/** Reads a file as lines; DuckDB drops lines it cannot decode, which `lineErrorsSql` recovers. */
export function readLines(path: string, options: string): string {
  return `read_csv(${literal(path)}, header = false, auto_detect = false, columns = {'line': 'VARCHAR'},
    delim = '', quote = '', escape = '', comment = '', max_line_size = ${MAX_LINE_BYTES}, ${options})`;
}

/**
 * First pass over a file (parallel): records the lines DuckDB cannot read into `table` and counts
 * the non-empty lines, which tells whether every record of the file is one line.
 */
export function scanLinesSql(path: string, table: string): string {
  return `SELECT CAST(count(line) AS DOUBLE) AS non_empty FROM ${readLines(path, `store_rejects = true, rejects_table = ${literal(table)}, rejects_scan = ${literal(`${table}_scan`)}`)}`;
}

/**
 * Loads a file's lines into the `lines` table, numbered by physical line (re-inserting the gaps
 * left by undecodable lines). Numbering needs the file's order, so this scan runs on one thread;
 * everything after it reads the table in parallel. Lines are stored in line order, which the
 * curated rows keep: the join that re-inserts gaps does not keep it, so those lines are sorted.
 */
export function loadLinesSql(fileIndex: number, path: string, errorTable: string | undefined, where = 'true'): string {
  return `INSERT INTO lines SELECT ${fileIndex}, source_line, line FROM (${numberedLines(path, errorTable)}) WHERE ${where}
    ${errorTable ? 'ORDER BY source_line' : ''}`;
}

function numberedLines(path: string, errorTable: string | undefined): string {
  const lines = `SELECT row_number() OVER () AS seq, line FROM ${readLines(path, 'ignore_errors = true')}`;
  if (!errorTable) return `SELECT seq AS source_line, line FROM (${lines})`;
  // Error i (1-based, by line) sits after (line - i) emitted lines; rows past it shift by i.
  const gaps = `SELECT line - i AS after_seq, max(i) AS shift FROM (
      SELECT line, row_number() OVER (ORDER BY line) AS i FROM ${errorTable}) GROUP BY after_seq`;
  return `SELECT seq + coalesce(shift, 0) AS source_line, line
    FROM (${lines}) AS l ASOF LEFT JOIN (${gaps}) AS g ON l.seq > g.after_seq`;
}

/** Rejects (typed-table columns file_index, source_file, source_line, raw, reason) for the lines DuckDB could not read. */
export function lineErrorsSql(fileIndex: number, sourceFile: string, errorTable: string): string {
  const reason = `CASE error_type WHEN 'INVALID ENCODING' THEN 'invalid UTF-8'
    WHEN 'LINE SIZE OVER MAXIMUM' THEN 'line longer than ${MAX_LINE_BYTES} bytes'
    ELSE lower(error_type) || ': ' || error_message END`;
  return `SELECT ${fileIndex} AS file_index, ${literal(sourceFile)} AS source_file, CAST(line AS BIGINT) AS source_line,
    left(trim(csv_line, chr(10) || chr(13)), 4096) AS raw, ${reason} AS reason
    FROM ${errorTable}`;
}

function regexEscape(char: string): string {
  return char.replace(/[\\^$.|?*+()[\]{}-]/g, '\\$&');
}

/**
 * SQL expression splitting `line` into a list of fields, or NULL when its quoting is malformed.
 * RFC 4180 quoting within a line: "a ""quoted"" field", delimiters inside quotes.
 */
export function splitFieldsSql(delimiter: string, line = 'line'): string {
  if (delimiter === 'whitespace') {
    return `regexp_split_to_array(regexp_replace(${line}, '^\\s+|\\s+$', '', 'g'), '\\s+')`;
  }
  const d = regexEscape(delimiter);
  const field = `("(?:[^"]|"")*"|[^${d}"]*)`;
  const unquote = `list_transform(regexp_extract_all(${literal(delimiter)} || ${line}, ${literal(`${d}${field}`)}, 1),
      x -> CASE WHEN starts_with(x, '"') THEN replace(substr(x, 2, length(x) - 2), '""', '"') ELSE x END)`;
  return `CASE WHEN NOT contains(${line}, '"') THEN string_split(${line}, ${literal(delimiter)})
    WHEN regexp_full_match(${line}, ${literal(`${field}(?:${d}${field})*`)}) THEN ${unquote} END`;
}

/** Non-empty lines of one file from the `lines` table (empty lines are not rows; DuckDB reads them as NULL). */
function fileLines(fileIndex: number): string {
  return `SELECT source_line, line FROM lines WHERE file_index = ${fileIndex} AND line <> ''`;
}

/** Positions (1-based) of the columns a field's source column name matches: exactly, else ignoring case. */
function matchingColumns(map: FieldMap, names: readonly string[], field: string): number[] {
  const clean = names.map((n) => n.trim().replace(/^\uFEFF/, ''));
  const wanted = map.column(field);
  const positions = (match: (name: string) => boolean) => clean.flatMap((name, i) => (match(name) ? [i + 1] : []));
  const exact = positions((name) => name === wanted);
  return exact.length ? exact : positions((name) => name.toLowerCase() === wanted.toLowerCase());
}

/** Position (1-based) of each canonical field among the source's column names; missing ones absent. */
export function fieldPositions(map: FieldMap, names: readonly string[]): Map<string, number> {
  const positions = new Map<string, number>();
  for (const field of map.fields) {
    const [first] = matchingColumns(map, names, field);
    if (first) positions.set(field, first);
  }
  return positions;
}

/** Why a file's header cannot be used: a field's column occurs more than once (which one is meant?). */
export function duplicateColumnsReason(map: FieldMap, names: readonly string[]): string | undefined {
  const repeated = map.fields.filter((field) => matchingColumns(map, names, field).length > 1);
  if (repeated.length === 0) return undefined;
  return `column(s) ${repeated.map((f) => `${map.column(f)} (${f})`).join(', ')} occur more than once in the header`;
}

export interface StageFile {
  fileIndex: number;
  /** Path relative to the source root, recorded in rejects and transactions. */
  sourceFile: string;
  /** Local path the engine reads. */
  path: string;
}

/** The reason every row of a file is rejected when its columns lack required fields, else undefined. */
export function missingColumnsReason(map: FieldMap, positions: Map<string, number>): string | undefined {
  const missing = map.required.filter((f) => !positions.has(f));
  if (missing.length === 0) return undefined;
  return `file lacks column(s) ${missing.map((f) => `${map.column(f)} (${f})`).join(', ')}`;
}

/** Staged rows of a delimited text file. `names` are its column names (header or config). */
export function stageCsvSql(file: StageFile, input: TextLayout, map: FieldMap, names: readonly string[]): string {
  const positions = fieldPositions(map, names);
  const fileReason = missingColumnsReason(map, positions) ?? (input.header ? duplicateColumnsReason(map, names) : undefined);
  const firstDataLine = input.header ? 2 : 1;
  const fields = map.fields.map((f) => {
    const position = positions.get(f);
    return `${position ? `fields[${position}]` : 'NULL'} AS f_${f}`;
  });
  return `SELECT ${file.fileIndex} AS file_index, ${literal(file.sourceFile)} AS source_file, source_line, line AS raw,
      ${fileReason ? literal(fileReason) : `CASE WHEN fields IS NULL THEN 'malformed quoting'
        WHEN len(fields) <> ${names.length} THEN 'expected ${names.length} fields, found ' || len(fields) END`} AS reason,
      ${fields.join(', ')}
    FROM (SELECT source_line, line, ${splitFieldsSql(input.delimiter)} AS fields
      FROM (${fileLines(file.fileIndex)}) WHERE source_line >= ${firstDataLine})`;
}

/**
 * Typed values of a delimited file read by DuckDB's own parallel CSV reader, which parses and casts
 * far faster than splitting lines in SQL but knows no line numbers. Lines it cannot parse or cast
 * go to `rejectsTable` (with their line numbers); the caller re-reads those, and any row failing a
 * later check, through the line path, so every reject still names its line.
 * Shaped for {@link verdictSql}; the `*_text` columns only tell present from missing here.
 */
export function nativeCsvValuesSql(files: readonly StageFile[], input: InputConfig, names: readonly string[], rejectsTable: string): string {
  const positions = fieldPositions(transactionFields(input), names);
  const types: Partial<Record<string, string>> = {
    ...(input.timestamp_format ? { ordered_at: 'TIMESTAMP' } : {}),
    amount: 'DECIMAL(18,4)',
    unit_price: 'DECIMAL(18,4)',
    // Read as a decimal and kept only when whole: DuckDB's INTEGER reader rounds "2.5" to 3.
    quantity: 'DECIMAL(18,4)',
    is_return: 'BOOLEAN',
  };
  const typeOf = (index: number) => {
    const field = [...positions].find(([, position]) => position === index + 1)?.[0];
    return (field && types[field]) ?? 'VARCHAR';
  };
  const columns = names.map((_, i) => `'c${i + 1}': '${typeOf(i)}'`).join(', ');
  const column = (f: Field) => (positions.has(f) ? `c${positions.get(f)}` : 'NULL');
  const textOf = (f: Field) => (column(f) === 'NULL' ? 'NULL' : trimmed(column(f)));
  const present = (f: Field) => `CASE WHEN ${column(f)} IS NOT NULL THEN '' END`;
  const quantity = positions.has('quantity') ? `CASE WHEN ${column('quantity')} = trunc(${column('quantity')}) THEN try_cast(${column('quantity')} AS INTEGER) END` : 'NULL';
  const amount = input.columns.unit_price ? `${column('unit_price')} * ${quantity}` : column('amount');
  const format = input.timestamp_format ? `timestampformat = ${literal(input.timestamp_format)},` : '';
  return `SELECT ${byFile(files, (f) => String(f.fileIndex))} AS file_index, ${byFile(files, (f) => literal(f.sourceFile))} AS source_file,
      CAST(NULL AS BIGINT) AS source_line, CAST(NULL AS VARCHAR) AS raw, CAST(NULL AS VARCHAR) AS parse_reason,
      ${textOf('transaction_id')} AS transaction_id, ${textOf('customer_id')} AS customer_id,
      ${textOf('channel')} AS channel, ${textOf('currency')} AS currency,
      ${present('ordered_at')} AS ordered_at_text, ${present('amount')} AS amount_text, ${present('unit_price')} AS unit_price_text,
      ${present('quantity')} AS quantity_text, ${present('is_return')} AS is_return_text,
      ${input.timestamp_format ? column('ordered_at') : parseIsoTimestamp(column('ordered_at'))} AS ordered_at, ${quantity} AS quantity,
      ${column('is_return')} AS is_return_flag, ${amount} AS amount
    FROM ${nativeReader(files, input, columns, rejectsTable, format)}`;
}

/**
 * DuckDB's strict CSV reader over `files` with the given column types, keeping the lines it
 * cannot read in `rejectsTable` (and `<rejectsTable>_scan`); rows carry their file's path as `filename`.
 */
function nativeReader(files: readonly StageFile[], input: TextLayout, columns: string, rejectsTable: string, options = ''): string {
  return `read_csv([${files.map((f) => literal(f.path)).join(', ')}], filename = true, header = ${input.header},
      auto_detect = false, columns = {${columns}},
      delim = ${literal(input.delimiter)}, quote = '"', escape = '"', comment = '', new_line = '\\n', strict_mode = true,
      ${options} max_line_size = ${MAX_LINE_BYTES}, store_rejects = true, rejects_table = ${literal(rejectsTable)},
      rejects_scan = ${literal(`${rejectsTable}_scan`)})`;
}

/** `CASE filename WHEN <path> THEN <value> …`: a per-file value for rows of {@link nativeReader}. */
function byFile(files: readonly StageFile[], value: (file: StageFile) => string): string {
  return `CASE filename ${files.map((f) => `WHEN ${literal(f.path)} THEN ${value(f)}`).join(' ')} END`;
}

/**
 * Staged rows (shaped as {@link stageCsvSql}'s, without line numbers or raw text) of clean delimited
 * files read by DuckDB's parallel reader, every column as text: a CRM kind's fast path, typed by
 * the kind's own validation as on the line path.
 */
export function nativeTextStageSql(files: readonly StageFile[], input: TextLayout, map: FieldMap, names: readonly string[], rejectsTable: string): string {
  const positions = fieldPositions(map, names);
  const columns = names.map((_, i) => `'c${i + 1}': 'VARCHAR'`).join(', ');
  return `SELECT ${byFile(files, (f) => String(f.fileIndex))} AS file_index, ${byFile(files, (f) => literal(f.sourceFile))} AS source_file,
      CAST(NULL AS BIGINT) AS source_line, CAST(NULL AS VARCHAR) AS raw, CAST(NULL AS VARCHAR) AS reason,
      ${map.fields.map((f) => `${positions.has(f) ? `c${positions.get(f)}` : 'NULL'} AS f_${f}`).join(', ')}
    FROM ${nativeReader(files, input, columns, rejectsTable)}`;
}

/** Line numbers of one file's lines that the native reader rejected (into `rejectsTable`). */
export function nativeFailedLinesSql(rejectsTable: string, path: string): string {
  return `SELECT CAST(e.line AS BIGINT) AS source_line FROM ${rejectsTable} AS e
    JOIN ${rejectsTable}_scan AS s ON e.scan_id = s.scan_id AND e.file_id = s.file_id
    WHERE s.file_path = ${literal(path)}`;
}

/** Line numbers of the rows whose order id and customer id match a row of `suspects`. */
export function matchingLinesSql(fileIndex: number, input: InputConfig, names: readonly string[], suspects: string): string {
  const positions = fieldPositions(transactionFields(input), names);
  const field = (f: Field) => (positions.has(f) ? `nullif(trim(fields[${positions.get(f)}]), '')` : 'NULL');
  return `SELECT source_line FROM (
      SELECT source_line, ${field('transaction_id')} AS transaction_id, ${field('customer_id')} AS customer_id
      FROM (SELECT source_line, ${splitFieldsSql(input.delimiter)} AS fields FROM (${fileLines(fileIndex)})
        WHERE source_line >= ${input.header ? 2 : 1})) AS l
    SEMI JOIN (${suspects}) AS s
      ON l.transaction_id IS NOT DISTINCT FROM s.transaction_id AND l.customer_id IS NOT DISTINCT FROM s.customer_id`;
}

/** Staged rows of a JSON Lines file: one object per line, keys named like CSV columns. */
export function stageJsonlSql(file: StageFile, map: FieldMap): string {
  const fields = map.fields.map((f) => `json_extract_string(doc, ${literal(`$.${JSON.stringify(map.column(f))}`)}) AS f_${f}`);
  return `SELECT ${file.fileIndex} AS file_index, ${literal(file.sourceFile)} AS source_file, source_line, line AS raw,
      CASE WHEN doc IS NULL THEN 'not valid JSON' WHEN json_type(doc) <> 'OBJECT' THEN 'not a JSON object' END AS reason,
      ${fields.join(', ')}
    FROM (SELECT source_line, line, CASE WHEN json_valid(line) THEN CAST(line AS JSON) END AS doc
      FROM (${fileLines(file.fileIndex)}))`;
}

/** Staged rows of a Parquet file; `names` are the file's column names. */
export function stageParquetSql(file: StageFile, map: FieldMap, names: readonly string[]): string {
  const positions = fieldPositions(map, names);
  // A Parquet file always names its columns: `input.header` is a CSV setting.
  const fileReason = missingColumnsReason(map, positions) ?? duplicateColumnsReason(map, names);
  const fields = map.fields.map((f) => {
    const position = positions.get(f);
    return `${position ? `CAST(${ident(names[position - 1]!)} AS VARCHAR)` : 'NULL'} AS f_${f}`;
  });
  return `SELECT ${file.fileIndex} AS file_index, ${literal(file.sourceFile)} AS source_file,
      file_row_number + 1 AS source_line, CAST(to_json(t) AS VARCHAR) AS raw,
      ${fileReason ? literal(fileReason) : 'NULL'} AS reason, ${fields.join(', ')}
    FROM read_parquet(${literal(file.path)}, file_row_number = true) AS t`;
}

/** Format of an extract file from its name; undefined for files that are not extracts. */
export function formatOf(key: string, configured?: FileFormat): FileFormat | undefined {
  const name = key.toLowerCase().replace(/\.gz$/, '');
  if (name.split('/').pop()?.startsWith('.') || name.endsWith('/')) return undefined;
  if (configured) return configured;
  if (name.endsWith('.csv') || name.endsWith('.txt') || name.endsWith('.tsv')) return 'csv';
  if (name.endsWith('.jsonl') || name.endsWith('.ndjson') || name.endsWith('.json')) return 'jsonl';
  if (name.endsWith('.parquet')) return 'parquet';
  return undefined;
}
