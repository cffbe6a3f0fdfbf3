/**
 * `npm run bench:scale`: the envelope of one process. For 1M, 3M and 10M customers (about 10M,
 * 30M and 100M transactions) it generates the history, runs the initial load (the whole history in
 * one night) and the next night, and prints per stage wall time, peak memory and storage traffic,
 * then the scaling: seconds per million transactions, memory per million customers.
 * Options: --sizes 1000000,3000000 (customers), --keep (reuse generated data), --engine-memory 5GB.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BENCH_CONFIG, benchData, LOAD_DATE, NEXT_DATE, prepareBenchData, step, type Step } from './data.js';

const { values } = parseArgs({
  options: { sizes: { type: 'string' }, keep: { type: 'boolean' }, 'engine-memory': { type: 'string' } },
});
const sizes = (values.sizes ?? '1000000,3000000,10000000').split(',').map(Number);
// The engine's share of memory, as ENGINE_MEMORY_LIMIT on Lambda (60 % of a 10 GB function is 6GB).
process.env['ENGINE_MEMORY_LIMIT'] = values['engine-memory'] ?? '5GB';

const gb = (bytes = 0) => (bytes / 1024 ** 3).toFixed(1);
const s = (ms = 0) => (ms / 1000).toFixed(1);
/** Stage durations from the "ended at" marks. */
const durations = (stages: Record<string, number> = {}) => {
  let previous = 0;
  return Object.entries(stages).map(([stage, at]) => {
    const line = `${stage} ${s(at - previous)}`;
    previous = at;
    return line;
  });
};

const results: { customers: number; rows: number; load: Step; next: Step }[] = [];
for (const customers of sizes) {
  const started = performance.now();
  const rows = await prepareBenchData(customers, values.keep ?? false);
  console.log(`${customers.toLocaleString()} customers: ${rows.toLocaleString()} rows (${s(performance.now() - started)} s to prepare)`);
  const dest = join(benchData(customers).root, 'dest-scale');
  await rm(dest, { recursive: true, force: true });
  const { source } = benchData(customers);
  const load = step('pipeline', LOAD_DATE, source, dest, BENCH_CONFIG);
  console.log(`  initial load ${s(load.wallMs)} s, peak ${load.maxRssMb} MB: ${durations(load.stages).join(', ')}`);
  const next = step('pipeline', NEXT_DATE, source, dest, BENCH_CONFIG);
  console.log(`  next night ${s(next.wallMs)} s, peak ${next.maxRssMb} MB: ${durations(next.stages).join(', ')}`);
  results.push({ customers, rows, load, next });
  if (!values.keep) await rm(benchData(customers).root, { recursive: true, force: true });
}

console.log(`
engine memory limit ${process.env['ENGINE_MEMORY_LIMIT']}, ${(await import('node:os')).availableParallelism()} cores

| customers | transactions | initial load | peak RSS | read | written | next night | peak RSS |
|---|---|---|---|---|---|---|---|
${results
  .map(
    ({ customers, rows, load, next }) =>
      `| ${(customers / 1e6).toFixed(0)}M | ${(rows / 1e6).toFixed(1)}M | ${s(load.wallMs)} s | ${(load.maxRssMb / 1024).toFixed(1)} GB | ${gb(load.readBytes)} GB | ${gb(load.writeBytes)} GB | ${s(next.wallMs)} s | ${(next.maxRssMb / 1024).toFixed(1)} GB |`,
  )
  .join('\n')}`);

if (results.length >= 2) {
  const [small, large] = [results[0]!, results.at(-1)!];
  const perMillionRows = (large.load.wallMs - small.load.wallMs) / 1000 / ((large.rows - small.rows) / 1e6);
  const perMillionCustomers = (large.load.maxRssMb - small.load.maxRssMb) / ((large.customers - small.customers) / 1e6);
  const nightPerMillion = (large.next.wallMs - small.next.wallMs) / 1000 / ((large.customers - small.customers) / 1e6);
  console.log(`
scaling (between ${(small.customers / 1e6).toFixed(0)}M and ${(large.customers / 1e6).toFixed(0)}M customers):
  initial load: ${perMillionRows.toFixed(1)} s per million transactions
  peak memory: ${perMillionCustomers.toFixed(0)} MB per million customers (initial load)
  next night: ${nightPerMillion.toFixed(1)} s per million customers`);
}
