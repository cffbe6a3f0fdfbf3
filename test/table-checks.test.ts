/**
 * The checks each table declares beside its columns: the queries they run, and a night whose
 * table breaks one (a repeated key, a value outside the accepted list, a broken row rule) fails
 * before publishing, naming the table, the check and a row, and leaves the published date as it was.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Table } from '../shared/catalog.js';
import { parseConfig } from '../shared/config.js';
import { DuckDbEngine } from '../shared/adapters/duckdb.js';
import { checkQueries, checkTable } from '../shared/tables/checks.js';
import { runManifest, TABLES } from '../shared/tables/index.js';
import { CSV_HEADER, engineWithRun, runLocal, tempDir, writeExtract } from './helpers.js';

const D = '2024-05-01';

async function oneNight(): Promise<string> {
  const source = await tempDir('checks-src');
  const rows = Array.from({ length: 40 }, (_, i) => `o${i},c${i % 25},${D}T09:${String(i).padStart(2, '0')}:00,${10 + i}.00,1,online,EUR,false`);
  await writeExtract(source, D, 'orders.csv', [CSV_HEADER, ...rows].join('\n'));
  return source;
}

/** Every published file under `dest`, by path, with its hash. */
async function published(dest: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const entry of await readdir(dest, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files[path] = createHash('sha256').update(await readFile(path)).digest('hex');
  }
  return files;
}

/** An engine that rewrites the relation written to `<table>.parquet`: a bug in that table's build. */
const tampering = (table: string, rewrite: (relation: string) => string) =>
  engineWithRun((engine, sql) => {
    const match = /^COPY \(SELECT [\s\S]*? FROM \(([\s\S]*)\)( ORDER BY [^()]*)?\) TO '([^']*)'/.exec(sql);
    if (!match || !match[3]!.endsWith(`/${table}.parquet`)) return engine.run(sql);
    return engine.run(sql.replace(`FROM (${match[1]})`, `FROM (${rewrite(match[1]!)})`));
  });

describe('declared checks', () => {
  it('every table declares its grain, and the key columns exist', () => {
    for (const table of TABLES as readonly Table[]) {
      const names = table.columns.map((c) => c.name);
      for (const column of table.key ?? []) expect(names, table.name).toContain(column);
      for (const column of Object.keys(table.checks?.accepted ?? {})) expect(names, table.name).toContain(column);
    }
    expect((TABLES as readonly Table[]).filter((t) => !t.key).map((t) => t.name)).toEqual(['rejects']);
  });

  it('only the curated histories leave their key to their build (the ingest dedupe), and say where', () => {
    const trusted = (TABLES as readonly Table[]).filter((t) => t.checks?.keyUniqueByBuild);
    expect(trusted.map((t) => t.name)).toEqual(['transactions', 'customer_profiles', 'crm_events', 'survey_responses', 'crm_costs']);
    for (const table of trusted) {
      expect(table.history, table.name).toBe(true);
      expect(table.checks!.keyUniqueByBuild, table.name).toMatch(/shared\/ingest\/ingest\.ts/);
      expect(checkQueries(table, 'SELECT 1', parseConfig({})).map((q) => q.check), table.name).not.toContain(`unique (${table.key!.join(', ')})`);
    }
  });

  it('each check finds the one offending row of a hand-made relation, and nothing in a clean one', async () => {
    const engine = await DuckDbEngine.open();
    try {
      const config = parseConfig({});
      const offending = async (relation: string) => {
        const found: string[] = [];
        for (const { check, sql } of checkQueries(runManifest, relation, config)) if ((await engine.query(sql)).length) found.push(check);
        return found;
      };
      const row = (id: string, status: string, read: number) =>
        `SELECT '${id}' AS run_id, '${status}' AS status, ${read} AS rows_read, 5 AS rows_accepted, 3 AS rows_rejected, 2 AS rows_duplicate`;
      expect(await offending(`${row('a', 'succeeded', 10)} UNION ALL ${row('b', 'empty_extract', 10)}`)).toEqual([]);
      expect(await offending(`${row('a', 'succeeded', 10)} UNION ALL ${row('a', 'succeeded', 10)}`)).toEqual(['unique (run_id)']);
      expect(await offending(row('a', 'finished', 10))).toEqual(['accepted values of status']);
      expect(await offending(row('a', 'succeeded', 11))).toEqual(['rule every_row_in_one_place: rows_read = rows_accepted + rows_rejected + rows_duplicate']);
    } finally {
      await engine.close();
    }
  });

  it("counts each required column's NULLs from the file's row-group statistics, in the table's column order", async () => {
    const engine = await DuckDbEngine.open();
    try {
      const dir = await tempDir('checks-nulls');
      const file = join(dir, 'manifest.parquet');
      // 10 rows in row groups of 3: rows_read is NULL in rows 2, 5 and 8 (three groups), run_id in row 9.
      await engine.run(`COPY (SELECT CASE WHEN i = 9 THEN NULL ELSE 'r' || i END AS run_id, 'succeeded' AS status,
          CASE WHEN i % 3 = 2 THEN NULL ELSE 10 END AS rows_read, 5 AS rows_accepted, 3 AS rows_rejected, 2 AS rows_duplicate
        FROM range(10) AS t(i)) TO '${file}' (FORMAT parquet, ROW_GROUP_SIZE 3)`);
      const table: Table = { ...runManifest, columns: runManifest.columns.filter((c) => ['run_id', 'status', 'rows_read', 'rows_accepted', 'rows_rejected', 'rows_duplicate'].includes(c.name)) };
      await expect(checkTable(engine, table, file, parseConfig({}))).rejects.toThrow('run_manifest: NULL in required column(s) run_id (1 rows), rows_read (3 rows)');
    } finally {
      await engine.close();
    }
  });

  const failures = [
    {
      kind: 'a repeated key',
      table: 'customer_scores',
      rewrite: (r: string) => `${r} UNION ALL (${r} ORDER BY customer_id LIMIT 1)`,
      error: /customer_scores: check unique \(customer_id\) failed, e\.g\. \{"customer_id":"c0","rows":2\}/,
    },
    {
      kind: 'a segment the rules cannot give',
      table: 'customer_scores',
      rewrite: (r: string) => `SELECT * REPLACE (CASE WHEN customer_id = 'c3' THEN 'Champs' ELSE segment END AS segment) FROM (${r}) AS t`,
      error: /customer_scores: check accepted values of segment failed, e\.g\. \{"customer_id":"c3",.*"segment":"Champs"/,
    },
    {
      kind: 'a broken row identity',
      table: 'run_manifest',
      rewrite: (r: string) => `SELECT * REPLACE (rows_read + 1 AS rows_read) FROM (${r}) AS t`,
      error: /run_manifest: check rule every_row_in_one_place: rows_read = rows_accepted \+ rows_rejected \+ rows_duplicate failed, e\.g\. \{"run_id":/,
    },
  ];

  it.each(failures)('$kind fails the night before publishing, naming the table, check and row', async ({ table, rewrite, error }) => {
    const source = await oneNight();
    const dest = await tempDir('checks-dest');
    await runLocal(D, source, dest);
    const before = await published(dest);
    await expect(runLocal(D, source, dest, {}, { openEngine: tampering(table, rewrite) })).rejects.toThrow(error);
    expect(await published(dest)).toEqual(before);
  });
});
