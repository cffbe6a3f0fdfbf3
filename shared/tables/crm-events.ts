/** The CRM messages' events: sends, deliveries, opens, clicks, unsubscribes, bounces, complaints. */
import { sourceKind } from '../ingest/kinds.js';
import { kindHistory } from './kind-history.js';

export const crmEvents = kindHistory(
  sourceKind('crm_events'),
  'crm_events',
  'Curated history of CRM message events (email, SMS, push, in-app …): one row per event_id, partitioned by the extract date that first delivered it.',
);
