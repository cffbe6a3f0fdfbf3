/**
 * Scoring through shard files: the protocol of the fan-out, run in one process. The customer
 * summary is written as one Parquet file per shard (customers split by {@link shardOf}'s hash);
 * each shard is scored from its file alone with the fitted parameters (what a fanned-out worker
 * does) into a scores file; the scores files are read back as the run's CLV scores.
 */
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { SqlEngine } from '../engine/sql-engine.js';
import { DUCKDB, literal, readParquet } from '../sql/dialect.js';
import { populationOrderValue, SCORE_COLUMNS, scoreSummaries, type FittedClv } from './shards.js';

/** Scores the customers of one shard file (customer_id, x, t_x, T, mean_repeat_value) into `output`. */
export async function scoreShardFile(engine: SqlEngine, input: string, fitted: FittedClv, output: string): Promise<void> {
  const rows = `SELECT * FROM ${readParquet([input])} ORDER BY customer_id`;
  const s = await engine.queryNumbers(`SELECT x, t_x, T, mean_repeat_value FROM (${rows})`);
  const scores = scoreSummaries(fitted, { x: s['x']!, tx: s['t_x']!, T: s['T']!, meanRepeatValue: s['mean_repeat_value']! });
  const row = Float64Array.from(s['x']!, (_, i) => i);
  await engine.run(`CREATE OR REPLACE TEMP TABLE shard_scores (i DOUBLE, x DOUBLE, ${SCORE_COLUMNS.map((c) => `${c} DOUBLE`).join(', ')})`);
  await engine.insertNumbers('shard_scores', { i: row, x: s['x']!, ...scores });
  await engine.run(`COPY (SELECT c.customer_id, s.* EXCLUDE (i)
      FROM (SELECT customer_id, row_number() OVER (ORDER BY customer_id) - 1 AS i FROM ${readParquet([input])}) AS c
      JOIN shard_scores AS s ON s.i = c.i ORDER BY c.customer_id)
    TO ${literal(output)} (FORMAT parquet)`);
}

/**
 * Creates `table` (customer_id and the score columns) from `clv_summary` through `shards` shard
 * files under `dir`. A column without a converged model is NULL, as in the in-engine scoring.
 */
export async function scoreThroughShardFiles(engine: SqlEngine, fitted: FittedClv, shards: number, dir: string, table: string): Promise<void> {
  const inputs = join(dir, 'input');
  await mkdir(join(dir, 'scores'), { recursive: true });
  await engine.run(`COPY (SELECT customer_id, CAST(x AS DOUBLE) AS x, t_x, T, mean_repeat_value,
      ${DUCKDB.fnv1a32('customer_id')} % ${shards} AS shard FROM clv_summary)
    TO ${literal(inputs)} (FORMAT parquet, PARTITION_BY (shard))`);
  const outputs: string[] = [];
  for (const folder of (await readdir(inputs)).sort()) {
    for (const file of (await readdir(join(inputs, folder))).sort()) {
      const output = join(dir, 'scores', `${folder}-${file}`);
      await scoreShardFile(engine, join(inputs, folder, file), fitted, output);
      outputs.push(output);
    }
  }
  if (outputs.length === 0) {
    // No customers (an empty first night): an empty table of the same shape.
    await engine.run(`CREATE TEMP TABLE ${table} AS SELECT CAST(NULL AS VARCHAR) AS customer_id,
      ${SCORE_COLUMNS.map((c) => `CAST(NULL AS DOUBLE) AS ${c}`).join(', ')} WHERE false`);
    return;
  }
  // NaN stands for "no model" in the arrays; the table says NULL, as the in-engine path does.
  const none = 'CAST(NULL AS DOUBLE)';
  const frequency = (column: string) => (fitted.frequency ? column : none);
  const population = fitted.spend ? populationOrderValue(fitted.spend) : NaN;
  const spend = (column: string) => (!fitted.spend ? none : Number.isFinite(population) ? column : `CASE WHEN x = 0 THEN ${none} ELSE ${column} END`);
  await engine.run(`CREATE TEMP TABLE ${table} AS SELECT customer_id,
      ${SCORE_COLUMNS.filter((c) => c !== 'expected_order_value' && c !== 'clv').map((c) => `${frequency(c)} AS ${c}`).join(', ')},
      ${spend('expected_order_value')} AS expected_order_value,
      ${fitted.frequency ? spend('clv') : none} AS clv
    FROM ${readParquet(outputs)}`);
}
