/**
 * `<table>_latest` views: the same SQL text Athena gets (from shared/athena/tables.ts) runs in the
 * local engine, and it follows the newest published run, not the newest date touched.
 */
import { describe, expect, it } from 'vitest';
import { DuckDbEngine } from '../shared/adapters/duckdb.js';
import { registerTableViews } from '../shared/local-query.js';
import { CSV_HEADER, runLocal, tempDir, writeExtract } from './helpers.js';

describe('latest views', () => {
  it('show the newest published run; a backfill of an older date does not move them', async () => {
    const source = await tempDir('latest-src');
    const dest = await tempDir('latest-dest');
    const day = (date: string, customer: string) =>
      writeExtract(source, date, 'a.csv', [CSV_HEADER, `t-${date},${customer},${date}T10:00:00,10.00,1,online,EUR,false`].join('\n'));
    await day('2024-04-01', 'c1');
    await day('2024-04-03', 'c3');
    await runLocal('2024-04-01', source, dest);
    await runLocal('2024-04-03', source, dest);
    // The 2nd is delivered late; backfilling it after the 3rd must leave the 3rd as the latest run.
    await day('2024-04-02', 'c2');
    await runLocal('2024-04-02', source, dest);

    const engine = await DuckDbEngine.open();
    try {
      await registerTableViews(engine, dest);
      const latest = await engine.query<{ dt: string; customer_id: string }>(
        `SELECT CAST(dt AS VARCHAR) AS dt, customer_id FROM customer_scores_latest ORDER BY customer_id`,
      );
      // Scores as of the 3rd: the 3rd's run saw days 1 and 3 (day 2 was not yet delivered).
      expect(latest).toEqual([
        { dt: '2024-04-03', customer_id: 'c1' },
        { dt: '2024-04-03', customer_id: 'c3' },
      ]);
      const [manifest] = await engine.query<{ n: number }>(`SELECT CAST(count(*) AS INTEGER) AS n FROM run_manifest_latest`);
      expect(manifest!.n).toBe(1);
    } finally {
      await engine.close();
    }
  });
});
