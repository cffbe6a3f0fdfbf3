/** Every version of every customer profile the CRM platform delivered (the latest per customer is the current profile). */
import { sourceKind } from '../ingest/kinds.js';
import { kindHistory } from './kind-history.js';

export const customerProfiles = kindHistory(
  sourceKind('customers'),
  'customer_profiles',
  'Curated history of the CRM platform\'s customer profiles: one row per customer and updated_at, partitioned by the extract date that first delivered it.',
);
