/**
 * Revenue forecast per segment and grade (columns of `segment_forecast`) from a relation of
 * scored customers: the sums of each customer's expected purchases and expected revenue
 * (expected purchases × expected order value) over the next 30, 90 and 365 days, and of CLV.
 */
import { FORECAST_HORIZON_DAYS } from '../catalog.js';

export function segmentForecastSql(scored: string): string {
  const horizons = FORECAST_HORIZON_DAYS.map(
    (d) => `sum(expected_purchases_${d}d) AS expected_purchases_${d}d,
    sum(expected_purchases_${d}d * expected_order_value) AS expected_revenue_${d}d`,
  );
  return `SELECT segment, grade, count(*) AS customers,
    ${horizons.join(',\n    ')},
    sum(clv) AS clv_total
  FROM (${scored}) AS s
  GROUP BY segment, grade`;
}
