/**
 * The Glue Data Catalog definitions of the product's tables and their `<table>_latest` views, derived
 * from the table catalog: the CDK stack creates exactly these, so Athena's schema cannot drift from
 * what the pipeline writes.
 *
 * Partitions are found by **partition projection**, not registered: Athena computes
 * `<location>/<table>/dt=YYYY-MM-DD/` from the query's `dt` range, so a night's partition is
 * queryable the moment its file lands, with no `MSCK REPAIR`, no Glue call in the run, and no
 * registration step that could half-fail after publishing.
 */
import { COLUMN_TYPES, PARTITION_COLUMN, type Table } from '../catalog.js';
import { TABLES, runManifest, transactions } from '../tables/index.js';
import { STAGING_ROOT, workFolder } from '../staging.js';

export interface TableLocation {
  /** `s3://bucket/prefix/` under which every table has its folder (the run's DEST_URI). */
  readonly root: string;
  /** First date partition projection considers; earlier partitions are invisible to Athena. */
  readonly firstDate: string;
}

/** A Glue `TableInput`, in the camelCase of CDK's `CfnTable.TableInputProperty`. */
export interface GlueTableInput {
  name: string;
  description: string;
  tableType: 'EXTERNAL_TABLE' | 'VIRTUAL_VIEW';
  parameters: Record<string, string>;
  partitionKeys?: GlueColumn[];
  storageDescriptor: {
    columns: GlueColumn[];
    location?: string;
    inputFormat?: string;
    outputFormat?: string;
    serdeInfo: { serializationLibrary?: string; parameters?: Record<string, string> };
  };
  viewOriginalText?: string;
  viewExpandedText?: string;
}

export interface GlueColumn {
  name: string;
  type: string;
  comment: string;
}

const glueColumn = (column: Table['columns'][number]): GlueColumn => ({
  name: column.name,
  type: COLUMN_TYPES[column.type].glue,
  // Glue caps comments at 255 characters.
  comment: column.description.slice(0, 255),
});

function tableLocation(location: TableLocation, table: Table): string {
  return `${location.root.replace(/\/?$/, '/')}${table.name}/`;
}

export function glueTableInput(table: Table, location: TableLocation): GlueTableInput {
  const base = tableLocation(location, table);
  const dt = PARTITION_COLUMN.name;
  return {
    name: table.name,
    description: table.description,
    tableType: 'EXTERNAL_TABLE',
    parameters: {
      EXTERNAL: 'TRUE',
      classification: 'parquet',
      'projection.enabled': 'true',
      [`projection.${dt}.type`]: 'date',
      [`projection.${dt}.format`]: 'yyyy-MM-dd',
      [`projection.${dt}.range`]: `${location.firstDate},NOW`,
      [`projection.${dt}.interval`]: '1',
      [`projection.${dt}.interval.unit`]: 'DAYS',
      'storage.location.template': `${base}${dt}=\${${dt}}/`,
    },
    // The partition key is a DATE, as in the local engine's Hive partitioning: `dt = DATE '…'` works
    // the same in both, and the yyyy-MM-dd projection format is the date's own text form.
    partitionKeys: [glueColumn(PARTITION_COLUMN)],
    storageDescriptor: {
      columns: table.columns.map(glueColumn),
      location: base,
      inputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
      outputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
      serdeInfo: {
        serializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe',
        parameters: { 'serialization.format': '1' },
      },
    },
  };
}

/** Double-quoted Trino identifier. */
const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

export function latestViewName(table: Table): string {
  return `${table.name}_latest`;
}

/**
 * The latest published run's partition. The manifest is published last, so its newest date is a
 * run whose every table is complete; a backfill of an older date does not move the view. The same
 * text serves Athena (tables qualified by the Glue database) and the local engine (unqualified).
 */
export function latestViewSql(table: Table, database?: string): string {
  const name = (t: Table) => (database ? `${quote(database)}.${quote(t.name)}` : quote(t.name));
  const dt = quote(PARTITION_COLUMN.name);
  return `SELECT * FROM ${name(table)} WHERE ${dt} = (SELECT max(${dt}) FROM ${name(runManifest)})`;
}

/** Tables whose partitions are snapshots: each has a `<table>_latest` view. */
export const SNAPSHOT_TABLES: readonly Table[] = (TABLES as readonly Table[]).filter((table) => !table.history);

/**
 * An Athena view stored in Glue: Athena keeps the view's SQL and column types as base64 JSON in
 * `viewOriginalText` ("Presto view" format), the form `CREATE VIEW` in Athena itself produces.
 */
export function glueLatestViewInput(table: Table, database: string): GlueTableInput {
  const columns = [...table.columns, PARTITION_COLUMN];
  const view = {
    originalSql: latestViewSql(table, database),
    catalog: 'awsdatacatalog',
    schema: database,
    columns: columns.map((c) => ({ name: c.name, type: COLUMN_TYPES[c.type].trino })),
  };
  return {
    name: latestViewName(table),
    description: `${table.name} as of the latest published run.`,
    tableType: 'VIRTUAL_VIEW',
    parameters: { presto_view: 'true', comment: 'Presto View' },
    storageDescriptor: { columns: columns.map(glueColumn), serdeInfo: {} },
    viewOriginalText: `/* Presto View: ${Buffer.from(JSON.stringify(view)).toString('base64')} */`,
    viewExpandedText: '/* Presto View */',
  };
}

/** The table over runs' staged new orders, through which Athena sees a night's orders before they are published. */
export const STAGED_TRANSACTIONS = 'transactions_staged';
export const STAGED_RUN_COLUMN = 'run_id';

/** The Glue tables the run's own history queries read (`athena-remote.ts`): the published and the staged orders. */
export const HISTORY_QUERY_TABLES = [transactions.name, STAGED_TRANSACTIONS] as const;

/**
 * `transactions_staged`: the `transactions` columns, partitioned by run id. The projection is
 * `injected` (a query must name its run, `WHERE run_id = '…'`), so the table needs no partitions
 * and no change per run; its location is the run's work folder in staging (shared/staging.ts).
 */
export function glueStagedTableInput(location: TableLocation): GlueTableInput {
  const table = glueTableInput(transactions, location);
  const root = location.root.replace(/\/?$/, '/');
  return {
    ...table,
    name: STAGED_TRANSACTIONS,
    description: "A run's new orders before they are published (internal: the history Athena reads during a run).",
    parameters: {
      EXTERNAL: 'TRUE',
      classification: 'parquet',
      'projection.enabled': 'true',
      [`projection.${STAGED_RUN_COLUMN}.type`]: 'injected',
      'storage.location.template': `${root}${workFolder(`\${${STAGED_RUN_COLUMN}}`, transactions.name)}`,
    },
    partitionKeys: [{ name: STAGED_RUN_COLUMN, type: 'string', comment: 'The run whose new orders these are.' }],
    storageDescriptor: { ...table.storageDescriptor, location: `${root}${STAGING_ROOT}` },
  };
}

/** Every Glue table and view the product defines, in catalog order, then the staging table. */
export function glueCatalogInputs(location: TableLocation, database: string): GlueTableInput[] {
  return [
    ...(TABLES as readonly Table[]).map((table) => glueTableInput(table, location)),
    ...SNAPSHOT_TABLES.map((table) => glueLatestViewInput(table, database)),
    glueStagedTableInput(location),
  ];
}
