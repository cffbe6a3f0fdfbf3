/**
 * A stand-in for Athena as the history engine, for tests: the DuckDB twins of the queries run in a
 * separate engine that sees only what Athena would see — the store's published partitions, found
 * the way Glue's partition projection finds them (`<table>/dt=D/`), and runs' staged new orders
 * (`transactions_staged`, by run id) — and write their results into the store as Athena's UNLOAD
 * does: Parquet files under a folder that must not exist yet (Athena fails with
 * HIVE_PATH_ALREADY_EXISTS), none for an empty result, several for a larger one (here the rows
 * dealt alternately into two files, so that nothing may depend on the rows' order), and column
 * names lower-cased (Athena's catalog and results know no upper case). The relation names are
 * those of the Athena text (shared/athena/remote.ts), without the database.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PARTITION_COLUMN } from '../shared/catalog.js';
import { TABLES, transactions } from '../shared/tables/index.js';
import { STAGED_RUN_COLUMN, STAGED_TRANSACTIONS } from '../shared/athena/tables.js';
import { DuckDbEngine } from '../shared/adapters/duckdb.js';
import type { RemoteEngine, ResultColumn } from '../shared/engine/history.js';
import { dateLiteral, emptyRelation, ident, literal, readParquet } from '../shared/sql/dialect.js';
import { STAGING_ROOT } from '../shared/staging.js';
import type { LocalObjectStore } from '../shared/adapters/local-store.js';

const COLUMNS = transactions.columns.map((c) => ident(c.name)).join(', ');

export class DuckDbRemote implements RemoteEngine {
  /** Every statement the "remote" engine ran, and how often an empty result's shape was asked. */
  readonly statements: string[] = [];
  /** Each result's folder and row count. */
  readonly unloaded: { folder: string; rows: number }[] = [];
  columnRequests = 0;
  private engine?: DuckDbEngine;
  private results = 0;

  constructor(private readonly store: LocalObjectStore) {}

  earlierSql(date: string): string {
    return `SELECT ${COLUMNS} FROM ${ident(transactions.name)} WHERE ${ident(PARTITION_COLUMN.name)} < ${dateLiteral(date)}`;
  }

  stagedSql(runId: string): string {
    return `SELECT ${COLUMNS} FROM ${ident(STAGED_TRANSACTIONS)} WHERE ${ident(STAGED_RUN_COLUMN)} = ${literal(runId)}`;
  }

  /** The "catalog" as of now: one view per table over its partitions in the store, like projection. */
  private async catalog(): Promise<DuckDbEngine> {
    this.engine ??= await DuckDbEngine.open({ threads: 1 });
    const paths = async (prefix: string) => (await this.store.list(prefix)).filter((o) => o.key.endsWith('.parquet')).map((o) => this.store.describe(o.key));
    for (const table of TABLES) {
      const files = await paths(`${table.name}/`);
      const relation = files.length
        ? `SELECT * FROM read_parquet(${literal(`${this.store.describe(table.name)}/dt=*/data.parquet`)}, hive_partitioning = true, hive_types = {'dt': DATE})`
        : `SELECT *, CAST(NULL AS DATE) AS dt FROM (${emptyRelation(table)})`;
      await this.engine.run(`CREATE OR REPLACE VIEW ${ident(table.name)} AS ${relation}`);
    }
    const staged = (await paths(STAGING_ROOT)).filter((p) => p.includes(`/work/${transactions.name}/`));
    await this.engine.run(`CREATE OR REPLACE VIEW ${ident(STAGED_TRANSACTIONS)} AS ${
      staged.length
        ? `SELECT *, regexp_extract(filename, '/${STAGING_ROOT}([^/]+)/', 1) AS ${STAGED_RUN_COLUMN} FROM read_parquet(${JSON.stringify(staged).replaceAll('"', "'")}, filename = true)`
        : `SELECT *, CAST(NULL AS VARCHAR) AS ${STAGED_RUN_COLUMN} FROM (${emptyRelation(transactions)})`
    }`);
    return this.engine;
  }

  async unload(sql: string, folder: string): Promise<void> {
    this.statements.push(sql);
    if ((await this.store.list(folder)).length) throw new Error(`HIVE_PATH_ALREADY_EXISTS: Target directory for table already exists: ${folder}`);
    const engine = await this.catalog();
    const lowerCased = (await this.columns(sql, false)).map((c) => `${ident(c.name)} AS ${ident(c.name.toLowerCase())}`).join(', ');
    await engine.run(`CREATE OR REPLACE TEMP TABLE unloaded AS SELECT ${lowerCased}, row_number() OVER () % 2 AS file_of_row FROM (${sql}) AS q`);
    const [{ rows }] = (await engine.query(`SELECT CAST(count(*) AS DOUBLE) AS rows FROM unloaded`)) as [{ rows: number }];
    this.unloaded.push({ folder, rows });
    const scratch = await mkdtemp(join(tmpdir(), 'crm-metrics-remote-'));
    for (const part of [1, 0]) {
      const file = join(scratch, `part-${part}.parquet`);
      await engine.run(`COPY (SELECT * EXCLUDE (file_of_row) FROM unloaded WHERE file_of_row = ${part}) TO ${literal(file)} (FORMAT parquet)`);
      const [{ n }] = (await engine.query(`SELECT count(*) AS n FROM ${readParquet([file])}`)) as [{ n: string }];
      if (Number(n) > 0) await this.store.put(`${folder}${this.results++}-part-${part}.parquet`, file);
    }
  }

  async columns(sql: string, counted = true): Promise<ResultColumn[]> {
    if (counted) this.columnRequests++;
    const engine = await this.catalog();
    const described = await engine.query<{ column_name: string; column_type: string }>(`DESCRIBE SELECT * FROM (${sql}) AS q`);
    return described.map((c) => ({ name: counted ? c.column_name.toLowerCase() : c.column_name, type: c.column_type }));
  }

  async close(): Promise<void> {
    await this.engine?.close();
  }
}
