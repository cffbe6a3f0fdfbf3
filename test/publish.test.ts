/**
 * Publishing: re-runs are identical, a backfill equals nightly runs, a failed run leaves the last
 * good result, and segment migration compares with the previous run.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../functions/cli.js';
import { partitionKey } from '../shared/catalog.js';
import { REPRODUCIBLE_TABLES, runManifest, segmentMigration } from '../shared/tables/index.js';
import { CSV_HEADER, engineWithRun, readTable, runLocal, tempDir, writeExtract } from './helpers.js';

const DATES = ['2024-05-01', '2024-05-02', '2024-05-03'];

/** Three days of orders: repeat buyers, a customer who only comes back on day 3, a return. */
async function threeDays(): Promise<string> {
  const source = await tempDir('src');
  const day = (date: string, rows: string[]) => writeExtract(source, date, 'orders.csv', [CSV_HEADER, ...rows].join('\n'));
  await day(DATES[0]!, [
    `a1,alice,${DATES[0]}T09:00:00,120.00,2,online,EUR,false`,
    `b1,bob,${DATES[0]}T10:00:00,15.50,1,store,EUR,false`,
    `c1,carol,${DATES[0]}T11:00:00,40.00,1,app,EUR,false`,
    `d1,dave,${DATES[0]}T12:00:00,15.50,1,app,EUR,false`,
  ]);
  await day(DATES[1]!, [
    `a2,alice,${DATES[1]}T09:00:00,80.00,1,online,EUR,false`,
    `b1,bob,${DATES[0]}T10:00:00,15.50,1,store,EUR,false`, // re-delivered: a duplicate
    `e1,erin,${DATES[1]}T13:00:00,300.00,3,store,EUR,false`,
  ]);
  await day(DATES[2]!, [
    `a3,alice,${DATES[2]}T09:00:00,60.00,1,online,EUR,false`,
    `c2,carol,${DATES[2]}T08:00:00,55.00,2,app,EUR,false`,
    `e1-r,erin,${DATES[2]}T10:00:00,100.00,1,store,EUR,true`,
  ]);
  return source;
}

async function fileHashes(dest: string, date: string): Promise<Record<string, string>> {
  const hashes: Record<string, string> = {};
  for (const table of REPRODUCIBLE_TABLES) {
    hashes[table.name] = createHash('sha256').update(await readFile(join(dest, partitionKey(table, date)))).digest('hex');
  }
  return hashes;
}

describe('publishing', () => {
  it('re-running a date writes byte-identical partitions', async () => {
    const source = await threeDays();
    const dest = await tempDir('dest');
    for (const date of DATES) await runLocal(date, source, dest);
    const before = await fileHashes(dest, DATES[1]!);
    const rows = await readTable(dest, { name: 'customer_scores' }, DATES[1]!);
    await runLocal(DATES[1]!, source, dest);
    expect(await fileHashes(dest, DATES[1]!)).toEqual(before);
    expect(await readTable(dest, { name: 'customer_scores' }, DATES[1]!)).toEqual(rows);
  });

  it('a backfill through the CLI equals three nightly runs', async () => {
    const source = await threeDays();
    const nightly = await tempDir('nightly');
    const backfill = await tempDir('backfill');
    for (const date of DATES) await runLocal(date, source, nightly);
    const exitCode = await main(['run', '--from', DATES[0]!, '--to', DATES[2]!, '--source', source, '--dest', backfill, '--quiet']);
    expect(exitCode).toBe(0);
    for (const date of DATES) expect(await fileHashes(backfill, date)).toEqual(await fileHashes(nightly, date));
  });

  it('reports segment and grade migration against the previous run', async () => {
    const source = await threeDays();
    const dest = await tempDir('dest');
    for (const date of DATES) await runLocal(date, source, dest);
    const first = await readTable(dest, segmentMigration, DATES[0]!);
    // First run: everyone arrives from nowhere.
    expect(first.every((m) => m['from_segment'] === null && m['previous_dt'] === null)).toBe(true);
    expect(first.reduce((n, m) => n + Number(m['customers']), 0)).toBe(4);
    const third = await readTable(dest, segmentMigration, DATES[2]!);
    expect((third[0]!['previous_dt'] as Date).toISOString().slice(0, 10)).toBe(DATES[1]);
    // Five customers scored on day 2 and on day 3: every one of them appears in exactly one move.
    expect(third.reduce((n, m) => n + Number(m['customers']), 0)).toBe(5);
    const day2 = await readTable(dest, { name: 'customer_scores' }, DATES[1]!);
    const day3 = await readTable(dest, { name: 'customer_scores' }, DATES[2]!);
    const expected = new Map<string, number>();
    for (const now of day3) {
      const before = day2.find((b) => b['customer_id'] === now['customer_id'])!;
      const key = `${before['segment']}|${before['grade']}->${now['segment']}|${now['grade']}`;
      expected.set(key, (expected.get(key) ?? 0) + 1);
    }
    const actual = new Map(
      third.map((m) => [`${m['from_segment']}|${m['from_grade']}->${m['to_segment']}|${m['to_grade']}`, Number(m['customers'])]),
    );
    expect(actual).toEqual(expected);
  });

  it('a run that fails leaves the previous result in place', async () => {
    const source = await threeDays();
    const dest = await tempDir('dest');
    for (const date of DATES) await runLocal(date, source, dest);
    const before = await fileHashes(dest, DATES[2]!);
    const manifestBefore = await readTable(dest, runManifest, DATES[2]!);
    // An engine that breaks once scoring starts: ingest and its files are done, nothing is published.
    const failing = engineWithRun((engine, sql) =>
      sql.includes('TEMP TABLE rfm_scores') ? Promise.reject(new Error('disk full')) : engine.run(sql),
    );
    await expect(runLocal(DATES[2]!, source, dest, {}, { openEngine: failing })).rejects.toThrow('disk full');
    expect(await fileHashes(dest, DATES[2]!)).toEqual(before);
    expect(await readTable(dest, runManifest, DATES[2]!)).toEqual(manifestBefore);
  });

  it('refuses to publish a table with a NULL in a required column', async () => {
    const source = await threeDays();
    const dest = await tempDir('dest');
    await runLocal(DATES[0]!, source, dest);
    const before = await fileHashes(dest, DATES[0]!);
    // Scoring that loses the segment: the catalog says every scored customer has one.
    const broken = engineWithRun((engine, sql) =>
      engine.run(sql.replace(' AS segment,', ' AS segment_rule, CAST(NULL AS VARCHAR) AS segment,')),
    );
    await expect(runLocal(DATES[0]!, source, dest, {}, { openEngine: broken })).rejects.toThrow(
      // customer_scores is built first from those scores: each of its 4 customers has a NULL segment.
      /customer_scores: NULL in required column\(s\) segment \(4 rows\)/,
    );
    expect(await fileHashes(dest, DATES[0]!)).toEqual(before);
  });
});
