/** Expected purchases, revenue and CLV per segment and grade. */
import { col, FORECAST_HORIZON_DAYS } from '../catalog.js';
import { segmentForecastSql } from '../clv/forecast-sql.js';
import { GRADES, segmentNames } from './customer-scores.js';
import type { TableModel } from './model.js';

const forecastColumns = FORECAST_HORIZON_DAYS.flatMap((d) => [
  col(`expected_purchases_${d}d`, 'double', `Sum of the customers' expected purchases in the next ${d} days; NULL when no model converged.`, true),
  col(`expected_revenue_${d}d`, 'double', `Sum of expected purchases × expected order value over the next ${d} days, in the input currency; NULL when a model did not converge.`, true),
]);

export const segmentForecast = {
  name: 'segment_forecast',
  description: 'Expected purchases and revenue per segment and grade over the next 30, 90 and 365 days: one row per (segment, grade).',
  columns: [
    col('segment', 'string', 'Segment name.'),
    col('grade', 'string', 'Value grade A-E.'),
    col('customers', 'bigint', 'Customers in the segment and grade.'),
    ...forecastColumns,
    col('clv_total', 'double', 'Sum of the customers\' clv; NULL when a model did not converge.', true),
  ],
  orderBy: ['segment', 'grade'],
  key: ['segment', 'grade'],
  checks: { accepted: { segment: segmentNames, grade: () => GRADES } },
  build: (ctx) => segmentForecastSql(ctx.scored),
} as const satisfies TableModel;
