/** The CLV models fitted in the run. */
import { col, FORECAST_HORIZON_DAYS, type RowOf } from '../catalog.js';
import { valuesRelation } from '../sql/dialect.js';
import type { TableModel } from './model.js';

export const modelFit = {
  name: 'model_fit',
  description: 'One row per CLV model fitted in the run: parameters, fit quality and convergence.',
  columns: [
    col('model', 'string', 'Model: "bgnbd", "mbgnbd", "pareto_nbd" (purchase timing, tried in the configured order until one converges) or "gamma_gamma" (spend).'),
    col('time_unit', 'string', 'Time unit of the fit: "day" or "week".'),
    col('params', 'string', 'Fitted parameters as a JSON object, named as in the literature (r, alpha, a, b, s, beta; p, q, v).'),
    col('log_likelihood', 'double', 'Log-likelihood at the fitted parameters; NULL when the fit could not start.', true),
    col('n_customers', 'bigint', 'Customers the model was fitted on.'),
    col('n_distinct_rows', 'bigint', 'Distinct (x, t_x, T) or (x, mean spend) rows actually fitted, each with a weight.'),
    col('converged', 'boolean', 'Whether the optimiser met its gradient criterion; predictions are only made when true.'),
    col('iterations', 'int', 'Optimiser iterations.'),
    col('seconds', 'double', 'Wall time of the fit.'),
    col('message', 'string', 'Why the optimiser stopped, in words.'),
    ...FORECAST_HORIZON_DAYS.map((d) =>
      col(`expected_purchases_new_customer_${d}d`, 'double', `Repeat purchases a newly acquired customer is expected to make in the ${d} days after their first (E[X(${d} days)], a converged purchase-timing model; NULL otherwise): with the expected order value, what acquiring one is worth.`, true),
    ),
  ],
  orderBy: ['model'],
  describesRun: true,
  key: ['model'],
  build: (ctx): string => valuesRelation(modelFit, ctx.run.fits),
} as const satisfies TableModel;

/** One row of `model_fit`, as the fits produce it. */
export type ModelFitRow = RowOf<typeof modelFit>;
