/**
 * The CLV customer summary from raw transactions through the whole pipeline: CDNOW's 1/10 sample
 * (2,357 customers) ingested from its raw file, summarised for the calibration period ending
 * 1997-09-30 in weeks, equals the summary published with the data (Fader, Hardie & Lee 2005; the
 * file `cdnow_customers_summary_with_transactions.csv` redistributed with lifetimes), customer by
 * customer.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { customerSummarySql } from '../shared/clv/summary-sql.js';
import { customerFactsSql } from '../shared/history/customer-facts.js';
import { DuckDbEngine } from '../shared/adapters/duckdb.js';
import { literal } from '../shared/sql/dialect.js';
import { runLocal, tempDir, writeExtract } from './helpers.js';

const FIXTURE = new URL('./fixtures/cdnow/', import.meta.url);
const RUN_DATE = '1998-06-30';

type Row = {
  customer_id: string;
  x: number;
  t_x: number;
  age: number;
  mean_repeat_value: number | null;
};

describe('CLV customer summary from raw CDNOW transactions', () => {
  let summary: Map<number, Row>;
  let published: { id: number; x: number; tx: number; T: number; zbar: number }[];

  beforeAll(async () => {
    const source = await tempDir('summary-src');
    const dest = await tempDir('summary-dest');
    await writeExtract(source, RUN_DATE, 'CDNOW_sample.txt', await readFile(new URL('CDNOW_sample.txt', FIXTURE)));
    const config = JSON.parse(await readFile(new URL('sample-config.json', FIXTURE), 'utf8'));
    const result = await runLocal(RUN_DATE, source, dest, config);
    expect(result).toMatchObject({ rowsRead: 6_919, rowsAccepted: 6_919, rowsRejected: 0 });

    const engine = await DuckDbEngine.open();
    const history = `SELECT * FROM read_parquet(${literal(join(dest, 'transactions', '*', '*.parquet'))})`;
    const rows = await engine.query<Row>(customerSummarySql(customerFactsSql(history, { date: '1997-09-30' }), '1997-09-30', 'week'));
    await engine.close();
    summary = new Map(rows.map((r) => [Number(r.customer_id), r]));

    const csv = await readFile(new URL('cdnow_customers_summary_with_transactions.csv', FIXTURE), 'utf8');
    published = csv
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => {
        const [id, x, tx, T, zbar] = line.split(',').map(Number) as [number, number, number, number, number];
        return { id, x, tx, T, zbar };
      });
  });

  it('covers the same 2,357 customers', () => {
    expect(published).toHaveLength(2_357);
    expect(summary.size).toBe(2_357);
  });

  it('matches the published x, t_x, T and mean repeat spend of every customer (2 decimals)', () => {
    // The file has 2 decimals: a value is right when it rounds to the published one (half a cent).
    const roundsTo = (got: number, want: number) => expect(Math.abs(got - want)).toBeLessThanOrEqual(0.005 + 1e-9);
    for (const want of published) {
      const got = summary.get(want.id)!;
      expect(got.x).toBe(want.x);
      roundsTo(got.t_x, want.tx);
      roundsTo(got.age, want.T);
      if (want.x > 0) roundsTo(got.mean_repeat_value!, want.zbar);
      else expect(got.mean_repeat_value).toBeNull();
    }
  });
});
