/**
 * The vocabulary of the table catalog: what a table declares (columns, grain, checks) and the
 * helpers every consumer shares. The tables themselves are model files in `shared/tables/`, one
 * per table, listed in publishing order by `shared/tables/index.ts`; the Parquet writer (column
 * order and types), the SQL that reads the tables back, the README's table reference and the
 * Glue/Athena definitions (shared/athena/tables.ts) derive from them.
 * Every table is Hive-partitioned by `dt` (the run date): `<dest>/<table>/dt=YYYY-MM-DD/data.parquet`.
 */
import type { Config } from './config.js';

/** Logical column types, mapped to each engine's type in one place ({@link sqlType}). */
export const COLUMN_TYPES = {
  string: { duckdb: 'VARCHAR', glue: 'string', trino: 'varchar' },
  int: { duckdb: 'INTEGER', glue: 'int', trino: 'integer' },
  bigint: { duckdb: 'BIGINT', glue: 'bigint', trino: 'bigint' },
  double: { duckdb: 'DOUBLE', glue: 'double', trino: 'double' },
  /** Money in the currency's units; exact decimal so sums never drift. */
  money: { duckdb: 'DECIMAL(18,4)', glue: 'decimal(18,4)', trino: 'decimal(18,4)' },
  date: { duckdb: 'DATE', glue: 'date', trino: 'date' },
  timestamp: { duckdb: 'TIMESTAMP', glue: 'timestamp', trino: 'timestamp' },
  boolean: { duckdb: 'BOOLEAN', glue: 'boolean', trino: 'boolean' },
} as const;

export type ColumnType = keyof typeof COLUMN_TYPES;

export interface Column {
  readonly name: string;
  readonly type: ColumnType;
  readonly description: string;
  /** True when NULL is allowed; otherwise a run that writes a NULL fails before publishing. */
  readonly nullable?: boolean;
}

export interface Table {
  readonly name: string;
  /** One line: what the table holds and its grain ("one row per …"). */
  readonly description: string;
  readonly columns: readonly Column[];
  /** The grain: columns whose values identify a row of a partition (checked unique on every write, unless `checks.keyUniqueByBuild`). */
  readonly key?: readonly string[];
  readonly checks?: Checks;
  /**
   * Rows are written in this order so that a re-run writes identical files (without it, parallel
   * joins and writers hand rows over in a different order each time; measured).
   */
  readonly orderBy: readonly string[];
  /** The table describes the run itself (ids, timings), so a re-run does not reproduce it byte for byte. */
  readonly describesRun?: boolean;
  /**
   * Partitions add up to one history (each holds the rows a date added) instead of each being a
   * complete snapshot as of its date; such a table has no `<table>_latest` view.
   */
  readonly history?: boolean;
  /** A long-format table's metrics (its `metric` column's values, checked) with their definitions, for the docs. */
  readonly metrics?: Readonly<Record<string, string>>;
}

/** The columns a table's values are checked against a list for: its declared ones, and `metric` of a long-format table. */
export function acceptedValues(table: Table): Readonly<Record<string, (config: Config) => readonly string[]>> {
  const metrics = table.metrics;
  return { ...(metrics ? { metric: () => Object.keys(metrics) } : {}), ...table.checks?.accepted };
}

/**
 * What a written partition must satisfy besides its columns' types and NULL rules; a violation
 * fails the run before anything is published, naming the table, the check and an example row.
 */
export interface Checks {
  /** Columns whose values must be one of a list (which may depend on the run's configuration). */
  readonly accepted?: Readonly<Record<string, (config: Config) => readonly string[]>>;
  /** Rules every row must satisfy, each a SQL boolean expression over the table's columns, by name. */
  readonly rules?: Readonly<Record<string, string>>;
  /**
   * Why the key needs no check of the written file: the build itself keeps one row per key, and
   * says where. Only where the check would cost as much as the build (a 10M-row initial load).
   */
  readonly keyUniqueByBuild?: string;
}

/** The Hive partition column of every table: the run date the partition belongs to. */
export const PARTITION_COLUMN: Column = {
  name: 'dt',
  type: 'date',
  description: 'Run date (Hive partition `dt=YYYY-MM-DD`).',
};

/** A column; its name, type and nullability keep their literal types, so that {@link RowOf} can read them. */
export const col = <const N extends string, const T extends ColumnType, const Nullable extends boolean = false>(
  name: N,
  type: T,
  description: string,
  nullable?: Nullable,
) => ({ name, type, description, nullable: (nullable ?? false) as Nullable });

type ValueOf<T extends ColumnType> = T extends 'string' | 'date' | 'timestamp' ? string : T extends 'boolean' ? boolean : number;

/** A row of a table as TypeScript writes it (dates and timestamps as ISO text): derived from the columns. */
export type RowOf<T extends { readonly columns: readonly Column[] }> = {
  [C in T['columns'][number] as C['name']]: C['nullable'] extends true ? ValueOf<C['type']> | null : ValueOf<C['type']>;
};

/** Horizons, in days, of the expected purchases and revenue columns (customer_scores, segment_forecast). */
export const FORECAST_HORIZON_DAYS = [30, 90, 365] as const;

export function sqlType(type: ColumnType): string {
  return COLUMN_TYPES[type].duckdb;
}

/** `<table>/dt=YYYY-MM-DD/` — the partition prefix of a table for a run date. */
export function partitionPrefix(table: Pick<Table, 'name'>, date: string): string {
  return `${table.name}/dt=${date}/`;
}

/** The single data file of a partition. One fixed name makes every publish a replace, never an add. */
export function partitionKey(table: Pick<Table, 'name'>, date: string): string {
  return `${partitionPrefix(table, date)}data.parquet`;
}
