/**
 * The purchase-timing models the nightly run can use, behind one shape, so the run can fall back
 * from one to the next when a fit does not converge.
 */
import * as bgnbd from './bgnbd.js';
import * as mbgnbd from './mbgnbd.js';
import * as paretoNbd from './pareto-nbd.js';
import type { FitOptions, FitResult, FrequencySummary } from './types.js';

export interface FrequencyModel {
  fit(data: FrequencySummary, options: FitOptions): FitResult<object>;
  probabilityAlive(params: object, x: ArrayLike<number>, tx: ArrayLike<number>, T: ArrayLike<number>): Float64Array;
  conditionalExpectedPurchases(params: object, t: number, x: ArrayLike<number>, tx: ArrayLike<number>, T: ArrayLike<number>): Float64Array;
  /** The same as a function of the horizon, for many horizons of the same customers. */
  conditionalExpectedPurchasesCurve(params: object, x: ArrayLike<number>, tx: ArrayLike<number>, T: ArrayLike<number>): (t: number) => Float64Array;
  /** P(at least one purchase in (T, T+t]). */
  probabilityOfPurchase(params: object, t: number, x: ArrayLike<number>, tx: ArrayLike<number>, T: ArrayLike<number>): Float64Array;
  /** Expected purchases of a newly acquired customer in (0, t]. */
  expectedPurchasesNewCustomer(params: object, t: number): number;
}

/** Model names as recorded in `model_fit.model`. */
export const FREQUENCY_MODELS = {
  bgnbd: {
    fit: bgnbd.fitBgNbd,
    probabilityAlive: (p, x, tx, T) => bgnbd.probabilityAlive(p as bgnbd.BgNbdParams, x, tx, T),
    conditionalExpectedPurchases: (p, t, x, tx, T) => bgnbd.conditionalExpectedPurchases(p as bgnbd.BgNbdParams, t, x, tx, T),
    conditionalExpectedPurchasesCurve: (p, x, tx, T) => bgnbd.conditionalExpectedPurchasesCurve(p as bgnbd.BgNbdParams, x, tx, T),
    probabilityOfPurchase: (p, t, x, tx, T) => bgnbd.probabilityOfPurchase(p as bgnbd.BgNbdParams, t, x, tx, T),
    expectedPurchasesNewCustomer: (p, t) => bgnbd.expectedPurchasesNewCustomer(p as bgnbd.BgNbdParams, t),
  },
  mbgnbd: {
    fit: mbgnbd.fitMbgNbd,
    probabilityAlive: (p, x, tx, T) => mbgnbd.probabilityAlive(p as mbgnbd.MbgNbdParams, x, tx, T),
    conditionalExpectedPurchases: (p, t, x, tx, T) => mbgnbd.conditionalExpectedPurchases(p as mbgnbd.MbgNbdParams, t, x, tx, T),
    conditionalExpectedPurchasesCurve: (p, x, tx, T) => (t) => mbgnbd.conditionalExpectedPurchases(p as mbgnbd.MbgNbdParams, t, x, tx, T),
    probabilityOfPurchase: (p, t, x, tx, T) => mbgnbd.probabilityOfPurchase(p as mbgnbd.MbgNbdParams, t, x, tx, T),
    expectedPurchasesNewCustomer: (p, t) => mbgnbd.expectedPurchasesNewCustomer(p as mbgnbd.MbgNbdParams, t),
  },
  pareto_nbd: {
    fit: paretoNbd.fitParetoNbd,
    probabilityAlive: (p, x, tx, T) => paretoNbd.probabilityAlive(p as paretoNbd.ParetoNbdParams, x, tx, T),
    conditionalExpectedPurchases: (p, t, x, tx, T) => paretoNbd.conditionalExpectedPurchases(p as paretoNbd.ParetoNbdParams, t, x, tx, T),
    conditionalExpectedPurchasesCurve: (p, x, tx, T) => (t) => paretoNbd.conditionalExpectedPurchases(p as paretoNbd.ParetoNbdParams, t, x, tx, T),
    probabilityOfPurchase: (p, t, x, tx, T) => paretoNbd.probabilityOfPurchase(p as paretoNbd.ParetoNbdParams, t, x, tx, T),
    expectedPurchasesNewCustomer: (p, t) => paretoNbd.expectedPurchasesNewCustomer(p as paretoNbd.ParetoNbdParams, t),
  },
} as const satisfies Record<string, FrequencyModel>;

export type FrequencyModelName = keyof typeof FREQUENCY_MODELS;
