/**
 * The nightly CLV step, on the per-customer summary of the history (SQL, {@link CLV_SUMMARY_TABLE}):
 * fit a purchase-timing model (BG/NBD by default, falling back along `clv.models`) and Gamma-Gamma
 * on the compressed summary (TypeScript), describe each fit for the `model_fit` table, and score
 * every customer (here in one process; `shard-files.ts` scores shards anywhere). A fit that does
 * not converge is reported and never used: the next model is tried, and when none converges the
 * predictions are left NULL.
 */
import type { ModelFitRow } from '../tables/model-fit.js';
import { FORECAST_HORIZON_DAYS } from '../catalog.js';
import type { SqlEngine } from '../engine/sql-engine.js';
import { expectedOrderValues, fitGammaGamma } from './gamma-gamma.js';
import { FREQUENCY_SCORE_COLUMNS, populationOrderValue, predictFrequency, type FittedClv } from './shards.js';
import { FREQUENCY_MODELS, type FrequencyModel, type FrequencyModelName } from './models.js';
import { compressedFrequencySql, DAYS_PER_UNIT, type TimeUnit } from './summary-sql.js';
import type { ValidationConfig } from './validate.js';
import type { FitOptions, FitResult, FrequencySummary, SpendSummary } from './types.js';

export interface ClvConfig {
  /** Purchase-timing models in order of preference: the first whose fit converges is used. */
  models: readonly FrequencyModelName[];
  time_unit: TimeUnit;
  penalizer: number;
  horizon_months: number;
  monthly_discount_rate: number;
  margin: number;
  shards: number;
  validation: ValidationConfig;
}



/** Temp table the step leaves behind: one row per customer with its CLV predictions. */
export const CLV_SCORES_TABLE = 'clv_scores';

/** A view `name` of the RFM scores (temp table `rfm`) with each customer's CLV predictions: customer_scores as published. */
export function scoredViewSql(name: string, rfm: string): string {
  return `CREATE TEMP VIEW ${name} AS SELECT * FROM ${rfm} AS s LEFT JOIN ${CLV_SCORES_TABLE} AS c USING (customer_id)`;
}

/** A converged purchase-timing model's E[X(t)] of a new customer per forecast horizon; NULL otherwise. */
function newCustomerExpectations(unit: TimeUnit, fit: FitResult<object> | Error, model?: FrequencyModel) {
  const params = model && !(fit instanceof Error) && fit.converged ? fit.params : undefined;
  const expected = (days: number) => (params ? model!.expectedPurchasesNewCustomer(params, days / DAYS_PER_UNIT[unit]) : null);
  return Object.fromEntries(FORECAST_HORIZON_DAYS.map((d) => [`expected_purchases_new_customer_${d}d`, expected(d)])) as Pick<
    ModelFitRow,
    `expected_purchases_new_customer_${(typeof FORECAST_HORIZON_DAYS)[number]}d`
  >;
}

function describeFit(model: string, unit: TimeUnit, fit: FitResult<object> | Error, rows: number, frequencyModel?: FrequencyModel): ModelFitRow {
  const expected = newCustomerExpectations(unit, fit, frequencyModel);
  if (fit instanceof Error) {
    return { model, time_unit: unit, params: '{}', log_likelihood: null, n_customers: 0, n_distinct_rows: rows, converged: false, iterations: 0, seconds: 0, message: fit.message, ...expected };
  }
  return {
    ...expected,
    model,
    time_unit: unit,
    params: JSON.stringify(fit.params),
    log_likelihood: fit.logLikelihood,
    n_customers: fit.nCustomers,
    n_distinct_rows: fit.nDistinctRows,
    converged: fit.converged,
    iterations: fit.iterations,
    seconds: fit.seconds,
    message: fit.message,
  };
}

/** Runs `fit`, turning a refusal (no data, bad rows) into a reported failure. */
function attempt<T>(fit: () => FitResult<T>): FitResult<T> | Error {
  try {
    return fit();
  } catch (error) {
    return error as Error;
  }
}

/**
 * Fits the purchase-timing models in order until one converges (the fallback rule); every attempt
 * is described for `model_fit`. `registry` is replaceable for tests.
 */
export function fitFirstConverging(
  frequency: FrequencySummary,
  names: readonly string[],
  options: FitOptions,
  unit: TimeUnit,
  registry: Record<string, FrequencyModel> = FREQUENCY_MODELS,
): { fits: ModelFitRow[]; chosen?: { name: FrequencyModelName; model: FrequencyModel; params: object } } {
  const fits: ModelFitRow[] = [];
  // Without any repeat purchase the likelihood peaks at the boundary (a purchase rate of zero):
  // an optimiser "converges" there, but the parameters mean nothing, so no model is fitted.
  const repeats = frequency.x.some((x, i) => x > 0 && frequency.weight[i]! > 0);
  for (const name of names) {
    const model = registry[name]!;
    const fit = repeats
      ? attempt<object>(() => model.fit(frequency, options))
      : new Error('no repeat purchases in the history yet: purchase-timing models cannot be fitted');
    fits.push(describeFit(name, unit, fit, frequency.x.length, model));
    if (!(fit instanceof Error) && fit.converged) return { fits, chosen: { name: name as FrequencyModelName, model, params: fit.params } };
  }
  return { fits };
}

/** Table of the per-customer summary the models are fitted on (customerSummarySql's rows) … */
export const CLV_SUMMARY_TABLE = 'clv_summary';
/** … and of its compression (compressedFrequencySql's rows), made for the fit and read again by the scoring. */
const COMPRESSED_TABLE = 'clv_compressed';

/** What the models are fitted on: the frequency summary compressed and the repeat customers' spend. */
export interface ClvInputs {
  frequency: FrequencySummary;
  spend: SpendSummary;
}

/** Reads the model inputs from {@link CLV_SUMMARY_TABLE}, keeping the compression for {@link scoreInEngine}. */
export async function readClvInputs(engine: SqlEngine): Promise<ClvInputs> {
  // Customers sharing (x, t_x, T) are fitted and scored once, with a weight.
  await engine.run(`CREATE OR REPLACE TEMP TABLE ${COMPRESSED_TABLE} AS ${compressedFrequencySql(CLV_SUMMARY_TABLE)}`);
  const frequency = (await engine.queryNumbers(`SELECT * FROM ${COMPRESSED_TABLE} ORDER BY x, tx, T`)) as unknown as FrequencySummary;
  const spend = (await engine.queryNumbers(`SELECT CAST(x AS DOUBLE) AS x, mean_repeat_value AS meanSpend, CAST(count(*) AS DOUBLE) AS weight
    FROM ${CLV_SUMMARY_TABLE} WHERE x > 0 GROUP BY x, mean_repeat_value ORDER BY x, mean_repeat_value`)) as unknown as SpendSummary;
  return { frequency, spend };
}

/**
 * Fits the purchase-timing models (first converging) and Gamma-Gamma: the parameters every
 * customer is then scored with, and a description of each fit.
 */
export function fitClv({ frequency, spend }: ClvInputs, config: ClvConfig): { fits: ModelFitRow[]; fitted: FittedClv } {
  const unit = config.time_unit;
  const { fits, chosen } = fitFirstConverging(frequency, config.models, { penalizer: config.penalizer }, unit);

  // Gamma-Gamma models positive spend: it is fitted on repeat customers whose mean repeat spend is
  // above zero (free orders exist in real data, e.g. CDNOW), and predicts for every repeat customer.
  const positive = spend.meanSpend.map((m) => (m > 0 ? 1 : 0));
  const spendFitted: SpendSummary = {
    x: spend.x.filter((_, i) => positive[i]),
    meanSpend: spend.meanSpend.filter((_, i) => positive[i]),
    weight: spend.weight.filter((_, i) => positive[i]),
  };
  const gammaGamma = attempt(() => fitGammaGamma(spendFitted, { penalizer: config.penalizer }));
  const spendConverged = !(gammaGamma instanceof Error) && gammaGamma.converged;

  const fitted: FittedClv = {
    timeUnit: unit,
    ...(chosen ? { frequency: { model: chosen.name, params: chosen.params } } : {}),
    ...(spendConverged ? { spend: gammaGamma.params } : {}),
    horizonMonths: config.horizon_months,
    monthlyDiscountRate: config.monthly_discount_rate,
    margin: config.margin,
  };
  return { fits: [...fits, describeFit('gamma_gamma', unit, gammaGamma, spendFitted.x.length)], fitted };
}

/**
 * Creates {@link CLV_SCORES_TABLE} (customer_id, p_alive, p_purchase_30d, expected_purchases_30d/90d/365d,
 * expected_order_value, discounted_purchases, clv) for every customer of {@link CLV_SUMMARY_TABLE},
 * in one process: each distinct summary is predicted once and joined back to its customers. After
 * {@link readClvInputs} in the same engine (it reads the compression made there).
 */
export async function scoreInEngine(engine: SqlEngine, fitted: FittedClv): Promise<void> {
  const frequency = (await engine.queryNumbers(`SELECT * FROM ${COMPRESSED_TABLE} ORDER BY x, tx, T`)) as unknown as FrequencySummary;
  const spend = (await engine.queryNumbers(`SELECT DISTINCT CAST(x AS DOUBLE) AS x, mean_repeat_value AS meanSpend
    FROM ${CLV_SUMMARY_TABLE} WHERE x > 0`)) as unknown as Pick<SpendSummary, 'x' | 'meanSpend'>;
  // In one batch: predictions for the distinct summaries, joined back to every customer.
  await engine.run(`CREATE TEMP TABLE clv_frequency (x DOUBLE, t_x DOUBLE, T DOUBLE, ${FREQUENCY_SCORE_COLUMNS.map((c) => `${c} DOUBLE`).join(', ')})`);
  const predicted = predictFrequency(fitted, frequency.x, frequency.tx, frequency.T);
  // The appender fills columns by position: in the table's order.
  if (predicted) await engine.insertNumbers('clv_frequency', { x: frequency.x, tx: frequency.tx, T: frequency.T, ...Object.fromEntries(FREQUENCY_SCORE_COLUMNS.map((c) => [c, predicted[c]!])) });
  await engine.run(`CREATE TEMP TABLE clv_spend (x DOUBLE, mean_repeat_value DOUBLE, expected_order_value DOUBLE)`);
  let newCustomerValue = 'NULL';
  if (fitted.spend) {
    await engine.insertNumbers('clv_spend', { x: spend.x, meanSpend: spend.meanSpend, value: expectedOrderValues(fitted.spend, spend.x, spend.meanSpend) });
    const population = populationOrderValue(fitted.spend);
    if (Number.isFinite(population)) newCustomerValue = String(population);
  }
  // CLV = discounted expected purchases × expected order value × margin (value.ts's definition).
  await engine.run(`CREATE TEMP TABLE ${CLV_SCORES_TABLE} AS
    SELECT *, discounted_purchases * expected_order_value * ${fitted.margin} AS clv FROM (
    SELECT s.customer_id, ${FREQUENCY_SCORE_COLUMNS.map((c) => `f.${c}`).join(', ')},
      CASE WHEN s.x = 0 THEN ${newCustomerValue} ELSE v.expected_order_value END AS expected_order_value
    FROM ${CLV_SUMMARY_TABLE} AS s
    LEFT JOIN clv_frequency AS f ON f.x = s.x AND f.t_x = s.t_x AND f.T = s.age
    LEFT JOIN clv_spend AS v ON v.x = s.x AND v.mean_repeat_value = s.mean_repeat_value)`);
}
