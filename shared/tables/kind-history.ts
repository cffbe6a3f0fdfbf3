/**
 * The curated history of a CRM kind (its model files: customer-profiles.ts, crm-events.ts,
 * survey-responses.ts, crm-costs.ts): the kind's fields as declared in `shared/ingest/kinds.ts`,
 * typed, plus the file each row came from; one partition per delivery date holding the rows that
 * night added (repeats of a key seen before are duplicates, not rows).
 */
import { col, type Column } from '../catalog.js';
import { KIND_ROWS_RELATION } from '../ingest/ingest.js';
import type { SourceKind } from '../ingest/kinds.js';
import type { TableModel } from './model.js';

export function kindHistory(kind: SourceKind, name: string, description: string) {
  const rowId: Column[] = kind.key ? [] : [col('row_id', 'string', 'Row id: a hash of the row\'s fields and its occurrence number in the extract (the kind has no id of its own).')];
  return {
    name,
    description,
    source: kind.name,
    columns: [
      ...rowId,
      ...kind.fields.map((f): Column => ({ name: f.name, type: f.type, description: f.description, nullable: !f.required })),
      col('source_file', 'string', 'Extract file the row came from (relative to the source root).'),
    ],
    key: kind.key ?? ['row_id'],
    // Relations of it are in key order; each night's rows are written in the extract's own order,
    // as fixed as a sort and far cheaper (at 40M events, 30 s of sorting ids).
    orderBy: kind.key ?? ['row_id'],
    keepsBuildOrder: true,
    checks: {
      keyUniqueByBuild: 'the ingest deletes every repeat of a key within the extract and every key an earlier night holds (ingestKind in shared/ingest/ingest.ts), tested by the CRM kinds\' ingest and duplicate tests',
    },
    history: true,
    phase: 'ingest',
    build: () => KIND_ROWS_RELATION,
  } as const satisfies TableModel;
}
