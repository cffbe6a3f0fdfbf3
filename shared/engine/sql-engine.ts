/** Scalar values as a query returns them (JSON-safe: BIGINT and DECIMAL arrive as strings). */
export type SqlValue = string | number | boolean | null | SqlValue[] | { [key: string]: SqlValue };
export type SqlRow = Record<string, SqlValue>;
/** A value bound to a `?` placeholder (the same set Athena's ExecutionParameters take). */
export type SqlParameter = string | number | boolean | null;

/**
 * The port to an analytical SQL engine: embedded DuckDB locally and in the Lambda; Athena (to come)
 * for histories that outgrow one Lambda. SQL text comes from `shared/sql/`, whose dialect module
 * holds the few differences between engines.
 */
export interface SqlEngine {
  /** Runs statements that return nothing useful (DDL, COPY, INSERT). */
  run(sql: string): Promise<void>;
  /**
   * Runs a query and returns its rows as plain objects. `parameters` bind to `?` placeholders in
   * order: values from users (Slack) are bound, never spliced into the text.
   */
  query<T extends SqlRow = SqlRow>(sql: string, parameters?: readonly SqlParameter[]): Promise<T[]>;
  /**
   * Runs a query whose columns are all DOUBLE and returns them as typed arrays: the way model
   * inputs (hundreds of thousands of rows) leave the engine without one object per row.
   */
  queryNumbers(sql: string): Promise<Record<string, Float64Array>>;
  /** Appends equally long columns of numbers to an existing table whose columns are DOUBLE, in the table's column order (by position, not by name). */
  insertNumbers(table: string, columns: Record<string, ArrayLike<number>>): Promise<void>;
  close(): Promise<void>;
}

export class SqlError extends Error {
  override name = 'SqlError';
}
