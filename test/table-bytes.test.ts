/**
 * A restructuring guard: a fixed fixture (the demo business's initial load and two nights) published by the
 * current code has, partition for partition, the bytes recorded before the tables became model
 * files (test/fixtures/table-bytes.json). A change that means to change a table's bytes records
 * them anew, and says so in its commit: `RECORD_TABLE_BYTES=1 npx vitest run test/table-bytes.test.ts`.
 * (DuckDB's version is written into every Parquet file, so an engine upgrade records anew too.)
 * The same fixture without its CRM extracts proves issue 17's promise: a night without CRM sources
 * publishes, table for table, what it published before they existed.
 */
import { createHash } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { partitionKey, partitionPrefix, type Table } from '../shared/catalog.js';
import { REPRODUCIBLE_TABLES } from '../shared/tables/index.js';
import { generateBusiness } from '../shared/demo/business.js';
import { CRM_HEADERS } from '../shared/demo/crm-programme.js';
import { readTable, runLocal, tempDir } from './helpers.js';

const DATES = ['2024-05-01', '2024-05-02', '2024-05-03'];
const CONFIG = { holdout: { started_at: '2024-04-01', window_days: 2, min_group_size: 5, min_buyers: 0 } };
const RECORDED = new URL('./fixtures/table-bytes.json', import.meta.url);

/** The hash of a partition's rows as read back by hyparquet, without some columns (bigints as decimal text). */
async function rowsHash(dest: string, table: Table, date: string, columns: readonly string[]): Promise<string> {
  const rows = (await readTable(dest, table, date)).map((row) => Object.fromEntries(Object.entries(row).filter(([name]) => !columns.includes(name))));
  return createHash('sha256').update(JSON.stringify(rows, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v))).digest('hex');
}

/** The hash of every reproducible partition of three nights over the fixture, `without` some of its kinds' extracts. */
async function publishedHashes(without: readonly string[] = [], reduce: Readonly<Record<string, readonly string[]>> = {}): Promise<Record<string, string>> {
  const source = await tempDir('bytes-src');
  const dest = await tempDir('bytes-dest');
  await generateBusiness({ dir: source, customers: 1500, seed: 99, historyFrom: '2023-05-01', initialLoad: DATES[0]!, to: DATES.at(-1)!, programmeStart: '2024-04-01', channelHoldouts: false });
  for (const kind of without) await rm(join(source, kind), { recursive: true });
  const hashes: Record<string, string> = {};
  for (const date of DATES) {
    await runLocal(date, source, dest, CONFIG);
    for (const table of REPRODUCIBLE_TABLES) {
      const key = partitionKey(table, date);
      const leftOut = reduce[table.name];
      if (leftOut) hashes[`${partitionPrefix(table, date)}rows`] = await rowsHash(dest, table, date, leftOut);
      else hashes[key] = createHash('sha256').update(await readFile(join(dest, key))).digest('hex');
    }
  }
  return hashes;
}

describe('published bytes of a fixed fixture', () => {
  it('every reproducible partition of every night has its recorded SHA-256', async () => {
    const hashes = await publishedHashes();
    if (process.env['RECORD_TABLE_BYTES']) await writeFile(RECORDED, `${JSON.stringify(hashes, null, 2)}\n`);
    expect(hashes).toEqual(JSON.parse(await readFile(RECORDED, 'utf8')));
  }, 120_000);

  it('without the CRM extracts, every table that existed before them has the bytes it had then', async () => {
    // Recorded before the CRM sources existed (283b365), less rejects, which gained the contract's
    // source column. customer_scores gained two (the contract's too) and p_purchase_30d: its entries are the hashes of
    // its rows as read back, recorded by the code before them (07bb18a), compared without them.
    // holdout_results gained the future value, the anytime-valid interval (its since_start verdict follows it) and the
    // holdout column: its rows' hashes without them were recorded by the code before them (24102d4); holdout_assignment
    // gained channel_controls, its rows' hashes recorded by the code before it (8597514).
    const before: Record<string, string> = JSON.parse(await readFile(new URL('./fixtures/table-bytes-before-crm.json', import.meta.url), 'utf8'));
    const hashes = await publishedHashes(Object.keys(CRM_HEADERS), {
      customer_scores: ['referred_customers', 'influence_value', 'p_purchase_30d'],
      holdout_assignment: ['channel_controls'],
      holdout_results: ['holdout', 'incremental_equity', 'equity_ci_low', 'equity_ci_high', 'incremental_value', 'value_ci_low', 'value_ci_high', 'value_p_value', 'value_seq_ci_low', 'value_seq_ci_high', 'cost', 'roi', 'roi_ci_low', 'roi_ci_high', 'roi_seq_ci_low', 'roi_seq_ci_high', 'seq_ci_low', 'seq_ci_high', 'seq_p_value', 'verdict'],
    });
    expect(Object.fromEntries(Object.keys(before).map((key) => [key, hashes[key]]))).toEqual(before);
  }, 120_000);
});
