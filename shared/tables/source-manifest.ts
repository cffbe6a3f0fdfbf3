/** Every source of the night and what became of its rows: the accounting that no row is lost. */
import { col } from '../catalog.js';
import { NIGHT_SOURCES } from '../ingest/ingest.js';
import { SOURCE_KINDS } from '../ingest/kinds.js';
import type { TableModel } from './model.js';

export const SOURCES = ['transactions', ...SOURCE_KINDS.map((k) => k.name)] as const;

export const sourceManifest = {
  name: 'source_manifest',
  description:
    'One row per source (transactions and each CRM kind) and night: files and rows read, and where every row went. A kind without files that night has zeros.',
  columns: [
    col('source', 'string', 'transactions, customers, crm_events, surveys or crm_costs.'),
    col('files_read', 'int', 'Extract files read for the source (0: none delivered that night).'),
    col('rows_read', 'bigint', 'Input rows seen (plus one per file that could not be read at all).'),
    col('rows_accepted', 'bigint', 'Rows that became part of the source\'s curated table.'),
    col('rows_rejected', 'bigint', 'Rows written to rejects.'),
    col('rows_duplicate', 'bigint', 'Rows whose key was already seen (this extract or an earlier night).'),
  ],
  key: ['source'],
  orderBy: ['source'],
  checks: {
    accepted: { source: () => SOURCES },
    rules: { every_row_in_one_place: 'rows_read = rows_accepted + rows_rejected + rows_duplicate' },
  },
  phase: 'ingest',
  build: () => `SELECT * FROM ${NIGHT_SOURCES}`,
} as const satisfies TableModel;
