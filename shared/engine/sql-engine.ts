/** Scalar values as a query returns them (JSON-safe: BIGINT and DECIMAL arrive as strings). */
export type SqlValue = string | number | boolean | null | SqlValue[] | { [key: string]: SqlValue };
export type SqlRow = Record<string, SqlValue>;

/**
 * The port to an analytical SQL engine: embedded DuckDB locally and in the Lambda; Athena (later)
 * for histories that outgrow one Lambda. SQL text comes from `shared/sql/`, whose dialect module
 * holds the few differences between engines.
 */
export interface SqlEngine {
  /** Runs statements that return nothing useful (DDL, COPY, INSERT). */
  run(sql: string): Promise<void>;
  /** Runs a query and returns its rows as plain objects. */
  query<T extends SqlRow = SqlRow>(sql: string): Promise<T[]>;
  close(): Promise<void>;
}

export class SqlError extends Error {
  override name = 'SqlError';
}
