/**
 * `npm run bench:crm`: the CRM programme's events at the issue's scale, on the nightly benchmark's
 * 1M customers and 10M orders (bench/data.ts). The CRM platform's initial load is 60 days of
 * messages (sends, deliveries, opens, clicks: about 40M events in 8 files) beside the initial load
 * of the transactions; the next night adds 1.5M events beside its 30k orders. Each night runs
 * with and without the CRM extracts, so what the events add is the difference.
 * Options: --customers N (default 1000000), --events N (default 40000000), --keep (reuse generated data).
 */
import { existsSync, linkSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DuckDbEngine } from '../shared/adapters/duckdb.js';
import { shiftDate } from '../shared/dates.js';
import { CRM_HEADERS } from '../shared/demo/crm-programme.js';
import { literal } from '../shared/sql/dialect.js';
import { benchData, LOAD_DATE, NEXT_DATE, prepareBenchData, step, type Step } from './data.js';

const { values } = parseArgs({ options: { customers: { type: 'string' }, events: { type: 'string' }, keep: { type: 'boolean' } } });
const customers = Number(values.customers ?? 1_000_000);
const events = Number(values.events ?? 40_000_000);
const NEXT_EVENTS = 1_500_000;
const { root, source } = benchData(customers);
const crmSource = join(root, `crm-source-${events}`);

/** A message's events: sent, then delivered (97 %), opened (25 % of sends), clicked (6 %): 2.28 events a message. */
const FUNNEL = [
  ['sent', 1],
  ['delivered', 0.97],
  ['opened', 0.25],
  ['clicked', 0.06],
] as const;
const EVENTS_PER_MESSAGE = FUNNEL.reduce((sum, [, share]) => sum + share, 0);

/**
 * `messages` messages numbered from `first`, spread evenly over the `days` days up to `date`, to
 * customers drawn by hash, on email (70 %), SMS (20 %) or push; a weekly campaign per channel.
 */
async function writeEvents(engine: DuckDbEngine, date: string, first: number, messages: number, days: number, files: number): Promise<void> {
  const folder = join(crmSource, 'crm_events', `dt=${date}`);
  await mkdir(folder, { recursive: true });
  const start = `TIMESTAMP '${shiftDate(date, -(days - 1))} 00:00:00'`;
  // The last message's events (21 minutes after its send) still fall on `date`.
  const seconds = days * 86_400 - 3_600;
  const perFile = Math.ceil(messages / files);
  for (let file = 0; file < files; file++) {
    const from = first + file * perFile;
    const to = Math.min(first + messages, from + perFile);
    await engine.run(`COPY (
      WITH m AS (SELECT i, 'C' || lpad(CAST(hash(i) % ${customers} + 1 AS VARCHAR), 7, '0') AS customer_id,
          ${start} + to_seconds(CAST((i - ${first}) * ${seconds / messages} AS BIGINT)) AS sent_at,
          CASE WHEN i % 10 < 7 THEN 'email' WHEN i % 10 < 9 THEN 'sms' ELSE 'push' END AS channel
        FROM range(${from}, ${to}) AS r(i))
      SELECT 'E' || m.i || '-' || f.step AS event_id, customer_id, strftime(sent_at + to_minutes(f.step * 7), '%Y-%m-%dT%H:%M:%S') AS occurred_at,
        channel, channel || '-' || strftime(sent_at, '%Y-%W') AS campaign_id, f.event_type
      FROM m JOIN (VALUES ${FUNNEL.map(([type, share], step) => `(${step}, '${type}', ${share})`).join(', ')}) AS f(step, event_type, share)
        ON (hash(m.i * 7 + f.step) % 10000) < f.share * 10000
      ORDER BY m.i, f.step
    ) TO ${literal(join(folder, `part-${String(file).padStart(5, '0')}.csv`))} (HEADER)`);
  }
}

async function prepareCrmData(): Promise<void> {
  const marker = join(crmSource, 'generated');
  if (values.keep && existsSync(marker)) return;
  await rm(crmSource, { recursive: true, force: true });
  await mkdir(crmSource, { recursive: true });
  // Hard links: the source store follows no symbolic links (they could lead out of the source).
  for (const folder of readdirSync(join(source, 'transactions'))) {
    await mkdir(join(crmSource, 'transactions', folder), { recursive: true });
    for (const file of readdirSync(join(source, 'transactions', folder))) linkSync(join(source, 'transactions', folder, file), join(crmSource, 'transactions', folder, file));
  }
  const engine = await DuckDbEngine.open();
  try {
    const initial = Math.round(events / EVENTS_PER_MESSAGE);
    await writeEvents(engine, LOAD_DATE, 0, initial, 60, 8);
    await writeEvents(engine, NEXT_DATE, initial, Math.round(NEXT_EVENTS / EVENTS_PER_MESSAGE), 1, 1);
  } finally {
    await engine.close();
  }
  writeFileSync(marker, CRM_HEADERS.crm_events);
}

await prepareBenchData(customers, values.keep ?? false);
const generating = performance.now();
await prepareCrmData();
console.log(`CRM events prepared in ${((performance.now() - generating) / 1000).toFixed(1)} s`);

// Without the channel holdouts of BENCH_CONFIG: these synthetic sends honour no exclusion list, so
// every held-out customer would be a leak (181,000 rows of holdout_leaks instead of 50,000), a
// case no real platform produces; the channel holdouts' cost is measured by bench/nightly.ts.
const CONFIG = JSON.stringify({ holdout: { window_days: 1 } });
const nights = async (from: string, label: string) => {
  const dest = join(root, `dest-${label}`);
  await rm(dest, { recursive: true, force: true });
  return { load: step('pipeline', LOAD_DATE, from, dest, CONFIG), next: step('pipeline', NEXT_DATE, from, dest, CONFIG) };
};
const plain = await nights(source, 'plain');
const crm = await nights(crmSource, 'crm');

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const row = (name: string, without: Step, withCrm: Step, target: string) =>
  `| ${name} | ${seconds(without.wallMs)} | ${seconds(withCrm.wallMs)} | ${seconds(withCrm.wallMs - without.wallMs)} | ${withCrm.maxRssMb} MB | ${target} |`;
console.log(`
| night | without CRM | with CRM events | added | peak RSS | target |
|---|---|---|---|---|---|
${row(`initial load (${(crm.load.rowsRead ?? 0).toLocaleString()} orders + ~${(events / 1e6).toFixed(0)}M events)`, plain.load, crm.load, 'with CRM < 90 s')}
${row(`next night (30k orders + ${(NEXT_EVENTS / 1e6).toFixed(1)}M events)`, plain.next, crm.next, 'added < 5 s')}
`);
