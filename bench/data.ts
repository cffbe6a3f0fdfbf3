/**
 * The benchmarks' data and measured steps: a generated history of `customers` customers (about
 * ten orders each over two years) delivered in one date's extract, plus a next night of 30k
 * orders; each step runs in its own process (bench/run-once.ts) so that its peak memory is its own.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { generateExtracts } from '../shared/demo/generate.js';
import { DuckDbEngine } from '../shared/adapters/duckdb.js';
import { literal } from '../shared/sql/dialect.js';

export const LOAD_DATE = '2024-12-31';
export const NEXT_DATE = '2025-01-01';

/**
 * The benchmarks' run configuration. A one-day holdout window: the next night's window then starts
 * right after the initial load, whose scores give every customer a pre-period segment (11 segments
 * plus ALL); and three channel holdouts beside the global one.
 */
export const BENCH_CONFIG = JSON.stringify({
  holdout: { window_days: 1, channels: Object.fromEntries(['email', 'sms', 'push'].map((channel) => [channel, { salt: `bench-${channel}` }])) },
});
/** BG/NBD and Gamma-Gamma parameters giving ~10 orders per customer over two years. */
const PARAMS = { r: 1, alpha: 28, a: 0.3, b: 5.5 };

export function benchData(customers: number) {
  const root = join(import.meta.dirname, '.data', `c${customers}`);
  return { root, source: join(root, 'source') };
}

/** Generates the data (or, with `keep`, reuses what an earlier run generated); returns the row count. */
export async function prepareBenchData(customers: number, keep: boolean): Promise<number> {
  const { root, source } = benchData(customers);
  const marker = join(root, 'generated.json');
  if (keep && existsSync(marker)) return Number(readFileSync(marker, 'utf8'));
  await rm(root, { recursive: true, force: true });
  await mkdir(root, { recursive: true });
  const generated = await generateExtracts({
    dir: source,
    from: '2023-01-01',
    to: LOAD_DATE,
    customers,
    params: PARAMS,
    singleExtractDate: LOAD_DATE,
    filesPerExtract: 8,
    malformedRows: 100,
  });
  // Next night's extract: 30k fresh orders from existing customers.
  const engine = await DuckDbEngine.open();
  await mkdir(join(source, 'transactions', `dt=${NEXT_DATE}`), { recursive: true });
  await engine.run(`COPY (SELECT 'N' || transaction_id AS transaction_id, customer_id,
      '${NEXT_DATE}T12:00:00' AS ordered_at, amount, quantity, channel, currency, is_return
    FROM read_csv(${literal(join(source, 'transactions', `dt=${LOAD_DATE}`, '*.csv'))}, header = true, all_varchar = true, ignore_errors = true)
    USING SAMPLE 30000 ROWS (reservoir, 7))
    TO ${literal(join(source, 'transactions', `dt=${NEXT_DATE}`, 'part-00000.csv'))} (HEADER)`);
  await engine.close();
  const rows = generated.transactions + generated.returns;
  writeFileSync(marker, String(rows));
  return rows;
}

export interface Step {
  mode: string;
  wallMs: number;
  maxRssMb: number;
  /** Bytes the step's process read from and wrote to storage (Linux /proc/self/io). */
  readBytes?: number;
  writeBytes?: number;
  rowsRead?: number;
  customers?: number;
  /** Milliseconds since the start at which each stage ended. */
  stages?: Record<string, number>;
}

export function step(...args: string[]): Step {
  const out = execFileSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'run-once.ts'), ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return JSON.parse(out.toString().trim().split('\n').pop()!) as Step;
}
