/** Survey answers (NPS): the score each customer gave. */
import { sourceKind } from '../ingest/kinds.js';
import { kindHistory } from './kind-history.js';

export const surveyResponses = kindHistory(
  sourceKind('surveys'),
  'survey_responses',
  'Curated history of survey answers (likelihood to recommend, 0–10): one row per response_id, partitioned by the extract date that first delivered it.',
);
