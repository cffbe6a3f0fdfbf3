/**
 * `npm run bench`: 10M transactions over 1M customers, from local CSV extracts.
 *
 * 1. initial load: the whole history arrives in one date's extract (8 files) and the nightly run
 *    ingests, dedupes, writes the curated history and scores everyone;
 * 2. bare SQL: the same RFM aggregation as one DuckDB statement from the extract files to Parquet;
 * 3. next night: a day's extract (30k orders) on top of the 10M-row history.
 * Each step runs in its own process; peak memory is that process's max RSS.
 * Options: --customers N (default 1000000), --keep (reuse generated data).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { partitionKey, REPRODUCIBLE_TABLES } from '../shared/catalog.js';
import { generateExtracts } from '../shared/demo/generate.js';
import { DuckDbEngine } from '../shared/engine/duckdb.js';
import { literal } from '../shared/sql/dialect.js';

const { values } = parseArgs({ options: { customers: { type: 'string' }, keep: { type: 'boolean' } } });
const customers = Number(values.customers ?? 1_000_000);
const root = join(import.meta.dirname, '.data', `c${customers}`);
const source = join(root, 'source');
const LOAD_DATE = '2024-12-31';
const NEXT_DATE = '2025-01-01';
/** BG/NBD and Gamma-Gamma parameters giving ~10 orders per customer over two years. */
const PARAMS = { r: 1, alpha: 28, a: 0.3, b: 5.5 };

async function prepare(): Promise<number> {
  const marker = join(root, 'generated.json');
  if (values.keep && existsSync(marker)) return Number(readFileSync(marker, 'utf8'));
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

/** SHA-256 of every table's partition for a date, except those describing the run (timings). */
function partitionHashes(dest: string, date: string): Record<string, string> {
  return Object.fromEntries(
    REPRODUCIBLE_TABLES.map((t) => [
      t.name,
      createHash('sha256').update(readFileSync(join(dest, partitionKey(t, date)))).digest('hex'),
    ]),
  );
}

interface Step {
  mode: string;
  wallMs: number;
  maxRssMb: number;
  rowsRead?: number;
  customers?: number;
  stages?: Record<string, number>;
}

function step(...args: string[]): Step {
  const out = execFileSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'run-once.ts'), ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return JSON.parse(out.toString().trim().split('\n').pop()!) as Step;
}

const genStart = performance.now();
const rows = await prepare();
console.log(`data: ${rows.toLocaleString()} rows, ${customers.toLocaleString()} customers (${((performance.now() - genStart) / 1000).toFixed(1)} s to prepare)`);

const dest = join(root, 'dest');
await rm(dest, { recursive: true, force: true });
// A one-day holdout window: the next night's window then starts right after the initial load, whose
// scores give every customer a pre-period segment (11 segments plus ALL in the report).
const CONFIG = JSON.stringify({ holdout: { window_days: 1 } });
const load = step('pipeline', LOAD_DATE, source, dest, CONFIG);
const bare = step('bare', join(source, 'transactions', `dt=${LOAD_DATE}`, '*.csv'), join(root, 'bare-rfm.parquet'));
const next = step('pipeline', NEXT_DATE, source, dest, CONFIG);
const before = partitionHashes(dest, NEXT_DATE);
const rerun = step('pipeline', NEXT_DATE, source, dest, CONFIG);
const identical = JSON.stringify(partitionHashes(dest, NEXT_DATE)) === JSON.stringify(before);

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
console.log(`
| step | wall | rows/s | peak RSS |
|---|---|---|---|
| nightly run, initial load (${load.rowsRead?.toLocaleString()} rows, ${load.customers?.toLocaleString()} customers) | ${seconds(load.wallMs)} | ${Math.round((load.rowsRead ?? 0) / (load.wallMs / 1000)).toLocaleString()} | ${load.maxRssMb} MB |
| bare DuckDB RFM statement, same files | ${seconds(bare.wallMs)} | ${Math.round(rows / (bare.wallMs / 1000)).toLocaleString()} | ${bare.maxRssMb} MB |
| next night (30k new orders on the ${load.rowsRead?.toLocaleString()}-row history) | ${seconds(next.wallMs)} | — | ${next.maxRssMb} MB |

pipeline / bare SQL: ${(load.wallMs / bare.wallMs).toFixed(2)}  (target < 2)
holdout analysis (assignment, export, results by segment), next night: ${seconds((next.stages?.['holdout'] ?? 0) - (next.stages?.['validated'] ?? 0))}  (target < 3 s)
re-run of ${NEXT_DATE} (${seconds(rerun.wallMs)}): ${identical ? 'byte-identical partitions' : 'PARTITIONS DIFFER'} (run_manifest and model_fit excluded: they record timings)
stages of the initial load (ms since start): ${JSON.stringify(load.stages)}
stages of the next night (ms since start): ${JSON.stringify(next.stages)}`);
