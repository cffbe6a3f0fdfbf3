/** Shared test plumbing: temp directories, local runs, and an independent Parquet reader. */
import { readFileSync } from 'node:fs';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { afterAll } from 'vitest';
import { partitionKey, type Table } from '../shared/catalog.js';
import { parseConfig } from '../shared/config.js';
import { DuckDbEngine } from '../shared/adapters/duckdb.js';
import type { SqlEngine } from '../shared/engine/sql-engine.js';
import { runNightly, type RunDeps } from '../shared/pipeline.js';
import { LocalObjectStore } from '../shared/adapters/local-store.js';

const created: string[] = [];
afterAll(async () => {
  await Promise.all(created.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** A fresh temp directory, removed after the test file. */
export async function tempDir(label = 'test'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `crm-metrics-${label}-`));
  created.push(dir);
  return dir;
}

/** Writes `content` as an extract file `<source>/transactions/dt=<date>/<name>`. */
export async function writeExtract(source: string, date: string, name: string, content: string | Buffer): Promise<string> {
  const path = join(source, 'transactions', `dt=${date}`, name);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, content);
  return path;
}

/** Runs the nightly pipeline over local directories, as the CLI does. */
export function runLocal(date: string, source: string, dest: string, config: unknown = {}, extra: Partial<RunDeps> = {}) {
  return runNightly(date, {
    source: new LocalObjectStore(source),
    dest: new LocalObjectStore(dest),
    config: parseConfig(config),
    openEngine: DuckDbEngine.open,
    ...extra,
  });
}

/** Rows of a published partition, read with hyparquet (not the engine that wrote them). */
export async function readTable(dest: string, table: Pick<Table, 'name'>, date: string): Promise<Record<string, unknown>[]> {
  const file = await asyncBufferFromFile(join(dest, partitionKey(table, date)));
  return parquetReadObjects({ file, compressors });
}

export const CSV_HEADER = 'transaction_id,customer_id,ordered_at,amount,quantity,channel,currency,is_return';

/** A DECIMAL(18,4) read back as a float, rounded to its 4 decimals (hyparquet scales by 10^-4). */
export function money(value: unknown): number {
  return Math.round(Number(value) * 10_000) / 10_000;
}

/** An engine factory whose `run` goes through `run(engine, sql)`: for injecting failures and bugs. */
export function engineWithRun(run: (engine: SqlEngine, sql: string) => Promise<void>) {
  return async (options: { tempDirectory: string }): Promise<SqlEngine> => {
    const engine = await DuckDbEngine.open(options);
    return {
      run: (sql) => run(engine, sql),
      query: (sql) => engine.query(sql),
      queryNumbers: (sql) => engine.queryNumbers(sql),
      insertNumbers: (table, columns) => engine.insertNumbers(table, columns),
      close: () => engine.close(),
    };
  };
}

/** CDNOW calibration summary (2,357 customers, weeks; lifetimes' cdnow_customers_summary.csv): x, t_x, T. */
export function cdnowSummary(): { x: Float64Array; tx: Float64Array; T: Float64Array } {
  const lines = readFileSync(new URL('./fixtures/cdnow/cdnow_customers_summary.csv', import.meta.url), 'utf8').trim().split(/\r?\n/);
  if (lines[0] !== 'ID,frequency,recency,T') throw new Error(`unexpected header ${lines[0]}`);
  const rows = lines.slice(1).map((l) => l.split(',').map(Number));
  return {
    x: Float64Array.from(rows, (r) => r[1]!),
    tx: Float64Array.from(rows, (r) => r[2]!),
    T: Float64Array.from(rows, (r) => r[3]!),
  };
}

/** Weight 1 for each of n rows (an uncompressed summary). */
export const ones = (n: number): Float64Array => new Float64Array(n).fill(1);
