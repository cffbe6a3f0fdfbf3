/**
 * Nightly check of the purchase-timing model itself, as lifetimes' calibration_and_holdout_data:
 * refit on the history up to (run date − holdout), predict each customer's repeat purchases in
 * the holdout, and compare with what they did, per calibration frequency bucket (0, 1, …, 6, 7+)
 * and overall. The overall relative bias beyond the configured bound raises the drift flag.
 */
import { dayNumber, shiftDate } from '../dates.js';
import type { SqlEngine } from '../engine/sql-engine.js';
import { dateLiteral, daysBetween, exactSum, literal } from '../sql/dialect.js';
import type { ClvConfig } from './score-customers.js';
import { fitFirstConverging } from './score-customers.js';
import { compressedFrequencySql, DAYS_PER_UNIT } from './summary-sql.js';
import type { FrequencySummary } from './types.js';

export interface ValidationConfig {
  /** Days at the end of the history held out from the refit. */
  holdout_days: number;
  /** Validate on run dates whose day number is a multiple of this (1 = every run). */
  every_n_days: number;
  /** Drift when |Σ predicted − Σ actual| / Σ actual over all customers exceeds this. */
  max_relative_bias: number;
}

const TOP_BUCKET = 7;

/** The calibration period's end: the run date minus the holdout. */
function calibrationEnd(runDate: string, holdoutDays: number): string {
  return shiftDate(runDate, -holdoutDays);
}

/** The calibration end of the validation due on the run date, if one is. */
export function validationCalibrationEnd(runDate: string, config: ValidationConfig): string | undefined {
  return validationDue(runDate, config.every_n_days) ? calibrationEnd(runDate, config.holdout_days) : undefined;
}

function validationDue(runDate: string, everyNDays: number): boolean {
  return dayNumber(runDate) % everyNDays === 0;
}

/** Table of the customers the validation compares: calibration summary and holdout purchases. */
export const VALIDATION_CUSTOMERS = 'validation_customers';

/** Table of the calibration fit the validation used (model, params as JSON, time unit): one row, or none. */
export const VALIDATION_FIT = 'validation_fit';

/** Table of the calibration cohort's repeat purchase days per day (day, repeat_purchases), for `model_tracking`. */
export const TRACKING_ACTUALS = 'tracking_actuals';

/** {@link TRACKING_ACTUALS} on a night without validation: no rows. */
export const NO_TRACKING_ACTUALS = 'SELECT CAST(NULL AS DATE) AS day, CAST(NULL AS BIGINT) AS repeat_purchases WHERE false';

/**
 * Per day up to the run date, the repeat purchase days of the customers whose first purchase is
 * on or before the calibration end (the validation's cohort; a purchase day after a customer's
 * first, as the models count x), from the history; undefined when no validation is due.
 */
export function trackingActualsSql(history: string, runDate: string, config: ClvConfig): string | undefined {
  const calibration = validationCalibrationEnd(runDate, config.validation);
  if (!calibration) return undefined;
  // Keep the columns as NO_TRACKING_ACTUALS has them.
  return `WITH days AS (
      SELECT customer_id, order_date FROM (${history}) AS h WHERE NOT is_return AND order_date <= ${dateLiteral(runDate)} GROUP BY customer_id, order_date),
    cohort AS (SELECT customer_id, min(order_date) AS first_day FROM days GROUP BY customer_id HAVING min(order_date) <= ${dateLiteral(calibration)})
    SELECT d.order_date AS day, count(*) AS repeat_purchases
    FROM days AS d JOIN cohort AS c ON c.customer_id = d.customer_id
    WHERE d.order_date > c.first_day
    GROUP BY d.order_date`;
}

/**
 * Per customer of the calibration period (history up to run date − holdout): x, t_x, age (T) there and
 * `actual`, the purchase days in the holdout, from the all-channel customer facts (computed with
 * {@link validationCalibrationEnd}). Undefined when validation is not due on the date.
 */
export function validationCustomersSql(facts: string, runDate: string, config: ClvConfig): string | undefined {
  const calibration = validationCalibrationEnd(runDate, config.validation);
  if (!calibration) return undefined;
  const days = DAYS_PER_UNIT[config.time_unit];
  return `SELECT customer_id, CAST(calibration_purchase_days - 1 AS INTEGER) AS x,
    CAST(${daysBetween('first_purchase_date', 'calibration_last_purchase_date')} AS DOUBLE) / ${days} AS t_x,
    CAST(${daysBetween('first_purchase_date', dateLiteral(calibration))} AS DOUBLE) / ${days} AS age,
    holdout_purchase_days AS actual
    FROM (${facts}) AS f
    WHERE calibration_purchase_days > 0`;
}

/**
 * A relation with the `model_validation` table's columns from {@link VALIDATION_CUSTOMERS}; none
 * when no model can be fitted on the calibration period (e.g. the history is shorter than the holdout).
 */
export async function validateModel(engine: SqlEngine, runDate: string, config: ClvConfig): Promise<string | undefined> {
  const { holdout_days: holdoutDays, max_relative_bias: maxBias } = config.validation;
  const calibration = calibrationEnd(runDate, holdoutDays);
  const unit = config.time_unit;
  const frequency = (await engine.queryNumbers(compressedFrequencySql(VALIDATION_CUSTOMERS))) as unknown as FrequencySummary;
  const { fits, chosen } = frequency.x.length
    ? fitFirstConverging(frequency, config.models, { penalizer: config.penalizer }, unit)
    : { fits: [], chosen: undefined };
  const model = fits.at(-1)?.model ?? 'none';
  await engine.run(`CREATE OR REPLACE TEMP TABLE ${VALIDATION_FIT} (model VARCHAR, params VARCHAR, time_unit VARCHAR)`);
  if (!chosen) return undefined;
  await engine.run(`INSERT INTO ${VALIDATION_FIT} VALUES (${literal(chosen.name)}, ${literal(JSON.stringify(chosen.params))}, ${literal(unit)})`);
  await engine.run(`CREATE TEMP TABLE validation_predictions (x DOUBLE, t_x DOUBLE, T DOUBLE, predicted DOUBLE)`);
  const { x, tx, T } = frequency;
  const predicted = chosen.model.conditionalExpectedPurchases(chosen.params, holdoutDays / DAYS_PER_UNIT[unit], x, tx, T);
  await engine.insertNumbers('validation_predictions', { x, tx, T, predicted });
  const bucket = `CASE WHEN c.x >= ${TOP_BUCKET} THEN '${TOP_BUCKET}+' ELSE CAST(c.x AS VARCHAR) END`;
  return `WITH per_bucket AS (
      SELECT coalesce(${bucket}, 'all') AS frequency_bucket, GROUPING(${bucket}) AS is_total,
        count(*) AS customers,
        ${exactSum('p.predicted')} AS predicted_total,
        CAST(sum(c.actual) AS DOUBLE) AS actual_total,
        ${exactSum('abs(p.predicted - c.actual)')} AS absolute_error
      FROM ${VALIDATION_CUSTOMERS} AS c
      JOIN validation_predictions AS p ON p.x = c.x AND p.t_x = c.t_x AND p.T = c.age
      GROUP BY GROUPING SETS ((${bucket}), ())
    ),
    overall AS (SELECT abs(predicted_total - actual_total) / nullif(actual_total, 0) AS bias FROM per_bucket WHERE is_total = 1)
    SELECT '${model}' AS model, ${dateLiteral(calibration)} AS calibration_end, ${holdoutDays} AS holdout_days,
      frequency_bucket, customers,
      predicted_total / customers AS predicted_mean, actual_total / customers AS actual_mean,
      absolute_error / customers AS mae,
      (predicted_total - actual_total) / nullif(actual_total, 0) AS relative_bias,
      coalesce((SELECT bias FROM overall) > ${maxBias}, false) AS drift
    FROM per_bucket`;
}
