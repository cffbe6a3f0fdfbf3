/**
 * Revenue forecast per segment and grade (columns of `segment_forecast`) from a relation of
 * scored customers: the sums of each customer's expected purchases and expected revenue
 * (expected purchases × expected order value) over the next 30, 90 and 365 days, and of CLV.
 */
import { FORECAST_HORIZON_DAYS } from '../catalog.js';
import { exactSum } from '../sql/dialect.js';

export function segmentForecastSql(scored: string): string {
  const horizons = FORECAST_HORIZON_DAYS.map(
    (d) => `${exactSum(`expected_purchases_${d}d`)} AS expected_purchases_${d}d,
    ${exactSum(`expected_purchases_${d}d * expected_order_value`)} AS expected_revenue_${d}d`,
  );
  return `SELECT segment, grade, count(*) AS customers,
    ${horizons.join(',\n    ')},
    ${exactSum('clv')} AS clv_total
  FROM (${scored}) AS s
  GROUP BY segment, grade`;
}
