/**
 * Athena as the engine for the queries over the whole history (`engine: athena`): the SQL is the
 * same definitions rendered for Trino; the history is the Glue `transactions` table before the run
 * date plus the run's new orders, staged where the `transactions_staged` table finds them; each
 * result is UNLOADed as Parquet into the run's staging folder and read back by the embedded engine.
 */
import { PARTITION_COLUMN } from '../catalog.js';
import { transactions } from '../tables/index.js';
import type { RemoteEngine, ResultColumn } from '../engine/history.js';
import { dateLiteral, ident, literal } from '../sql/dialect.js';
import type { ObjectStore } from '../store/object-store.js';
import { AthenaQueryClient } from './athena-client.js';
import { STAGED_RUN_COLUMN, STAGED_TRANSACTIONS } from '../athena/tables.js';

/** Athena's type names that DuckDB spells differently (the rest are the same words). */
const DUCKDB_TYPE: Record<string, string> = { varchar: 'VARCHAR', char: 'VARCHAR', real: 'FLOAT', timestamp: 'TIMESTAMP' };

/** The history's columns, without the partition column (the staged table has another). */
const COLUMNS = transactions.columns.map((c) => ident(c.name)).join(', ');

/** A history query may scan years of orders: far longer than an interactive query's limit. */
const HISTORY_QUERY_TIMEOUT_MS = 10 * 60_000;

export class AthenaRemote implements RemoteEngine {
  /** Athena in a workgroup, over a Glue database, with the environment's credentials. */
  static connect(workGroup: string, database: string, dest: ObjectStore): AthenaRemote {
    return new AthenaRemote(new AthenaQueryClient({ workGroup, database, timeoutMs: HISTORY_QUERY_TIMEOUT_MS }), database, dest);
  }

  constructor(
    private readonly athena: AthenaQueryClient,
    private readonly database: string,
    /** The destination store: Athena writes results there (S3), the run reads them from there. */
    private readonly dest: ObjectStore,
  ) {}

  private table(name: string): string {
    return `${ident(this.database)}.${ident(name)}`;
  }

  earlierSql(date: string): string {
    return `SELECT ${COLUMNS} FROM ${this.table(transactions.name)} WHERE ${ident(PARTITION_COLUMN.name)} < ${dateLiteral(date)}`;
  }

  stagedSql(runId: string): string {
    return `SELECT ${COLUMNS} FROM ${this.table(STAGED_TRANSACTIONS)} WHERE ${ident(STAGED_RUN_COLUMN)} = ${literal(runId)}`;
  }

  async unload(sql: string, folder: string): Promise<void> {
    await this.athena.execute(`UNLOAD (${sql}) TO ${literal(this.dest.describe(folder))} WITH (format = 'PARQUET', compression = 'ZSTD')`);
  }

  async columns(sql: string): Promise<ResultColumn[]> {
    const columns = await this.athena.columns(`SELECT * FROM (${sql}) AS q LIMIT 0`);
    return columns.map((c) => {
      const type = (c.Type ?? 'varchar').toLowerCase();
      return { name: c.Name!, type: type === 'decimal' ? `DECIMAL(${c.Precision}, ${c.Scale})` : (DUCKDB_TYPE[type] ?? type.toUpperCase()) };
    });
  }
}
