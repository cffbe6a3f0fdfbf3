/**
 * SQL text helpers: literals, identifiers, the catalog's shape imposed on a query, Parquet in and
 * out. The queries over the whole history are written in the SQL DuckDB and Trino (Athena) share;
 * everything else runs in the embedded DuckDB.
 */
import { sqlType, type Table } from '../catalog.js';
import type { SqlEngine } from '../engine/sql-engine.js';

/** A SQL string literal. */
export function literal(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** A quoted identifier (source column names may hold spaces or capitals). */
export function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export function dateLiteral(isoDate: string): string {
  return `DATE ${literal(isoDate)}`;
}

const FNV_OFFSET = '2166136261';
const FNV_PRIME = '16777619';

/**
 * FNV-1a 32-bit of a VARCHAR expression, over its characters' code points (equal to GrowthBook's
 * UTF-16 code units for ids in the Basic Multilingual Plane), as a BIGINT in [0, 2^32). `state`:
 * the hash of a constant prefix, to go on from (FNV's state is the hash so far): the prefix's
 * characters are then not folded again on every row.
 */
export function fnv1a32Sql(expr: string, state: number | string = FNV_OFFSET): string {
  return `list_reduce(list_transform(string_split(${expr}, ''), ch -> unicode(ch)),
    (h, c) -> (xor(h, c) * ${FNV_PRIME}) % 4294967296, CAST(${state} AS BIGINT))`;
}

/**
 * A relation (`group`, cap DOUBLE): per group of `relation`, the continuous quantile `q` of
 * `value` (interpolated at 1 + (n − 1)·q between ranked values). On DOUBLE: quantile_cont of a
 * DECIMAL returns a DECIMAL, truncating the interpolation.
 */
export function quantileByGroupSql(relation: string, value: string, group: string, q: number): string {
  return `SELECT ${group}, quantile_cont(CAST(${value} AS DOUBLE), ${q}) AS cap FROM (${relation}) AS r GROUP BY ${group}`;
}

/** Whole days from `from` to `to` (dates). */
export function daysBetween(from: string, to: string): string {
  return `date_diff('day', ${from}, ${to})`;
}

/** A relation over Parquet files (explicit list, so the caller decides which partitions count). */
export function readParquet(files: readonly string[]): string {
  return `read_parquet([${files.map(literal).join(', ')}])`;
}

/**
 * The catalog's columns, in order and cast to their declared types, from any relation: the one
 * place where a table's shape is imposed on what a query produced. Rows are sorted by the table's
 * `orderBy` unless `inOrder`: the relation already yields them in a fixed order.
 */
export function selectAs(table: Table, from: string, inOrder = false): string {
  const columns = table.columns.map((c) => `CAST(${ident(c.name)} AS ${sqlType(c.type)}) AS ${ident(c.name)}`);
  const order = inOrder ? '' : ` ORDER BY ${table.orderBy.map(ident).join(', ')}`;
  return `SELECT ${columns.join(', ')} FROM (${from})${order}`;
}

/** Writes a query to one ZSTD-compressed Parquet file. */
export function copyToParquet(query: string, path: string): string {
  return `COPY (${query}) TO ${literal(path)} (FORMAT parquet, COMPRESSION zstd)`;
}

/** Query over an empty relation with the table's columns: used to read a table with no files yet. */
export function emptyRelation(table: Table): string {
  const columns = table.columns.map((c) => `CAST(NULL AS ${sqlType(c.type)}) AS ${ident(c.name)}`);
  return `SELECT ${columns.join(', ')} WHERE false`;
}

/**
 * Per required column of a table, how many rows of its Parquet `file` have it NULL, from the row
 * groups' statistics in the footer (milliseconds, where counting a million-row file costs a
 * quarter of a second): rows (column, nulls, known), `known` false where a row group's statistics
 * lack the count. A file without row groups (no rows) gives no rows.
 */
export function nullCountsSql(table: Table, file: string): string | undefined {
  const required = table.columns.filter((c) => !c.nullable);
  if (required.length === 0) return undefined;
  return `SELECT path_in_schema AS "column", CAST(sum(stats_null_count) AS DOUBLE) AS nulls, bool_and(stats_null_count IS NOT NULL) AS known
    FROM parquet_metadata(${literal(file)}) WHERE path_in_schema IN (${required.map((c) => literal(c.name)).join(', ')}) GROUP BY path_in_schema ORDER BY min(column_id)`;
}

/** A relation of literal rows shaped as `table` (numbers, strings, booleans, NULL). */
export function valuesRelation(table: Table, rows: readonly Partial<Record<string, string | number | boolean | null>>[]): string {
  if (rows.length === 0) return emptyRelation(table);
  const value = (v: string | number | boolean | null) =>
    v === null ? 'NULL' : typeof v === 'string' ? literal(v) : typeof v === 'boolean' ? String(v).toUpperCase() : String(v);
  const tuples = rows.map((row) => `(${table.columns.map((c) => value(row[c.name] ?? null)).join(', ')})`);
  return `SELECT * FROM (VALUES ${tuples.join(', ')}) AS v(${table.columns.map((c) => ident(c.name)).join(', ')})`;
}

/**
 * Sum of DOUBLE values that does not depend on the order rows arrive in: a parallel sum of doubles
 * differs in its last bits from run to run, and re-runs must write identical files. Summing exact
 * decimals (10 places, far below any figure shown) and converting back is order-independent.
 */
export function exactSum(expr: string): string {
  return `CAST(sum(CAST(${expr} AS DECIMAL(38,10))) AS DOUBLE)`;
}

/** The number of rows of a relation. */
export async function countRows(engine: SqlEngine, relation: string): Promise<number> {
  const [row] = await engine.query<{ n: number }>(`SELECT CAST(count(*) AS DOUBLE) AS n FROM (${relation}) AS r`);
  return row!.n;
}
