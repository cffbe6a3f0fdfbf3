/** Size and value of each segment at the run date. */
import { col } from '../catalog.js';
import { segmentSummarySql } from '../rfm/rfm-sql.js';
import { segmentNames } from './customer-scores.js';
import type { TableModel } from './model.js';

export const segmentSummary = {
  name: 'segment_summary',
  description: 'One row per segment at the run date: size, value and average RFM.',
  columns: [
    col('segment', 'string', 'Segment name.'),
    col('customers', 'bigint', 'Customers in the segment.'),
    col('share_of_customers', 'double', 'customers / all scored customers.'),
    col('monetary_total', 'money', 'Sum of monetary (net spend) over the segment.'),
    col('share_of_monetary', 'double', 'monetary_total / net spend of all scored customers (NULL when that is 0).', true),
    col('avg_recency_days', 'double', 'Mean recency_days.'),
    col('avg_frequency', 'double', 'Mean frequency.'),
    col('avg_monetary', 'double', 'Mean monetary.'),
  ],
  orderBy: ['segment'],
  key: ['segment'],
  checks: { accepted: { segment: segmentNames } },
  build: (ctx) => segmentSummarySql(ctx.rfmScores),
} as const satisfies TableModel;
