/**
 * Ad-hoc SQL over a destination directory with the embedded engine, in place of Athena: each
 * catalog table is a view over its Hive-partitioned Parquet files, with `dt` as a column, and each
 * snapshot table has the same `<table>_latest` view as in Athena.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { latestViewName, latestViewSql, SNAPSHOT_TABLES } from './athena/tables.js';
import { PARTITION_COLUMN, sqlType } from './catalog.js';
import { TABLES } from './tables/index.js';
import type { SqlEngine } from './engine/sql-engine.js';
import { emptyRelation, ident, literal } from './sql/dialect.js';

export async function registerTableViews(engine: SqlEngine, destDir: string): Promise<void> {
  for (const table of TABLES) {
    const hasFiles = await readdir(join(destDir, table.name)).then(
      (entries) => entries.some((e) => e.startsWith('dt=')),
      () => false,
    );
    const glob = join(destDir, table.name, 'dt=*', '*.parquet');
    const relation = hasFiles
      ? `SELECT * FROM read_parquet(${literal(glob)}, hive_partitioning = true, hive_types = {'dt': DATE})`
      : `SELECT *, CAST(NULL AS ${sqlType(PARTITION_COLUMN.type)}) AS dt FROM (${emptyRelation(table)})`;
    await engine.run(`CREATE OR REPLACE VIEW ${ident(table.name)} AS ${relation}`);
  }
  for (const table of SNAPSHOT_TABLES) {
    await engine.run(`CREATE OR REPLACE VIEW ${ident(latestViewName(table))} AS ${latestViewSql(table)}`);
  }
}
