/**
 * Where the queries over the whole curated history run. The night's other work (fits, scoring,
 * small tables, the report) is always in the embedded engine; only what scans every transaction
 * goes through a {@link HistoryEngine}: the embedded engine itself when the history fits the
 * function (the default), or Athena when it does not. Either way what comes back is one row per
 * customer or per group, read into the embedded engine as a temp table.
 */
import { ident, readParquet } from '../sql/dialect.js';
import { remoteResultFolder } from '../staging.js';
import type { ObjectStore } from '../store/object-store.js';
import type { SqlEngine } from './sql-engine.js';

/**
 * Queries given to {@link HistoryEngine.materialize} are written in the SQL DuckDB and Trino share
 * (`test/dialect.test.ts` parses them as Trino and runs them in DuckDB).
 */
export interface HistoryEngine {
  /** The curated transactions up to the run date (earlier nights and this run's new orders). */
  readonly history: string;
  /** The curated transactions of earlier nights only. */
  readonly earlier: string;
  /** This run's new orders only. */
  readonly staged: string;
  /**
   * Runs `sql` and makes its rows the embedded engine's temp table `name`. Returns a query of the
   * same rows for later queries of this engine (over the table, or the query itself again).
   */
  materialize(name: string, sql: string): Promise<string>;
}

/** The embedded engine over local Parquet files: the history's partitions are files in scratch. */
export class LocalHistory implements HistoryEngine {
  readonly history: string;
  readonly earlier: string;
  readonly staged: string;

  constructor(
    private readonly engine: SqlEngine,
    earlierFiles: readonly string[],
    newOrdersFile: string,
  ) {
    this.history = `SELECT * FROM ${readParquet([...earlierFiles, newOrdersFile])}`;
    this.staged = `SELECT * FROM ${readParquet([newOrdersFile])}`;
    this.earlier = earlierFiles.length ? `SELECT * FROM ${readParquet(earlierFiles)}` : `${this.staged} WHERE false`;
  }

  async materialize(name: string, sql: string): Promise<string> {
    await this.engine.run(`CREATE OR REPLACE TEMP TABLE ${name} AS ${sql}`);
    return `SELECT * FROM ${name}`;
  }
}

/** A column of a query's result, typed for the embedded engine. */
export interface ResultColumn {
  name: string;
  type: string;
}

/**
 * An engine next to the data (Athena): it reads the published tables and a run's staged new
 * orders where they are, and writes query results as Parquet into the destination store.
 */
export interface RemoteEngine {
  /** The curated history of the nights before `date` (published partitions). */
  earlierSql(date: string): string;
  /** A run's new orders, staged in its work folder. */
  stagedSql(runId: string): string;
  /** Writes the rows of `sql` as Parquet files under the store folder `folder` (none for no rows). */
  unload(sql: string, folder: string): Promise<void>;
  /** The columns of `sql`'s result: the shape of an empty result, which leaves no file. */
  columns(sql: string): Promise<ResultColumn[]>;
}


/** The history on a {@link RemoteEngine}: each result comes back as Parquet and becomes a temp table. */
export class RemoteHistory implements HistoryEngine {
  readonly history: string;
  readonly earlier: string;
  readonly staged: string;

  constructor(
    private readonly remote: RemoteEngine,
    private readonly engine: SqlEngine,
    private readonly run: { date: string; runId: string },
    /** Where the remote engine writes results (the destination store) … */
    private readonly store: ObjectStore,
    /** … and where the run downloads them. */
    private readonly scratch: string,
  ) {
    this.earlier = remote.earlierSql(run.date);
    this.staged = remote.stagedSql(run.runId);
    this.history = `${this.earlier}\nUNION ALL\n${this.staged}`;
  }

  async materialize(name: string, sql: string): Promise<string> {
    const folder = remoteResultFolder(this.run.runId, name);
    // A retried phase finds its earlier attempt's results: UNLOAD needs an empty folder.
    await this.store.deletePrefix(folder);
    await this.remote.unload(sql, folder);
    const files = await Promise.all((await this.store.list(folder)).map(({ key }) => this.store.localPath(key, this.scratch)));
    const rows = files.length
      ? `SELECT * FROM ${readParquet(files)}`
      : `SELECT ${(await this.remote.columns(sql)).map((c) => `CAST(NULL AS ${c.type}) AS ${ident(c.name)}`).join(', ')} WHERE false`;
    await this.engine.run(`CREATE OR REPLACE TEMP TABLE ${name} AS ${rows}`);
    return sql;
  }
}
