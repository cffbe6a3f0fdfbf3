/**
 * `npm run bench`: 10M transactions over 1M customers, from local CSV extracts.
 *
 * 1. initial load: the whole history arrives in one date's extract (8 files) and the nightly run
 *    ingests, dedupes, writes the curated history and scores everyone;
 * 2. bare SQL: the same customer facts and RFM scores as one DuckDB statement from the extract files to Parquet;
 * 3. next night: a day's extract (30k orders) on top of the 10M-row history.
 * Each step runs in its own process; peak memory is that process's max RSS.
 * Options: --customers N (default 1000000), --keep (reuse generated data).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { partitionKey } from '../shared/catalog.js';
import { REPRODUCIBLE_TABLES } from '../shared/tables/index.js';
import { BENCH_CONFIG, benchData, LOAD_DATE, NEXT_DATE, prepareBenchData, step } from './data.js';

const { values } = parseArgs({ options: { customers: { type: 'string' }, keep: { type: 'boolean' } } });
const customers = Number(values.customers ?? 1_000_000);
const { root, source } = benchData(customers);

/** SHA-256 of every table's partition for a date, except those describing the run (timings). */
function partitionHashes(dest: string, date: string): Record<string, string> {
  return Object.fromEntries(
    REPRODUCIBLE_TABLES.map((t) => [
      t.name,
      createHash('sha256').update(readFileSync(join(dest, partitionKey(t, date)))).digest('hex'),
    ]),
  );
}

const genStart = performance.now();
const rows = await prepareBenchData(customers, values.keep ?? false);
console.log(`data: ${rows.toLocaleString()} rows, ${customers.toLocaleString()} customers (${((performance.now() - genStart) / 1000).toFixed(1)} s to prepare)`);

const dest = join(root, 'dest');
await rm(dest, { recursive: true, force: true });
const load = step('pipeline', LOAD_DATE, source, dest, BENCH_CONFIG);
const bare = step('bare', join(source, 'transactions', `dt=${LOAD_DATE}`, '*.csv'), join(root, 'bare-rfm.parquet'));
const next = step('pipeline', NEXT_DATE, source, dest, BENCH_CONFIG);
const before = partitionHashes(dest, NEXT_DATE);
const rerun = step('pipeline', NEXT_DATE, source, dest, BENCH_CONFIG);
const identical = JSON.stringify(partitionHashes(dest, NEXT_DATE)) === JSON.stringify(before);

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
// What the bare statement does, within the whole run: everything up to the ingested history, and
// the RFM scoring (the CLV fit runs between the two).
const stage = (name: string) => load.stages?.[name] ?? 0;
const rfmPathMs = stage('ingested') + stage('rfm') - stage('fitted');
console.log(`
| step | wall | rows/s | peak RSS |
|---|---|---|---|
| nightly run, initial load (${load.rowsRead?.toLocaleString()} rows, ${load.customers?.toLocaleString()} customers) | ${seconds(load.wallMs)} | ${Math.round((load.rowsRead ?? 0) / (load.wallMs / 1000)).toLocaleString()} | ${load.maxRssMb} MB |
| bare DuckDB statement (facts + RFM scores), same files | ${seconds(bare.wallMs)} | ${Math.round(rows / (bare.wallMs / 1000)).toLocaleString()} | ${bare.maxRssMb} MB |
| next night (30k new orders on the ${load.rowsRead?.toLocaleString()}-row history) | ${seconds(next.wallMs)} | — | ${next.maxRssMb} MB |

pipeline / bare SQL: ${(load.wallMs / bare.wallMs).toFixed(2)}  (target < 2)
the run's RFM path alone (opening, ingest and curated write, RFM scores: ${seconds(rfmPathMs)}) / bare SQL: ${(rfmPathMs / bare.wallMs).toFixed(2)}
holdout results by holdout (global + 3 channels), window and segment, next night: ${seconds((next.stages?.['holdout_results'] ?? 0) - (next.stages?.['holdout_assignment'] ?? 0))}  (the assignment is built with the intermediates)
re-run of ${NEXT_DATE} (${seconds(rerun.wallMs)}): ${identical ? 'byte-identical partitions' : 'PARTITIONS DIFFER'} (run_manifest and model_fit excluded: they record timings)
stages of the initial load (ms since start): ${JSON.stringify(load.stages)}
stages of the next night (ms since start): ${JSON.stringify(next.stages)}`);
