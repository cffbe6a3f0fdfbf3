/** Matured forecasts beside what happened. */
import { col, FORECAST_HORIZON_DAYS } from '../catalog.js';
import { shiftDate } from '../dates.js';
import { factColumn } from '../history/customer-facts.js';
import { forecastAccuracySql, type MaturedForecast } from '../kpi/value-sql.js';
import { emptyRelation } from '../sql/dialect.js';
import { customerScores } from './customer-scores.js';
import { earlierPartition, type TableModel } from './model.js';
import { segmentForecast } from './segment-forecast.js';

export const forecastAccuracy = {
  name: 'forecast_accuracy',
  description:
    'Forecasts whose period ended at the run date, beside what happened: one row per (forecast date, horizon, segment, grade), "ALL" for the total.',
  columns: [
    col('forecast_dt', 'date', 'Run date of the segment_forecast being checked (run date − horizon).'),
    col('horizon_days', 'int', 'Forecast horizon: 30, 90 or 365 days.'),
    col('segment', 'string', 'Segment at the forecast date, or "ALL".'),
    col('grade', 'string', 'Grade at the forecast date, or "ALL".'),
    col('customers', 'bigint', 'Customers in the segment and grade at the forecast date.'),
    col('expected_revenue', 'double', 'expected_revenue_<horizon>d of that forecast (purchases, in the input currency); NULL when no model converged.', true),
    col('actual_revenue', 'double', 'Value of the purchases (returns excluded, as the model forecasts purchases) those customers made in the horizon.'),
    col('error', 'double', 'expected_revenue − actual_revenue (positive: the model over-forecast).', true),
    col('relative_error', 'double', 'error / actual_revenue; NULL when actual_revenue is 0.', true),
  ],
  orderBy: ['horizon_days', 'segment', 'grade'],
  key: ['forecast_dt', 'horizon_days', 'segment', 'grade'],
  facts: () => ({ purchaseSpendDays: FORECAST_HORIZON_DAYS }),
  build: async (ctx): Promise<string> => {
    const matured: MaturedForecast[] = [];
    for (const horizonDays of FORECAST_HORIZON_DAYS) {
      const forecastDate = shiftDate(ctx.date, -horizonDays);
      const startScores = await earlierPartition(ctx, customerScores, forecastDate);
      const forecast = await earlierPartition(ctx, segmentForecast, forecastDate);
      if (!startScores || !forecast) continue;
      matured.push({
        horizonDays,
        forecastDate,
        scores: `SELECT customer_id, segment, grade FROM (${startScores}) AS s`,
        forecast,
        purchases: `SELECT customer_id, ${factColumn.purchaseSpend(horizonDays)} AS amount FROM (${ctx.customers}) AS f`,
      });
    }
    return forecastAccuracySql(matured) ?? emptyRelation(forecastAccuracy);
  },
} as const satisfies TableModel;
