/**
 * Does the purchase-timing model track what happened? CLVTools' tracking plot as a table: per day
 * of the validation's calibration and holdout periods, the calibration cohort's actual repeat
 * purchase days and what the model fitted on the calibration period expects of them.
 */
import { col } from '../catalog.js';
import { FREQUENCY_MODELS, type FrequencyModelName } from '../clv/models.js';
import { DAYS_PER_UNIT, type TimeUnit } from '../clv/summary-sql.js';
import { TRACKING_ACTUALS, validationCalibrationEnd, VALIDATION_FIT } from '../clv/validate.js';
import { dayNumber, shiftDate } from '../dates.js';
import { dateLiteral, emptyRelation, valuesRelation } from '../sql/dialect.js';
import type { TableModel } from './model.js';

const PERIODS = ['calibration', 'holdout'];

export const modelTracking = {
  name: 'model_tracking',
  description:
    "The purchase-timing model over time (CLVTools' tracking plot): per day from the history's first purchase to the run date, the repeat purchase days of the customers who bought by the validation's calibration end, actual and as the model fitted on the calibration period expects them (the sum of each customer's E[X(t)] since their first purchase). Written on the nights model_validation runs.",
  columns: [
    col('day', 'date', 'Calendar day.'),
    col('period', 'string', '"calibration" (up to calibration_end, the data of the fit) or "holdout" (after it: a forecast).'),
    col('model', 'string', 'Model the calibration fit used (as model_validation).'),
    col('calibration_end', 'date', 'Last day of the calibration period.'),
    col('actual_repeat', 'bigint', 'Repeat purchase days that day (a customer\'s purchase day after their first).'),
    col('expected_repeat', 'double', 'What the model expects that day.'),
    col('actual_cumulative', 'bigint', 'Repeat purchase days up to the day.'),
    col('expected_cumulative', 'double', 'Expected repeat purchase days up to the day.'),
  ],
  orderBy: ['day'],
  key: ['day'],
  checks: { accepted: { period: () => PERIODS } },
  build: async (ctx): Promise<string> => {
    const calibrationEnd = validationCalibrationEnd(ctx.date, ctx.config.clv.validation);
    // After model_validation (TABLES' order), which leaves its fit behind when it made one.
    const [fit] = calibrationEnd ? await ctx.engine.query<{ model: FrequencyModelName; params: string; time_unit: TimeUnit }>(`SELECT * FROM ${VALIDATION_FIT}`) : [];
    if (!calibrationEnd || !fit) return emptyRelation(modelTracking);
    const cohorts = await ctx.engine.query<{ first: string; customers: number }>(`SELECT CAST(first_purchase_date AS VARCHAR) AS first, CAST(count(*) AS DOUBLE) AS customers
      FROM (${ctx.customers}) AS f WHERE first_purchase_date <= ${dateLiteral(calibrationEnd)} GROUP BY first_purchase_date`);
    const actuals = new Map(
      (await ctx.engine.query<{ day: string; n: number }>(`SELECT CAST(day AS VARCHAR) AS day, CAST(repeat_purchases AS DOUBLE) AS n FROM ${TRACKING_ACTUALS}`)).map((a) => [a.day, a.n]),
    );
    if (cohorts.length === 0) return emptyRelation(modelTracking);
    // E[X(t)] of a customer a given number of days after their first purchase, once per age; each
    // day's expectation sums it over the first-purchase days before it (a convolution).
    const model = FREQUENCY_MODELS[fit.model];
    const params = JSON.parse(fit.params) as object;
    const firsts = cohorts.map((c) => dayNumber(c.first));
    const start = Math.min(...firsts);
    const days = dayNumber(ctx.date) - start + 1;
    const byAge = Float64Array.from({ length: days }, (_, age) => model.expectedPurchasesNewCustomer(params, age / DAYS_PER_UNIT[fit.time_unit]));
    const rows = [];
    let [actualCumulative, previous] = [0, 0];
    for (let d = 0; d < days; d++) {
      const day = shiftDate(ctx.date, d - days + 1);
      let expected = 0;
      cohorts.forEach((c, i) => {
        const age = d - (firsts[i]! - start);
        if (age >= 0) expected += c.customers * byAge[age]!;
      });
      const actual = actuals.get(day) ?? 0;
      actualCumulative += actual;
      rows.push({
        day,
        period: day <= calibrationEnd ? 'calibration' : 'holdout',
        model: fit.model,
        calibration_end: calibrationEnd,
        actual_repeat: actual,
        expected_repeat: expected - previous,
        actual_cumulative: actualCumulative,
        expected_cumulative: expected,
      });
      previous = expected;
    }
    return valuesRelation(modelTracking, rows);
  },
} as const satisfies TableModel;
