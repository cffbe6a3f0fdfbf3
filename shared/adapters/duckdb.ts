import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { SqlError, type SqlEngine, type SqlParameter, type SqlRow } from '../engine/sql-engine.js';

export interface DuckDbOptions {
  /** Worker threads; DuckDB's default is one per core. */
  threads?: number;
  /**
   * e.g. "4GB"; DuckDB spills to `tempDirectory` beyond it. Default {@link DEFAULT_MEMORY_LIMIT}:
   * DuckDB's own default is 80 % of the machine, leaving too little for Node beside it.
   */
  memoryLimit?: string;
  tempDirectory?: string;
}

/** Engine memory when none is given: a 10M-transaction initial load fits (see the README's benchmark). */
export const DEFAULT_MEMORY_LIMIT = '3GB';

/** Embedded DuckDB, in memory, one connection. */
export class DuckDbEngine implements SqlEngine {
  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
  ) {}

  static async open(options: DuckDbOptions = {}): Promise<DuckDbEngine> {
    // No ICU extension is bundled: TIMESTAMPTZ values convert to TIMESTAMP in UTC.
    const settings: Record<string, string> = {};
    if (options.threads) settings['threads'] = String(options.threads);
    settings['memory_limit'] = options.memoryLimit ?? DEFAULT_MEMORY_LIMIT;
    if (options.tempDirectory) settings['temp_directory'] = options.tempDirectory;
    const instance = await DuckDBInstance.create(':memory:', settings);
    return new DuckDbEngine(instance, await instance.connect());
  }

  async run(sql: string): Promise<void> {
    try {
      await this.connection.run(sql);
    } catch (error) {
      throw new SqlError(`${(error as Error).message}\n-- in SQL:\n${sql.slice(0, 2000)}`, { cause: error });
    }
  }

  async query<T extends SqlRow = SqlRow>(sql: string, parameters?: readonly SqlParameter[]): Promise<T[]> {
    try {
      const reader = await this.connection.runAndReadAll(sql, parameters ? [...parameters] : undefined);
      return reader.getRowObjectsJson() as T[];
    } catch (error) {
      throw new SqlError(`${(error as Error).message}\n-- in SQL:\n${sql.slice(0, 2000)}`, { cause: error });
    }
  }

  async queryNumbers(sql: string): Promise<Record<string, Float64Array>> {
    const rows = await this.connection.runAndReadAll(sql).catch((error: Error) => {
      throw new SqlError(`${error.message}\n-- in SQL:\n${sql.slice(0, 2000)}`, { cause: error });
    });
    const columns = rows.getColumnsObjectJS();
    return Object.fromEntries(
      Object.entries(columns).map(([name, values]) => [name, Float64Array.from(values as (number | null)[], (v) => v ?? NaN)]),
    );
  }

  async insertNumbers(table: string, columns: Record<string, ArrayLike<number>>): Promise<void> {
    const values = Object.values(columns);
    const length = values[0]?.length ?? 0;
    const appender = await this.connection.createAppender(table);
    try {
      for (let row = 0; row < length; row++) {
        for (const column of values) {
          const value = column[row]!;
          // NULL rather than NaN/Infinity: a prediction that could not be made is missing, not a number.
          if (Number.isFinite(value)) appender.appendDouble(value);
          else appender.appendNull();
        }
        appender.endRow();
      }
      appender.flushSync();
    } finally {
      appender.closeSync();
    }
  }

  async close(): Promise<void> {
    this.connection.closeSync();
    this.instance.closeSync();
  }
}
