/** Every input row that could not be accepted, with the reason: written by the ingest. */
import { col } from '../catalog.js';
import { NIGHT_REJECTS } from '../ingest/ingest.js';
import type { TableModel } from './model.js';

export const rejects = {
  name: 'rejects',
  description:
    'Input rows that could not be accepted, with the reason: one row per rejected line, or per file that could not be read at all.',
  columns: [
    col('source', 'string', 'Which extract: transactions, or a CRM kind (customers, crm_events, surveys, crm_costs).'),
    col('source_file', 'string', 'Extract file (relative to the source root).'),
    col('source_line', 'bigint', 'Line (CSV, JSON Lines) or row (Parquet) in the file, 1-based; NULL for a whole-file problem.', true),
    col('reason', 'string', 'Why the row was rejected, naming the field and the bad value.'),
    col('raw', 'string', 'The raw text of the line (invalid bytes shown as U+FFFD), or the row as JSON.', true),
  ],
  orderBy: ['source', 'source_file', 'source_line', 'reason'],
  phase: 'ingest',
  build: () => `SELECT * FROM ${NIGHT_REJECTS}`,
} as const satisfies TableModel;
