/** The run's own record, published last. */
import { col, type RowOf } from '../catalog.js';
import { configHash } from '../config.js';
import { valuesRelation } from '../sql/dialect.js';
import type { TableModel } from './model.js';

export const runManifest = {
  name: 'run_manifest',
  description: 'One row per published run: what was read and how it ended. Written last, after every other table.',
  columns: [
    col('run_id', 'string', 'Unique id of the run.'),
    col('status', 'string', '"succeeded", or "empty_extract" when the extract held no usable rows.'),
    col('files_read', 'int', 'Extract files read.'),
    col('rows_read', 'bigint', 'Input rows seen (plus one per file that could not be read at all).'),
    col('rows_accepted', 'bigint', 'Rows that became part of a new order in transactions.'),
    col('rows_rejected', 'bigint', 'Rows written to rejects.'),
    col('rows_duplicate', 'bigint', 'Rows whose order id was already seen (this extract or an earlier day).'),
    col('orders_added', 'bigint', 'Orders added to transactions for this date.'),
    col('customers_scored', 'bigint', 'Rows written to customer_scores.'),
    col('config_hash', 'string', 'SHA-256 of the effective configuration that shapes results (first 16 hex digits; engine and shard settings left out).'),
    col('input_files', 'string', 'Lineage: the extract files read, as a JSON array of {file, bytes, etag} (S3 ETag; locally a weak tag of size and modification time).'),
    col('started_at', 'timestamp', 'Run start (UTC).'),
    col('finished_at', 'timestamp', 'Run end, before the manifest is published (UTC).'),
  ],
  orderBy: ['run_id'],
  describesRun: true,
  key: ['run_id'],
  checks: {
    accepted: { status: () => ['succeeded', 'empty_extract'] },
    rules: { every_row_in_one_place: 'rows_read = rows_accepted + rows_rejected + rows_duplicate' },
  },
  build: (ctx): string => {
    const { run } = ctx;
    return valuesRelation(runManifest, [
      {
        run_id: run.runId,
        status: run.status,
        files_read: run.counts.filesRead,
        rows_read: run.counts.rowsRead,
        rows_accepted: run.counts.rowsAccepted,
        rows_rejected: run.counts.rowsRejected,
        rows_duplicate: run.counts.rowsDuplicate,
        orders_added: run.counts.ordersAdded,
        customers_scored: run.customersScored,
        config_hash: configHash(ctx.config),
        input_files: JSON.stringify(run.extract.map(({ key, bytes, etag }) => ({ file: key, bytes, etag }))),
        started_at: run.startedAt,
        finished_at: ctx.now().toISOString(),
      } satisfies RowOf<typeof runManifest>,
    ]);
  },
} as const satisfies TableModel;
