/**
 * One measured step of the benchmark, in its own process so that peak memory (max RSS) is the
 * step's own: `pipeline DATE SOURCE DEST` runs the nightly job, `bare SOURCE_GLOB OUT` runs the
 * same per-customer facts and RFM scores as one DuckDB statement from the extract files to a Parquet file.
 * Prints one JSON line: { wallMs, maxRssMb, ... }. `pipeline` takes an optional config as JSON.
 */
import { readFileSync } from 'node:fs';
import { parseConfig } from '../shared/config.js';
import { DuckDbEngine } from '../shared/adapters/duckdb.js';
import type { SqlEngine, SqlParameter } from '../shared/engine/sql-engine.js';
import { runNightly } from '../shared/pipeline.js';
import { customerFactsSql } from '../shared/history/customer-facts.js';
import { customerScoresSql } from '../shared/rfm/rfm-sql.js';
import { copyToParquet, literal } from '../shared/sql/dialect.js';
import { LocalObjectStore } from '../shared/adapters/local-store.js';

/**
 * With BENCH_TRACE=1, every statement over 100 ms is printed to stderr with its time: where a
 * night's seconds go.
 */
function traced(engine: SqlEngine): SqlEngine {
  if (!process.env['BENCH_TRACE']) return engine;
  const time = <A extends unknown[], R>(call: (...args: A) => Promise<R>) => async (...args: A): Promise<R> => {
    const start = performance.now();
    try {
      return await call(...args);
    } finally {
      const ms = performance.now() - start;
      if (ms > Number(process.env["BENCH_TRACE_MS"] ?? 100)) console.error(`${Math.round(ms)} ms  ${String(args[0]).replace(/\s+/g, ' ').slice(0, Number(process.env["BENCH_TRACE_CHARS"] ?? 160))}`);
    }
  };
  return {
    run: time((sql: string) => engine.run(sql)),
    query: time((sql: string, parameters?: readonly SqlParameter[]) => engine.query(sql, parameters)) as SqlEngine['query'],
    queryNumbers: time((sql: string) => engine.queryNumbers(sql)),
    insertNumbers: time((table: string, columns: Record<string, ArrayLike<number>>) => engine.insertNumbers(table, columns)),
    close: () => engine.close(),
  };
}

const [mode, ...args] = process.argv.slice(2);
const started = performance.now();
const stages: Record<string, number> = {};
let extra: Record<string, unknown> = {};

if (mode === 'pipeline') {
  const [date, source, dest, config] = args as [string, string, string, string | undefined];
  const result = await runNightly(date, {
    source: new LocalObjectStore(source),
    dest: new LocalObjectStore(dest),
    config: parseConfig(config ? JSON.parse(config) : {}),
    // ENGINE_MEMORY_LIMIT, as on Lambda (default 3GB): the scale benchmark raises it with the data.
    openEngine: async (options) => traced(await DuckDbEngine.open({ ...options, memoryLimit: process.env['ENGINE_MEMORY_LIMIT'] })),
    onProgress: (e) => (stages[e.stage] = Math.round(e.elapsedMs)),
  });
  extra = { status: result.status, rowsRead: result.rowsRead, customers: result.customersScored, stages };
} else if (mode === 'bare') {
  const [glob, out] = args as [string, string];
  const engine = await DuckDbEngine.open();
  const transactions = `SELECT customer_id, CAST(ordered_at AS DATE) AS order_date, amount, is_return
    FROM read_csv(${literal(glob)}, header = true, ignore_errors = true, columns = {
      'transaction_id': 'VARCHAR', 'customer_id': 'VARCHAR', 'ordered_at': 'TIMESTAMP', 'amount': 'DECIMAL(18,4)',
      'quantity': 'INTEGER', 'channel': 'VARCHAR', 'currency': 'VARCHAR', 'is_return': 'BOOLEAN'})`;
  const date = '2024-12-31';
  await engine.run(copyToParquet(customerScoresSql(customerFactsSql(transactions, { date }), date, parseConfig({}).rfm), out));
  await engine.close();
} else {
  throw new Error('usage: run-once.ts pipeline DATE SOURCE DEST | bare SOURCE_GLOB OUT');
}

const wallMs = Math.round(performance.now() - started);
const maxRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
// Storage traffic of this process (and its engine threads): Linux accounts it in /proc/self/io.
const io = Object.fromEntries(
  readFileSync('/proc/self/io', 'utf8')
    .split('\n')
    .map((line) => line.split(': '))
    .filter(([key]) => key === 'read_bytes' || key === 'write_bytes')
    .map(([key, value]) => [key === 'read_bytes' ? 'readBytes' : 'writeBytes', Number(value)]),
);
console.log(JSON.stringify({ mode, wallMs, maxRssMb, ...io, ...extra }));
