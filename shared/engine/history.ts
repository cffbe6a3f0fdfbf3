/**
 * Where the queries over the whole curated history run. The night's other work (fits, scoring,
 * small tables, the report) is always in the embedded engine; only what scans every transaction
 * goes through a {@link HistoryEngine}: the embedded engine itself when the history fits the
 * function (the default), or Athena when it does not. Either way what comes back is one row per
 * customer or per group, read into the embedded engine as a temp table.
 */
import type { Table } from '../catalog.js';
import { DUCKDB, readParquet, type Dialect } from '../sql/dialect.js';
import type { SqlEngine } from './sql-engine.js';

export interface HistoryEngine {
  /** The dialect the queries given to {@link materialize} must be written in. */
  readonly dialect: Dialect;
  /** The curated transactions up to the run date (earlier nights and this run's new orders). */
  readonly history: string;
  /** An earlier run's published partition of a table, as a relation of this engine. */
  partition(table: Table, date: string): Promise<string>;
  /**
   * Runs `sql` and makes its rows the embedded engine's temp table `name`. Returns a query of the
   * same rows for later queries of this engine (over the table, or the query itself again).
   */
  materialize(name: string, sql: string): Promise<string>;
}

/** The embedded engine over local Parquet files: the history and earlier partitions are files in scratch. */
export class LocalHistory implements HistoryEngine {
  readonly dialect = DUCKDB;
  readonly history: string;

  constructor(
    private readonly engine: SqlEngine,
    historyFiles: readonly string[],
    /** A published partition's local file (fetched from the store). */
    private readonly partitionFile: (table: Table, date: string) => Promise<string>,
  ) {
    this.history = `SELECT * FROM ${readParquet(historyFiles)}`;
  }

  async partition(table: Table, date: string): Promise<string> {
    return `SELECT * FROM ${readParquet([await this.partitionFile(table, date)])}`;
  }

  async materialize(name: string, sql: string): Promise<string> {
    await this.engine.run(`CREATE OR REPLACE TEMP TABLE ${name} AS ${sql}`);
    return `SELECT * FROM ${name}`;
  }
}
