/**
 * Running totals carried from one night to the next. A table that sums the histories (campaign_daily)
 * adds tonight's rows to the previous run's partition instead of reading the whole history again, as
 * dbt's incremental models do: a night then costs what it delivers, not what came before it.
 */
import type { Table } from '../catalog.js';
import { configHash } from '../config.js';
import { readParquet } from '../sql/dialect.js';
import type { BuildContext } from './model.js';
import { runManifest } from './run-manifest.js';

export type StateAccess = Pick<BuildContext, 'engine' | 'config' | 'earlier' | 'fetch'>;

/**
 * The date of the earlier run whose partition of `table` tonight can carry forward, or undefined when
 * the table must be rebuilt from the whole history. Carrying is exact only from the latest run before
 * this one that counted the same way: no partition of the `histories` is newer than it (tonight's
 * partitions are all that is new since), and its run manifest has this run's configuration hash (a
 * changed attribution window, say, rebuilds the totals).
 */
export async function carriedFrom(ctx: StateAccess, table: Table, histories: readonly Table[]): Promise<string | undefined> {
  const latest = async (of: Table) => [...(await ctx.earlier(of)).keys()].sort().at(-1);
  const state = await latest(table);
  if (state === undefined) return undefined;
  for (const history of histories) {
    const last = await latest(history);
    if (last !== undefined && last > state) return undefined;
  }
  if (!(await ctx.earlier(runManifest)).has(state)) return undefined;
  const [manifest] = await ctx.engine.query<{ config_hash: string }>(`SELECT config_hash FROM ${readParquet([await ctx.fetch(runManifest, state)])}`);
  return manifest?.config_hash === configHash(ctx.config) ? state : undefined;
}
