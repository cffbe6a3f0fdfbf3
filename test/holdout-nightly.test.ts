/**
 * The holdout assignment inside the nightly run: the SQL hash equals GrowthBook's (checked through
 * the published cross-SDK cases and the TypeScript implementation), groups are sticky across runs,
 * and the exclusion export lists exactly the control group.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { holdoutAssignment } from '../shared/catalog.js';
import { DuckDbEngine } from '../shared/engine/duckdb.js';
import { assignGroup, hash, type HashVersion } from '../shared/holdout/assign.js';
import { holdoutHashSql } from '../shared/holdout/assign-sql.js';
import { controlExportKey } from '../shared/pipeline.js';
import { literal } from '../shared/sql/dialect.js';
import { CSV_HEADER, readTable, runLocal, tempDir, writeExtract } from './helpers.js';

const CASES = JSON.parse(
  await readFile(new URL('./fixtures/growthbook/hash-cases.json', import.meta.url), 'utf8'),
) as { hash: [string, string, number, number | null][] };

describe('holdout hash in SQL', () => {
  it("reproduces GrowthBook's cross-SDK hash cases (packages/sdk-js/test/cases.json)", async () => {
    const engine = await DuckDbEngine.open();
    for (const [seed, value, version, expected] of CASES.hash) {
      if (expected === null) continue;
      const [row] = await engine.query<{ h: number }>(`SELECT ${holdoutHashSql(literal(value), seed, version as HashVersion)} AS h`);
      expect(row!.h).toBeCloseTo(expected, 10);
    }
    await engine.close();
  });

  it('equals the TypeScript hash on 10,000 ids for both versions', async () => {
    const engine = await DuckDbEngine.open();
    for (const version of [1, 2] as const) {
      const rows = await engine.query<{ id: string; h: number }>(`SELECT id, ${holdoutHashSql('id', 'salt-7', version)} AS h
        FROM (SELECT 'cust-' || CAST(i * 7919 AS VARCHAR) AS id FROM range(10000) AS t(i))`);
      for (const { id, h } of rows) expect(h).toBe(hash('salt-7', id, version));
    }
    await engine.close();
  });
});

describe('holdout assignment in the nightly run', () => {
  const DATES = ['2024-07-01', '2024-07-02', '2024-07-03'];

  it('assigns every customer once, sticks across runs and exports the control group', async () => {
    const source = await tempDir('hold-src');
    const dest = await tempDir('hold-dest');
    for (const [day, date] of DATES.entries()) {
      const rows = Array.from({ length: 400 }, (_, i) => `d${day}-${i},c${(i * 37 + day * 11) % 1000},${date}T10:00:00,${10 + (i % 7)}.00,1,online,EUR,false`);
      await writeExtract(source, date, 'orders.csv', [CSV_HEADER, ...rows].join('\n'));
      await runLocal(date, source, dest, { holdout: { salt: 'exp-2024', control_share: 0.05 } });
    }
    const groups = new Map<string, string>();
    for (const date of DATES) {
      const assignment = await readTable(dest, holdoutAssignment, date);
      expect(new Set(assignment.map((a) => a['customer_id'])).size).toBe(assignment.length);
      for (const a of assignment) {
        const id = a['customer_id'] as string;
        expect(a['holdout_group']).toBe(assignGroup(id, { salt: 'exp-2024', controlShare: 0.05, hashVersion: 2 }));
        if (groups.has(id)) expect(a['holdout_group']).toBe(groups.get(id));
        groups.set(id, a['holdout_group'] as string);
      }
      const exported = (await readFile(join(dest, controlExportKey(date)), 'utf8')).trim().split('\n');
      expect(exported[0]).toBe('customer_id');
      expect(exported.slice(1)).toEqual(assignment.filter((a) => a['holdout_group'] === 'control').map((a) => a['customer_id']));
    }
    const control = [...groups.values()].filter((g) => g === 'control').length;
    expect(control / groups.size).toBeGreaterThan(0.02);
    expect(control / groups.size).toBeLessThan(0.09);
  });
});
