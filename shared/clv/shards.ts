/**
 * Scoring customers with fitted CLV models, as a pure function of the fitted parameters and each
 * customer's summary, so that a base too large for one process can be split into shards scored
 * anywhere (worker threads, fanned-out Lambdas) and put back together.
 *
 * Every prediction is element-wise: a customer's scores depend on their own (x, t_x, T, mean spend)
 * and the parameters only, never on which other customers share the batch. So any sharding gives
 * the same numbers bit for bit as the single-process run, which scores distinct summaries (tests
 * hold both to that).
 */
import { FORECAST_HORIZON_DAYS } from '../catalog.js';
import { fnv1a32 } from '../holdout/assign.js';
import { expectedOrderValue, expectedOrderValues, type GammaGammaParams } from './gamma-gamma.js';
import { FREQUENCY_MODELS, type FrequencyModelName } from './models.js';
import { DAYS_PER_UNIT, type TimeUnit } from './summary-sql.js';
import { discountedExpectedPurchasesVector } from './value.js';

/** A month, for monthly CLV discounting (as lifetimes' customer_lifetime_value). */
const DAYS_PER_MONTH = 30;

/** Everything a shard needs besides its customers: serialisable, the same for every shard. */
export interface FittedClv {
  timeUnit: TimeUnit;
  /** The purchase-timing model that converged, if any. */
  frequency?: { model: FrequencyModelName; params: object };
  /** Gamma-Gamma parameters, when that fit converged. */
  spend?: GammaGammaParams;
  horizonMonths: number;
  monthlyDiscountRate: number;
  margin: number;
}

/** Per-customer inputs, as columns (x = repeat purchases, in the fit's time unit). */
export interface CustomerSummaries {
  x: Float64Array;
  tx: Float64Array;
  T: Float64Array;
  /** Mean value of the repeat purchases (ignored for customers without one). */
  meanRepeatValue: Float64Array;
}

/** How far ahead p_purchase_30d looks (days). */
export const PURCHASE_PROBABILITY_DAYS = 30;

/** The scores the purchase-timing model gives each distinct (x, t_x, T). */
export const FREQUENCY_SCORE_COLUMNS = [
  'p_alive',
  'p_purchase_30d',
  ...FORECAST_HORIZON_DAYS.map((d) => `expected_purchases_${d}d` as const),
  'discounted_purchases',
] as const;

export const SCORE_COLUMNS = [...FREQUENCY_SCORE_COLUMNS, 'expected_order_value', 'clv'] as const;
export type ScoreColumns = Record<(typeof SCORE_COLUMNS)[number], Float64Array>;

/** P(alive), expected purchases per horizon and the discounted purchases of the CLV horizon. */
export function predictFrequency(fitted: FittedClv, x: Float64Array, tx: Float64Array, T: Float64Array): Record<string, Float64Array> | undefined {
  if (!fitted.frequency) return undefined;
  const model = FREQUENCY_MODELS[fitted.frequency.model];
  const { params } = fitted.frequency;
  const unitDays = DAYS_PER_UNIT[fitted.timeUnit];
  const expectedBy = model.conditionalExpectedPurchasesCurve(params, x, tx, T);
  return {
    p_alive: model.probabilityAlive(params, x, tx, T),
    p_purchase_30d: model.probabilityOfPurchase(params, PURCHASE_PROBABILITY_DAYS / unitDays, x, tx, T),
    ...Object.fromEntries(FORECAST_HORIZON_DAYS.map((d) => [`expected_purchases_${d}d`, expectedBy(d / unitDays)])),
    discounted_purchases: discountedExpectedPurchasesVector(expectedBy, fitted.horizonMonths, fitted.monthlyDiscountRate, DAYS_PER_MONTH, unitDays, x.length),
  };
}

/** Value of the population's average order: what a customer without repeat purchases is expected to spend. */
export function populationOrderValue(spend: GammaGammaParams): number {
  return expectedOrderValue(spend, 0, 0);
}

/** Every score of every customer; NaN stands for NULL (no converged model). */
export function scoreSummaries(fitted: FittedClv, s: CustomerSummaries): ScoreColumns {
  const n = s.x.length;
  const missing = () => new Float64Array(n).fill(NaN);
  const frequency = predictFrequency(fitted, s.x, s.tx, s.T);
  const orderValue = missing();
  if (fitted.spend) {
    const repeat = expectedOrderValues(fitted.spend, s.x, s.meanRepeatValue);
    const population = populationOrderValue(fitted.spend);
    for (let i = 0; i < n; i++) orderValue[i] = s.x[i] === 0 ? (Number.isFinite(population) ? population : NaN) : repeat[i]!;
  }
  const discounted = frequency?.['discounted_purchases'] ?? missing();
  const clv = new Float64Array(n);
  // Multiplied in the same order as the nightly SQL: (discounted × order value) × margin.
  for (let i = 0; i < n; i++) clv[i] = discounted[i]! * orderValue[i]! * fitted.margin;
  return {
    p_alive: frequency?.['p_alive'] ?? missing(),
    p_purchase_30d: frequency?.['p_purchase_30d'] ?? missing(),
    ...(Object.fromEntries(FORECAST_HORIZON_DAYS.map((d) => [`expected_purchases_${d}d`, frequency?.[`expected_purchases_${d}d`] ?? missing()])) as Record<
      `expected_purchases_${(typeof FORECAST_HORIZON_DAYS)[number]}d`,
      Float64Array
    >),
    expected_order_value: orderValue,
    discounted_purchases: discounted,
    clv,
  };
}

/** The shard of a customer: a stable hash of the id (FNV-1a, as the holdout), so reruns shard alike. */
export function shardOf(customerId: string, shards: number): number {
  return fnv1a32(customerId) % shards;
}

/**
 * Splits the customers into `shards` by {@link shardOf}, scores each shard on its own (here one
 * after the other; a fan-out runs them in parallel) and puts the scores back in input order.
 */
export function scoreInShards(customerIds: readonly string[], summaries: CustomerSummaries, fitted: FittedClv, shards: number): ScoreColumns {
  const members: number[][] = Array.from({ length: shards }, () => []);
  customerIds.forEach((id, i) => members[shardOf(id, shards)]!.push(i));
  const out = Object.fromEntries(SCORE_COLUMNS.map((c) => [c, new Float64Array(customerIds.length)])) as ScoreColumns;
  for (const rows of members) {
    const pick = (column: Float64Array) => Float64Array.from(rows, (i) => column[i]!);
    const scores = scoreSummaries(fitted, { x: pick(summaries.x), tx: pick(summaries.tx), T: pick(summaries.T), meanRepeatValue: pick(summaries.meanRepeatValue) });
    for (const column of SCORE_COLUMNS) rows.forEach((row, k) => (out[column][row] = scores[column][k]!));
  }
  return out;
}
