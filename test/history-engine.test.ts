/**
 * `engine.history: athena`: the queries over the whole history run next to the data and only
 * their per-customer / per-group results come back. Here the remote engine is the DuckDB twin of
 * Athena (test/duckdb-remote.ts: it sees only the published partitions and the staged new orders,
 * and answers through the store as UNLOAD does); the Athena texts of the same queries are parsed
 * as Trino in dialect.test.ts, and the Athena client's side runs against recorded responses below.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { partitionKey } from '../shared/catalog.js';
import { customerScores, kpiDaily, REPRODUCIBLE_TABLES } from '../shared/tables/index.js';
import { parseConfig } from '../shared/config.js';
import { generateExtracts } from '../shared/demo/generate.js';
import { chooseHistoryEngine } from '../shared/pipeline.js';
import { LocalObjectStore } from '../shared/adapters/local-store.js';
import type { ObjectStore } from '../shared/store/object-store.js';
import { DuckDbRemote } from './duckdb-remote.js';
import { CSV_HEADER, readTable, runLocal, tempDir, writeExtract } from './helpers.js';

const remotes: DuckDbRemote[] = [];
afterAll(async () => {
  await Promise.all(remotes.map((r) => r.close()));
});

const digest = async (dest: string, table: { name: string }, date: string) =>
  createHash('sha256').update(await readFile(join(dest, partitionKey(table, date)))).digest('hex');

describe('history engine choice', () => {
  const engine = (history: 'local' | 'athena' | 'auto') => parseConfig({ engine: { history, auto_max_history_gb: 1 } }).engine;

  it('auto moves to the remote engine above the size limit, only when one is configured', () => {
    expect(chooseHistoryEngine(engine('auto'), 0.9e9, true)).toBe('local');
    expect(chooseHistoryEngine(engine('auto'), 1.1e9, true)).toBe('remote');
    expect(chooseHistoryEngine(engine('auto'), 1.1e9, false)).toBe('local');
    expect(chooseHistoryEngine(engine('local'), 5e9, true)).toBe('local');
    expect(chooseHistoryEngine(engine('athena'), 0, true)).toBe('remote');
    expect(() => chooseHistoryEngine(engine('athena'), 0, false)).toThrow(/no Athena is configured/);
  });
});

describe('the night with the history on the remote engine', () => {
  it("publishes the same tables as the local engine, night after night, without fetching the history (with shard files too)", async () => {
    const source = await tempDir('remote-src');
    const days = ['2024-06-28', '2024-06-29', '2024-06-30'];
    await generateExtracts({ dir: source, from: '2023-07-01', to: days[0]!, customers: 1500, seed: 21, malformedRows: 2, singleExtractDate: days[0]! });
    await generateExtracts({ dir: source, from: days[1]!, to: days[2]!, customers: 1500, seed: 22, malformedRows: 1 });
    // An order delivered again the next day: a duplicate only the history can reveal.
    await writeExtract(source, days[2]!, 'resent.csv', `${CSV_HEADER}\nresent-1,C0000001,2024-06-29T09:00:00,12.50,1,online,EUR,false\n`);
    await writeExtract(source, days[1]!, 'first.csv', `${CSV_HEADER}\nresent-1,C0000001,2024-06-29T09:00:00,12.50,1,online,EUR,false\n`);

    const [local, remoteDest] = [await tempDir('remote-local'), await tempDir('remote-dest')];
    const store = new LocalObjectStore(remoteDest);
    const remote = new DuckDbRemote(store);
    remotes.push(remote);
    // The run's own store: it must never fetch a transactions partition (the history stays remote).
    const fetched: string[] = [];
    const watched = Object.assign(Object.create(store) as LocalObjectStore, {
      localPath: (key: string, scratch: string, etag?: string) => {
        fetched.push(key);
        return (store as ObjectStore).localPath(key, scratch, etag);
      },
    });
    // And both scale-out switches at once: the history remote, the scoring through shard files.
    const shardedDest = await tempDir('remote-sharded');
    const shardedRemote = new DuckDbRemote(new LocalObjectStore(shardedDest));
    remotes.push(shardedRemote);
    for (const day of days) {
      const [a, b] = [await runLocal(day, source, local), await runLocal(day, source, remoteDest, { engine: { history: 'athena' } }, { remote, dest: watched })];
      expect(b).toMatchObject({ ...a, runId: b.runId, report: b.report });
      await runLocal(day, source, shardedDest, { engine: { history: 'athena' }, clv: { shards: 3 } }, { remote: shardedRemote });
      for (const table of REPRODUCIBLE_TABLES) {
        const expected = await digest(local, table, day);
        expect(await digest(remoteDest, table, day), `${table.name} ${day}`).toBe(expected);
        expect(await digest(shardedDest, table, day), `${table.name} ${day}, sharded`).toBe(expected);
      }
    }
    expect(fetched.filter((key) => key.startsWith('transactions/'))).toEqual([]);
    // Per night: seen orders, the one pass over the history (the customer facts, and their
    // per-channel rows) and, the model being validated every night, the tracking plot's daily
    // repeat purchases; everything else runs on those rows in the function.
    expect(remote.statements).toHaveLength(3 * 4);
    // What comes back is per customer (and channel), never per transaction: the seen orders are ids
    // of the night's extract that the history holds (none on the first night), not the history's ids.
    const customers = (await readTable(local, customerScores, days[2]!)).length;
    const channels = new Set((await readTable(local, kpiDaily, days[2]!)).map((r) => r['channel'])).size - 1;
    for (const { folder, rows } of remote.unloaded) {
      expect(rows, folder).toBeLessThanOrEqual(folder.includes('/customer_channel_facts/') ? customers * channels : customers);
    }
    const seen = remote.unloaded.filter((u) => u.folder.includes('/seen_orders/')).map((u) => u.rows);
    expect(seen[0]).toBe(0);
    expect(seen[2]).toBeGreaterThan(0);
    // Some result was empty (no purchases of a period yet …): its shape came from `columns`.
    expect(remote.columnRequests).toBeGreaterThan(0);
    expect(await store.list('_staging/')).toEqual([]);
  }, 120_000);
});
