/**
 * The layout of a run's staging folder in the destination store: everything a run writes before
 * it publishes, outside every table's location (readers never see it), deleted when the run ends
 * and expired by a lifecycle rule if a crash leaves it.
 *
 * `_staging/<run_id>/`
 * - `<table>/dt=D/data.parquet`, … — the outputs, uploaded before they are moved onto their keys;
 * - `work/state.json`, `work/<table>/data.parquet` — what the phases of a fanned-out night hand on
 *   (the new orders there are also the `transactions_staged` table Athena reads);
 * - `shards/input/…`, `shards/scores/…` — the customer summary per shard and its scores;
 * - `athena/<name>/` — the results of queries run on Athena (UNLOAD).
 */
export const STAGING_ROOT = '_staging/';

export function stagingPrefix(runId: string): string {
  return `${STAGING_ROOT}${runId}/`;
}

/** Folder of a table's rows handed from one phase to the next (one file, `data.parquet`). */
export function workFolder(runId: string, tableName: string): string {
  return `${stagingPrefix(runId)}work/${tableName}/`;
}

export function stateKey(runId: string): string {
  return `${stagingPrefix(runId)}work/state.json`;
}

export function shardInputPrefix(runId: string): string {
  return `${stagingPrefix(runId)}shards/input/`;
}

/** Where a shard's scores go: beside its input, under `scores/`. */
export function shardScoresKey(inputKey: string): string {
  return inputKey.replace(/\/shards\/input\//, '/shards/scores/');
}

/** The run a shard input key belongs to, or undefined for any other key. */
export function runOfShardKey(key: string): string | undefined {
  return new RegExp(`^${STAGING_ROOT}([^/]+)/shards/input/`).exec(key)?.[1];
}

/** Folder of the result of a query run on Athena for the run. */
export function remoteResultFolder(runId: string, name: string): string {
  return `${stagingPrefix(runId)}athena/${name}/`;
}
