/** What the CRM programme cost, by day, channel and campaign. */
import { sourceKind } from '../ingest/kinds.js';
import { kindHistory } from './kind-history.js';

export const crmCosts = kindHistory(
  sourceKind('crm_costs'),
  'crm_costs',
  'Curated history of CRM programme costs: one row per delivered cost row (row_id), partitioned by the extract date that first delivered it.',
);
