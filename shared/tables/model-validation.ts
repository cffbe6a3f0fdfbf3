/** The purchase-timing model's calibration/holdout check. */
import { col } from '../catalog.js';
import { validateModel, validationCalibrationEnd, validationCustomersSql, VALIDATION_CUSTOMERS } from '../clv/validate.js';
import { emptyRelation } from '../sql/dialect.js';
import type { TableModel } from './model.js';

const BUCKETS = ['0', '1', '2', '3', '4', '5', '6', '7+', 'all'];

export const modelValidation = {
  name: 'model_validation',
  description:
    'Calibration/holdout check of the purchase-timing model: refit up to run date − holdout, predicted vs actual repeat purchases in the holdout, per calibration frequency bucket and overall ("all").',
  columns: [
    col('model', 'string', 'Model the check used (the first in clv.models whose calibration fit converged).'),
    col('calibration_end', 'date', 'Last day of the calibration period (run date − holdout_days).'),
    col('holdout_days', 'int', 'Length of the holdout period in days.'),
    col('frequency_bucket', 'string', 'Repeat purchases in the calibration period: "0".."6", "7+", or "all".'),
    col('customers', 'bigint', 'Customers in the bucket (first purchase by calibration_end).'),
    col('predicted_mean', 'double', 'Mean predicted repeat purchase days in the holdout.'),
    col('actual_mean', 'double', 'Mean actual purchase days in the holdout.'),
    col('mae', 'double', 'Mean absolute error per customer.'),
    col('relative_bias', 'double', '(predicted − actual) / actual over the bucket; NULL when actual is 0.', true),
    col('drift', 'boolean', 'True when the overall |relative bias| exceeds clv.validation.max_relative_bias (same on every row).'),
  ],
  orderBy: ['frequency_bucket'],
  key: ['frequency_bucket'],
  checks: { accepted: { frequency_bucket: () => BUCKETS } },
  facts: (config, date) => ({ calibrationEnd: validationCalibrationEnd(date, config.clv.validation) }),
  build: async (ctx): Promise<string> => {
    const validation = validationCustomersSql(ctx.customers, ctx.date, ctx.config.clv);
    if (validation) await ctx.engine.run(`CREATE TEMP TABLE ${VALIDATION_CUSTOMERS} AS ${validation}`);
    return (validation && (await validateModel(ctx.engine, ctx.date, ctx.config.clv))) || emptyRelation(modelValidation);
  },
} as const satisfies TableModel;
