/**
 * The files of fanned-out scoring: the customer summary is written as one Parquet file per shard
 * (customers split by {@link shardOf}'s hash); each shard is scored from its file alone with the
 * fitted parameters (what a fanned-out worker does) into a scores file; the scores files are read
 * back as the run's CLV scores. Where the files travel between is the pipeline's business.
 */
import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { SqlEngine } from '../engine/sql-engine.js';
import { fnv1a32Sql, literal, readParquet } from '../sql/dialect.js';
import { CLV_SCORES_TABLE, CLV_SUMMARY_TABLE } from './score-customers.js';
import { FREQUENCY_SCORE_COLUMNS, populationOrderValue, SCORE_COLUMNS, scoreSummaries, type FittedClv } from './shards.js';

/** Scores the customers of one shard file (customer_id, x, t_x, age, mean_repeat_value) into `output`; returns how many. */
export async function scoreShardFile(engine: SqlEngine, input: string, fitted: FittedClv, output: string): Promise<number> {
  const rows = `SELECT * FROM ${readParquet([input])} ORDER BY customer_id`;
  const s = await engine.queryNumbers(`SELECT x, t_x, age AS T, mean_repeat_value FROM (${rows})`);
  const scores = scoreSummaries(fitted, { x: s['x']!, tx: s['t_x']!, T: s['T']!, meanRepeatValue: s['mean_repeat_value']! });
  const row = Float64Array.from(s['x']!, (_, i) => i);
  await engine.run(`CREATE OR REPLACE TEMP TABLE shard_scores (i DOUBLE, x DOUBLE, ${SCORE_COLUMNS.map((c) => `${c} DOUBLE`).join(', ')})`);
  // The appender fills columns by position: in the table's order.
  await engine.insertNumbers('shard_scores', { i: row, x: s['x']!, ...Object.fromEntries(SCORE_COLUMNS.map((c) => [c, scores[c]])) });
  await engine.run(`COPY (SELECT c.customer_id, s.* EXCLUDE (i)
      FROM (SELECT customer_id, row_number() OVER (ORDER BY customer_id) - 1 AS i FROM ${readParquet([input])}) AS c
      JOIN shard_scores AS s ON s.i = c.i ORDER BY c.customer_id)
    TO ${literal(output)} (FORMAT parquet)`);
  return row.length;
}

/**
 * Writes {@link CLV_SUMMARY_TABLE} as shard files under `dir` (customers split by the FNV hash of
 * the id, as {@link shardOf}); returns their paths relative to `dir`, sorted.
 */
export async function writeShardInputs(engine: SqlEngine, shards: number, dir: string): Promise<string[]> {
  await engine.run(`COPY (SELECT customer_id, CAST(x AS DOUBLE) AS x, t_x, age, mean_repeat_value,
      ${fnv1a32Sql('customer_id')} % ${shards} AS shard FROM ${CLV_SUMMARY_TABLE})
    TO ${literal(dir)} (FORMAT parquet, PARTITION_BY (shard))`);
  const files = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return files.filter((f) => f.isFile()).map((f) => relative(dir, join(f.parentPath, f.name))).sort();
}

/**
 * Creates {@link CLV_SCORES_TABLE} (customer_id and the score columns) from the shards' scores
 * files. A column without a converged model is NULL, as in the in-engine scoring.
 */
export async function loadShardScores(engine: SqlEngine, fitted: FittedClv, files: readonly string[]): Promise<void> {
  if (files.length === 0) {
    // No customers (an empty first night): an empty table of the same shape.
    await engine.run(`CREATE TEMP TABLE ${CLV_SCORES_TABLE} AS SELECT CAST(NULL AS VARCHAR) AS customer_id,
      ${SCORE_COLUMNS.map((c) => `CAST(NULL AS DOUBLE) AS ${c}`).join(', ')} WHERE false`);
    return;
  }
  // NaN stands for "no model" in the arrays; the table says NULL, as the in-engine path does.
  const none = 'CAST(NULL AS DOUBLE)';
  const frequency = (column: string) => (fitted.frequency ? column : none);
  const population = fitted.spend ? populationOrderValue(fitted.spend) : NaN;
  const spend = (column: string) => (!fitted.spend ? none : Number.isFinite(population) ? column : `CASE WHEN x = 0 THEN ${none} ELSE ${column} END`);
  await engine.run(`CREATE TEMP TABLE ${CLV_SCORES_TABLE} AS SELECT customer_id,
      ${FREQUENCY_SCORE_COLUMNS.map((c) => `${frequency(c)} AS ${c}`).join(', ')},
      ${spend('expected_order_value')} AS expected_order_value,
      ${fitted.frequency ? spend('clv') : none} AS clv
    FROM ${readParquet(files)}`);
}
