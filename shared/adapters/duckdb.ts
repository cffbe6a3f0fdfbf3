import { DOUBLE, DuckDBDataChunk, DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
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

/** Rows per appended chunk: DuckDB's vector size. */
const CHUNK_ROWS = 2048;

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
    const result = await this.connection.run(sql).catch((error: Error) => {
      throw new SqlError(`${error.message}\n-- in SQL:\n${sql.slice(0, 2000)}`, { cause: error });
    });
    // Straight from the result's vectors into typed arrays: the generic row or column conversion
    // costs twice as much on the CLV fit's half a million summaries.
    const chunks = Array.from({ length: result.chunkCount }, (_, i) => result.getChunk(i));
    const rows = chunks.reduce((sum, chunk) => sum + chunk.rowCount, 0);
    return Object.fromEntries(
      result.columnNames().map((name, column) => {
        const values = new Float64Array(rows);
        let at = 0;
        for (const chunk of chunks) {
          const vector = chunk.getColumnVector(column);
          for (let i = 0; i < chunk.rowCount; i++) values[at++] = Number(vector.getItem(i) ?? NaN);
        }
        return [name, values];
      }),
    );
  }

  async insertNumbers(table: string, columns: Record<string, ArrayLike<number>>): Promise<void> {
    const values = Object.values(columns);
    const length = values[0]?.length ?? 0;
    const appender = await this.connection.createAppender(table);
    // A chunk of vectors at a time: a value at a time through the appender costs twice as much.
    const chunk = DuckDBDataChunk.create(values.map(() => DOUBLE), CHUNK_ROWS);
    try {
      for (let start = 0; start < length; start += CHUNK_ROWS) {
        chunk.rowCount = Math.min(CHUNK_ROWS, length - start);
        values.forEach((column, i) => {
          const rows = Array.prototype.slice.call(column, start, start + chunk.rowCount) as number[];
          // NULL rather than NaN/Infinity: a prediction that could not be made is missing, not a number.
          chunk.setColumnValues(i, rows.map((v) => (Number.isFinite(v) ? v : null)));
        });
        appender.appendDataChunk(chunk);
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
