/**
 * Checks every maximum-likelihood model shares (BG/NBD, MBG/NBD, Pareto/NBD, BG/BB, Gamma-Gamma):
 * the analytic gradient, the penalizer, the iteration limit. Each model's test calls them with its
 * own log-likelihood and fit.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import type { FitOptions, FitResult, FrequencySummary } from '../shared/clv/types.js';
import { createRng } from '../shared/demo/generate.js';

type Params<K extends string> = Record<K, number>;

/** The summary of a single customer (weight 1). */
export const one = (x: number, tx: number, T: number): FrequencySummary => ({
  x: Float64Array.of(x),
  tx: Float64Array.of(tx),
  T: Float64Array.of(T),
  weight: Float64Array.of(1),
});

/**
 * The gradient with respect to the log-parameters equals central finite differences in log θ
 * (θ perturbed multiplicatively by e^±h), within `tolerance` relative to max(1, |fd|).
 */
export function expectLogGradientMatches<K extends string, P extends Params<K>>(
  logLikelihood: (params: P, gradient?: Float64Array) => number,
  names: readonly K[],
  points: readonly P[],
  { h = 1e-6, tolerance = 1e-5 } = {},
): void {
  for (const params of points) {
    const g = new Float64Array(names.length);
    logLikelihood(params, g);
    names.forEach((k, j) => {
      const up = logLikelihood({ ...params, [k]: params[k] * Math.exp(h) }, undefined);
      const dn = logLikelihood({ ...params, [k]: params[k] * Math.exp(-h) }, undefined);
      const fd = (up - dn) / (2 * h);
      expect(Math.abs(g[j]! - fd)).toBeLessThan(tolerance * Math.max(1, Math.abs(fd)));
    });
  }
}

/** A penalizer pulls the log-parameters towards 0 and costs likelihood; the penalized fit converges. */
export function expectPenalizerShrinks<K extends string, P extends Params<K>>(
  fit: (options: FitOptions) => FitResult<P>,
  names: readonly K[],
  penalizer: number,
): void {
  const plain = fit({});
  const pen = fit({ penalizer });
  expect(pen.converged).toBe(true);
  const norm = (p: P) => Math.hypot(...names.map((k) => Math.log(p[k])));
  expect(norm(pen.params)).toBeLessThan(norm(plain.params));
  expect(pen.logLikelihood).toBeLessThan(plain.logLikelihood);
}

/** Stopped by the iteration limit, a fit says so and does not claim convergence. */
export function expectIterationLimit(fit: (options: FitOptions) => FitResult<unknown>, maxIterations: number): void {
  const result = fit({ maxIterations });
  expect(result.converged).toBe(false);
  expect(result.message).toMatch(new RegExp(`maximum of ${maxIterations} iterations`));
}

/** A positive number spread evenly in log scale over [min, max]. */
export const positive = (min: number, max: number): fc.Arbitrary<number> =>
  fc.double({ min: Math.log(min), max: Math.log(max), noNaN: true }).map(Math.exp);

export interface History {
  x: number;
  tx: number;
  T: number;
}

/**
 * A customer history with the extremes over-represented (no purchase, 1000 purchases, T of 0 or ten
 * years, t_x at 0 or T). `txWithoutPurchases` keeps t_x when x = 0 (Pareto/NBD accepts it).
 */
export function histories({ txWithoutPurchases = false } = {}): fc.Arbitrary<History> {
  const x = fc.oneof(fc.constant(0), fc.constant(1), fc.constant(1000), fc.integer({ min: 0, max: 1000 }));
  const T = fc.oneof(fc.constant(0), fc.constant(3650), fc.double({ min: 0, max: 3650, noNaN: true }));
  const share = fc.oneof(fc.constant(1), fc.constant(0), fc.double({ min: 0, max: 1, noNaN: true }));
  return fc.tuple(x, T, share).map(([xi, Ti, frac]) => ({ x: xi, T: Ti, tx: xi === 0 && !txWithoutPurchases ? 0 : frac * Ti }));
}

/** A purchase-timing model's predictions for one customer. */
export interface Predictions<P> {
  probabilityAlive(params: P, h: History): number;
  conditionalExpectedPurchases(params: P, t: number, h: History): number;
  expectedPurchasesNewCustomer(params: P, t: number): number;
}

/**
 * Property: P(alive) ∈ [0, 1]; expected purchases finite, ≥ 0 and non-decreasing in t, for known
 * and new customers, over the whole parameter and history space; `also` adds a model's own checks.
 */
export function expectPredictionsBounded<P>(model: Predictions<P>, params: fc.Arbitrary<P>, history: fc.Arbitrary<History>, also?: (p: P, h: History) => void): void {
  fc.assert(
    fc.property(params, history, (p, h) => {
      const alive = model.probabilityAlive(p, h);
      expect(alive).toBeGreaterThanOrEqual(0);
      expect(alive).toBeLessThanOrEqual(1);
      let prev = 0;
      for (const t of [1, 30, 90, 365, 3650]) {
        const e = model.conditionalExpectedPurchases(p, t, h);
        expect(Number.isFinite(e)).toBe(true);
        expect(e).toBeGreaterThanOrEqual(0);
        expect(e).toBeGreaterThanOrEqual(prev * (1 - 1e-9));
        prev = e;
      }
      let prevNew = 0;
      for (const t of [1, 30, 365, 3650]) {
        const e = model.expectedPurchasesNewCustomer(p, t);
        expect(Number.isFinite(e)).toBe(true);
        expect(e).toBeGreaterThanOrEqual(prevNew * (1 - 1e-9));
        prevNew = e;
      }
      also?.(p, h);
    }),
    { numRuns: 300, seed: 20240601 },
  );
}

/**
 * `n` customers of the (M)BG/NBD generative story, observed for T ~ U{1..730} days: λ ~ Gamma(r, α),
 * p ~ Beta(a, b), Poisson purchases at rate λ, and after each repeat purchase a dropout with
 * probability p — with `dropAtFirstPurchase` (MBG/NBD) also right after the first one (time 0).
 */
export function simulateRepeatBuying(
  truth: { r: number; alpha: number; a: number; b: number },
  n: number,
  seed: number,
  { dropAtFirstPurchase = false } = {},
): { x: Float64Array; tx: Float64Array; T: Float64Array } {
  const rng = createRng(seed);
  const x = new Float64Array(n);
  const tx = new Float64Array(n);
  const T = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const Ti = 1 + Math.floor(rng.uniform() * 730);
    const lambda = rng.gamma(truth.r, truth.alpha);
    const p = rng.beta(truth.a, truth.b);
    let t = 0;
    let count = 0;
    let last = 0;
    if (!dropAtFirstPurchase || rng.uniform() >= p) {
      for (;;) {
        t += rng.exponential(lambda);
        if (t > Ti) break;
        count++;
        last = t;
        if (rng.uniform() < p) break;
      }
    }
    x[i] = count;
    tx[i] = last;
    T[i] = Ti;
  }
  return { x, tx, T };
}
