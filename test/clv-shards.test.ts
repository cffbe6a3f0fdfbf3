/**
 * Fanned-out scoring: a 100k-customer base scored in shards (any count) gives exactly the scores
 * of the single-process nightly step, which scores distinct summaries inside the engine.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../shared/config.js';
import { generateExtracts } from '../shared/demo/generate.js';
import { DuckDbEngine } from '../shared/adapters/duckdb.js';
import { CLV_SCORES_TABLE, CLV_SUMMARY_TABLE, fitClv, readClvInputs, scoreInEngine } from '../shared/clv/score-customers.js';
import { customerSummarySql } from '../shared/clv/summary-sql.js';
import { customerFactsSql } from '../shared/history/customer-facts.js';
import { SCORE_COLUMNS, scoreInShards, shardOf, type CustomerSummaries, type FittedClv } from '../shared/clv/shards.js';
import { literal } from '../shared/sql/dialect.js';
import { partitionKey } from '../shared/catalog.js';
import { customerScores, segmentForecast } from '../shared/tables/index.js';
import { CSV_HEADER, runLocal, tempDir, writeExtract } from './helpers.js';

const DATE = '2024-06-30';
let engine: DuckDbEngine;
let ids: string[];
let summaries: CustomerSummaries;
let nightly: Record<string, Float64Array>;
let fitted: FittedClv;

beforeAll(async () => {
  const dir = await tempDir('shards');
  await generateExtracts({ dir, from: '2023-07-01', to: DATE, customers: 100_000, seed: 11, malformedRows: 0, singleExtractDate: DATE });
  engine = await DuckDbEngine.open();
  const transactions = `SELECT customer_id, CAST(ordered_at AS DATE) AS order_date, amount, quantity, channel, is_return
    FROM read_csv(${literal(join(dir, 'transactions', `dt=${DATE}`, '*.csv'))}, header = true, columns = {
      'transaction_id': 'VARCHAR', 'customer_id': 'VARCHAR', 'ordered_at': 'TIMESTAMP', 'amount': 'DECIMAL(18,4)',
      'quantity': 'INTEGER', 'channel': 'VARCHAR', 'currency': 'VARCHAR', 'is_return': 'BOOLEAN'})`;
  const config = parseConfig({}).clv;
  await engine.run(`CREATE TEMP TABLE ${CLV_SUMMARY_TABLE} AS ${customerSummarySql(customerFactsSql(transactions, { date: DATE }), DATE, config.time_unit)}`);
  ({ fitted } = fitClv(await readClvInputs(engine), config));
  await scoreInEngine(engine, fitted);
  ids = (await engine.query<{ customer_id: string }>(`SELECT customer_id FROM clv_summary ORDER BY customer_id`)).map((r) => r.customer_id);
  const s = await engine.queryNumbers(`SELECT CAST(x AS DOUBLE) AS x, t_x, age AS T, mean_repeat_value FROM clv_summary ORDER BY customer_id`);
  summaries = { x: s['x']!, tx: s['t_x']!, T: s['T']!, meanRepeatValue: s['mean_repeat_value']! };
  nightly = await engine.queryNumbers(`SELECT ${SCORE_COLUMNS.join(', ')} FROM ${CLV_SCORES_TABLE} ORDER BY customer_id`);
}, 120_000);

afterAll(async () => {
  await engine?.close();
});

describe('sharded CLV scoring', () => {
  it('fitted both models on the base', () => {
    expect(ids).toHaveLength(100_000);
    expect(fitted.frequency?.model).toBe('bgnbd');
    expect(fitted.spend).toBeDefined();
  });

  it.each([1, 2, 7, 64])('with %i shard(s) equals the single-process scores bit for bit', (shards) => {
    const sharded = scoreInShards(ids, summaries, fitted, shards);
    for (const column of SCORE_COLUMNS) {
      const expected = nightly[column]!;
      const actual = sharded[column];
      const differing = expected.findIndex((v, i) => !Object.is(v, actual[i]));
      expect(differing, `${column} differs at row ${differing}`).toBe(-1);
    }
    // Non-trivial: real values, not all missing.
    expect(sharded.clv.filter(Number.isFinite).length).toBeGreaterThan(90_000);
  });

  it('assigns customers to shards by a stable hash, spread evenly', () => {
    const counts = new Array(8).fill(0);
    for (const id of ids) counts[shardOf(id, 8)]++;
    for (const n of counts) expect(Math.abs(n - 12_500)).toBeLessThan(500);
    expect(shardOf('C0000001', 8)).toBe(shardOf('C0000001', 8));
  });
});

describe('the nightly run with clv.shards', () => {
  const digest = async (dest: string, table: { name: string }, date: string) =>
    createHash('sha256').update(await readFile(join(dest, partitionKey(table, date)))).digest('hex');

  it.each([
    ['a year of history (both models converge)', '2023-07-01'],
    ['one day of history (no model can be fitted: NULL scores)', '2024-06-30'],
  ])('scores through shard files into byte-identical tables: %s', async (_, from) => {
    const source = await tempDir('shard-run-src');
    await generateExtracts({ dir: source, from, to: DATE, customers: 3000, seed: 5, malformedRows: 0, singleExtractDate: DATE });
    const [whole, sharded] = [await tempDir('shard-run-1'), await tempDir('shard-run-5')];
    await runLocal(DATE, source, whole);
    await runLocal(DATE, source, sharded, { clv: { shards: 5 } });
    for (const table of [customerScores, segmentForecast]) {
      expect(await digest(sharded, table, DATE), table.name).toBe(await digest(whole, table, DATE));
    }
  });

  it('publishes an empty first night through shards too', async () => {
    const source = await tempDir('shard-empty-src');
    await writeExtract(source, DATE, 'a.csv', `${CSV_HEADER}\nt1,c1,not-a-date,10.00,1,online,EUR,false\n`);
    const result = await runLocal(DATE, source, await tempDir('shard-empty-dest'), { clv: { shards: 3 } });
    expect(result).toMatchObject({ status: 'empty_extract', rowsRejected: 1, customersScored: 0 });
  });
});
