import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bgNbdLogLikelihood, compressFrequency } from '../shared/clv/bgnbd.js';
import {
  conditionalExpectedPurchases,
  expectedPurchasesNewCustomer,
  fitMbgNbd,
  mbgNbdLogLikelihood,
  probabilityAlive,
  type MbgNbdParams,
} from '../shared/clv/mbgnbd.js';
import { lbeta, lgamma } from '../shared/clv/special.js';
import { cdnowSummary, ones } from './helpers.js';
import { betaMean } from './quadrature.js';
import { expectIterationLimit, expectLogGradientMatches, expectPenalizerShrinks, expectPredictionsBounded, histories, one, positive, simulateRepeatBuying } from './model-checks.js';

const PARAMS = ['r', 'alpha', 'a', 'b'] as const;

/** lifetimes' reference for ModifiedBetaGeoFitter on CDNOW ("close to BTYDplus"), 3 decimals. */
const LIFETIMES: MbgNbdParams = { r: 0.525, alpha: 6.183, a: 0.891, b: 1.614 };

/**
 * The two parts of one customer's likelihood from the model's definition: given λ and p, the
 * customer is alive at T with probability (1−p)^(x+1) (x+1 purchases survived, the first one
 * included) and died right after the purchase at t_x with probability p(1−p)^x:
 *   L(λ, p) = λ^x [(1−p)^(x+1) e^−λT + p (1−p)^x e^−λt_x].
 * λ ~ Gamma(r, α) is integrated in closed form (E[λ^x e^−λτ] = Γ(r+x)/Γ(r) α^r (α+τ)^−(r+x)), p by
 * quadrature — no Beta-function algebra shared with the implementation.
 */
function likelihoodParts(params: MbgNbdParams, x: number, tx: number, T: number): { alive: number; dead: number } {
  const { r, alpha, a, b } = params;
  const lam = (tau: number): number => Math.exp(lgamma(r + x) - lgamma(r) + r * Math.log(alpha) - (r + x) * Math.log(alpha + tau));
  return {
    alive: lam(T) * betaMean((p) => (1 - p) ** (x + 1), a, b),
    dead: lam(tx) * betaMean((p) => p * (1 - p) ** x, a, b),
  };
}

/**
 * E[purchases in (0, t]] of a customer alive at time 0 who drops out after each purchase with a
 * known p, averaged over λ ~ Gamma(r, α) in closed form: (1/p)[1 − (α/(α+pt))^r].
 */
const aliveGivenP = (r: number, alpha: number, t: number) => (p: number): number =>
  p === 0 ? (r * t) / alpha : -Math.expm1(-r * Math.log1p((p * t) / alpha)) / p;

describe('MBG/NBD fit on CDNOW', () => {
  const data = cdnowSummary();

  it('reproduces lifetimes / BTYDplus', () => {
    expect(data.x.length).toBe(2357);
    const fit = fitMbgNbd(compressFrequency(data.x, data.tx, data.T));
    expect(fit.converged).toBe(true);
    expect(fit.nCustomers).toBe(2357);
    // lifetimes' test_params_out_is_close_to_BTYDplus (same CDNOW summary file): r = 0.525,
    // α = 6.183, a = 0.891, b = 1.614 to 3 decimals.
    expect(fit.params.r).toBeCloseTo(LIFETIMES.r, 3);
    expect(fit.params.alpha).toBeCloseTo(LIFETIMES.alpha, 3);
    expect(fit.params.a).toBeCloseTo(LIFETIMES.a, 3);
    expect(fit.params.b).toBeCloseTo(LIFETIMES.b, 3);
    // No published log-likelihood to compare with (ours: −9582.13): the maximum must be at least as
    // good as the rounded reference point, and only just.
    const atReference = mbgNbdLogLikelihood(LIFETIMES, compressFrequency(data.x, data.tx, data.T));
    expect(fit.logLikelihood).toBeGreaterThan(atReference);
    expect(fit.logLikelihood - atReference).toBeLessThan(1e-3);
    expect(fit.logLikelihood).toBeCloseTo(-9582.13, 1);
  });

  it('compressed and uncompressed data give the same fit', () => {
    const compressed = compressFrequency(data.x, data.tx, data.T);
    const a = fitMbgNbd(compressed);
    const b = fitMbgNbd({ x: data.x, tx: data.tx, T: data.T, weight: ones(data.x.length) });
    expect(b.converged).toBe(true);
    expect(a.nDistinctRows).toBe(compressed.x.length);
    expect(b.nDistinctRows).toBe(2357);
    for (const k of ['r', 'alpha', 'a', 'b'] as const) expect(Math.abs(a.params[k] / b.params[k] - 1)).toBeLessThan(1e-6);
    expect(a.logLikelihood).toBeCloseTo(b.logLikelihood, 6);
  });

  it('analytic gradient matches central finite differences', () => {
    const summary = compressFrequency(data.x, data.tx, data.T);
    const points: MbgNbdParams[] = [LIFETIMES, { r: 1.7, alpha: 0.3, a: 3.1, b: 0.4 }, { r: 0.05, alpha: 60, a: 0.2, b: 12 }];
    expectLogGradientMatches((p, g) => mbgNbdLogLikelihood(p, summary, g), PARAMS, points);
  });

  it('a penalizer shrinks the log-parameters', () => {
    const summary = compressFrequency(data.x, data.tx, data.T);
    expectPenalizerShrinks((options) => fitMbgNbd(summary, options), PARAMS, 0.05);
  });

  it('reports converged = false when it runs out of iterations', () => {
    expectIterationLimit((options) => fitMbgNbd(compressFrequency(data.x, data.tx, data.T), options), 3);
  });
});

describe('MBG/NBD likelihood', () => {
  it('equals the model integrated by quadrature, for x = 0 and x > 0', () => {
    const cases: [MbgNbdParams, number, number, number][] = [
      [LIFETIMES, 0, 0, 38.86],
      [LIFETIMES, 2, 30.43, 38.86],
      [{ r: 1.3, alpha: 20, a: 2.5, b: 4 }, 7, 100, 365],
      [{ r: 0.5, alpha: 2, a: 0.4, b: 1.5 }, 1, 3, 3],
    ];
    for (const [p, x, tx, T] of cases) {
      const { alive, dead } = likelihoodParts(p, x, tx, T);
      expect(Math.abs(mbgNbdLogLikelihood(p, one(x, tx, T)) - Math.log(alive + dead))).toBeLessThan(1e-8);
    }
  });

  it('for x > 0 it is b/(a+b) times the BG/NBD likelihood with b + 1', () => {
    // p(1−p)^x = (1−p) · p(1−p)^(x−1): an MBG/NBD customer who survives the first purchase (prob.
    // 1−p, which turns Beta(a, b) into Beta(a, b+1)) is a BG/NBD customer.
    const p = { r: 0.7, alpha: 12, a: 1.8, b: 3.2 };
    const bg = { ...p, b: p.b + 1 };
    for (const [x, tx, T] of [
      [1, 5, 40],
      [4, 39, 40],
      [300, 3000, 3650],
    ] as const) {
      const expected = Math.log(p.b / (p.a + p.b)) + bgNbdLogLikelihood(bg, one(x, tx, T));
      expect(mbgNbdLogLikelihood(p, one(x, tx, T))).toBeCloseTo(expected, 9);
    }
    // x = 0: plus the customers who left at time 0 (probability a/(a+b)).
    const x0 = Math.log((p.b / (p.a + p.b)) * Math.exp(bgNbdLogLikelihood(bg, one(0, 0, 40))) + p.a / (p.a + p.b));
    expect(mbgNbdLogLikelihood(p, one(0, 0, 40))).toBeCloseTo(x0, 12);
    expect(lbeta(p.a, p.b + 1) - lbeta(p.a, p.b)).toBeCloseTo(Math.log(p.b / (p.a + p.b)), 12);
  });
});

describe('MBG/NBD simulation recovery', () => {
  it('recovers known parameters (in days) from 50,000 simulated customers', () => {
    // λ ~ Gamma(r, α), p ~ Beta(a, b); right after the first purchase (time 0) and after each repeat
    // purchase the customer drops out with probability p; observed for T ~ U{1..730} days.
    const truth = { r: 0.5, alpha: 40, a: 0.9, b: 1.6 };
    const { x, tx, T } = simulateRepeatBuying(truth, 50_000, 2, { dropAtFirstPurchase: true });
    const fit = fitMbgNbd(compressFrequency(x, tx, T));
    expect(fit.converged).toBe(true);
    // Over seeds 1–6 the estimates scatter by about ±7 % (r), ±5 % (α), ±6 % (a) and ±7 % (b).
    // Tolerances: 12 %, 12 %, 15 %, 15 %.
    expect(Math.abs(fit.params.r / truth.r - 1)).toBeLessThan(0.12);
    expect(Math.abs(fit.params.alpha / truth.alpha - 1)).toBeLessThan(0.12);
    expect(Math.abs(fit.params.a / truth.a - 1)).toBeLessThan(0.15);
    expect(Math.abs(fit.params.b / truth.b - 1)).toBeLessThan(0.15);
  });
});

describe('MBG/NBD predictions', () => {
  it('P(alive) matches the closed form and Bayes by quadrature, is < 1 for x = 0 and survives huge x', () => {
    const p = LIFETIMES;
    const byHand = (x: number, tx: number, T: number): number => 1 / (1 + (p.a / (p.b + x)) * ((p.alpha + T) / (p.alpha + tx)) ** (p.r + x));
    for (const [x, tx, T] of [
      [2, 30.43, 38.86],
      [0, 0, 38.86],
      [5, 10, 38.86],
    ] as const) {
      expect(probabilityAlive(p, x, tx, T)).toBeCloseTo(byHand(x, tx, T), 12);
      const { alive, dead } = likelihoodParts(p, x, tx, T);
      expect(probabilityAlive(p, x, tx, T)).toBeCloseTo(alive / (alive + dead), 8);
    }
    expect(probabilityAlive(p, 0, 0, 38.86)).toBeLessThan(1);
    expect(probabilityAlive(p, 0, 0, 0)).toBeCloseTo(1 / (1 + p.a / p.b), 12);
    expect(probabilityAlive(p, 1000, 10, 3650)).toBe(0);
    expect(probabilityAlive(p, 1000, 3650, 3650)).toBeCloseTo(1 / (1 + p.a / (p.b + 1000)), 12);
    const vec = probabilityAlive(p, Float64Array.of(2, 0), Float64Array.of(30.43, 0), Float64Array.of(38.86, 38.86));
    expect(vec).toBeInstanceOf(Float64Array);
    expect(vec[0]).toBeCloseTo(byHand(2, 30.43, 38.86), 12);
  });

  it('new-customer expectation agrees with quadrature over p, for a < 1 and a > 1', () => {
    // A new customer survives time 0 with probability 1−p and is then a BG/NBD customer.
    const cases: [MbgNbdParams, number][] = [
      [LIFETIMES, 39],
      [LIFETIMES, 78],
      [{ r: 1.3, alpha: 20, a: 2.5, b: 4 }, 365],
      [{ r: 0.5, alpha: 2, a: 0.4, b: 1.5 }, 10],
      [{ r: 0.5, alpha: 2, a: 0.2, b: 0.2 }, 10], // a + b < ½: BG/NBD's contiguous-relation path
    ];
    for (const [params, t] of cases) {
      const h = aliveGivenP(params.r, params.alpha, t);
      const quad = betaMean((q) => (1 - q) * h(q), params.a, params.b);
      expect(Math.abs(expectedPurchasesNewCustomer(params, t) / quad - 1)).toBeLessThan(1e-6);
      // lifetimes' closed form b/(a−1)·[1 − (α/(α+t))^r ₂F₁(r, b+1; a+b; t/(α+t))] is what this evaluates.
    }
    expect(expectedPurchasesNewCustomer(LIFETIMES, 0)).toBe(0);
    const vec = expectedPurchasesNewCustomer(LIFETIMES, [39, 78]);
    expect(vec[1]).toBeCloseTo(expectedPurchasesNewCustomer(LIFETIMES, 78), 12);
  });

  it('conditional expectation = P(alive) × expectation given alive, by quadrature over the posterior', () => {
    // Given alive at T with x repeat purchases: λ ~ Gamma(r+x, α+T), p ~ Beta(a, b+x+1).
    const params = { r: 0.7, alpha: 12, a: 1.8, b: 3.2 };
    for (const [x, tx, T, t] of [
      [3, 40, 100, 90],
      [0, 0, 50, 30],
      [12, 300, 365, 365],
    ] as const) {
      const quad = betaMean(aliveGivenP(params.r + x, params.alpha + T, t), params.a, params.b + x + 1);
      const expected = probabilityAlive(params, x, tx, T) * quad;
      expect(Math.abs(conditionalExpectedPurchases(params, t, x, tx, T) / expected - 1)).toBeLessThan(1e-6);
    }
    // The same against lifetimes' closed form at CDNOW-like values.
    const p = LIFETIMES;
    const [x, tx, T, t] = [2, 30.43, 38.86, 39];
    const zt = t / (p.alpha + T + t);
    const hyp = hyp2f1Series(p.r + x, p.b + x + 1, p.a + p.b + x, zt);
    const closed =
      (((p.a + p.b + x) / (p.a - 1)) * (1 - hyp * ((p.alpha + T) / (p.alpha + T + t)) ** (p.r + x))) /
      (1 + (p.a / (p.b + x)) * ((p.alpha + T) / (p.alpha + tx)) ** (p.r + x));
    expect(conditionalExpectedPurchases(p, t, x, tx, T)).toBeCloseTo(closed, 10);
  });

  it('is continuous through the removable singularity at a = 1', () => {
    const base = { r: 0.8, alpha: 10, b: 2.5 };
    const at = (a: number): number => conditionalExpectedPurchases({ ...base, a }, 90, 4, 60, 120);
    const mid = at(1);
    expect(Number.isFinite(mid)).toBe(true);
    expect(Math.abs(at(1 - 1e-3) / mid - 1)).toBeLessThan(1e-3);
    expect(Math.abs(at(1 + 1e-3) / mid - 1)).toBeLessThan(1e-3);
    expect(Math.abs(at(1 + 5e-5) / mid - 1)).toBeLessThan(1e-4);
    const p = { ...base, a: 1 };
    const quad = betaMean((q) => (1 - q) * aliveGivenP(p.r, p.alpha, 30)(q), p.a, p.b);
    expect(Math.abs(expectedPurchasesNewCustomer(p, 30) / quad - 1)).toBeLessThan(1e-6);
  });

  it('vectorised conditional expectations match the scalar version', () => {
    const x = Float64Array.of(0, 2, 2, 7, 1000);
    const tx = Float64Array.of(0, 30.43, 10, 38, 38.86);
    const T = Float64Array.of(38.86, 38.86, 38.86, 38.86, 38.86);
    const vec = conditionalExpectedPurchases(LIFETIMES, 39, x, tx, T);
    for (let i = 0; i < x.length; i++) expect(vec[i]).toBeCloseTo(conditionalExpectedPurchases(LIFETIMES, 39, x[i]!, tx[i]!, T[i]!), 12);
    expect(Array.from(conditionalExpectedPurchases(LIFETIMES, 0, x, tx, T))).toEqual([0, 0, 0, 0, 0]);
    expect(() => conditionalExpectedPurchases(LIFETIMES, 39, x, tx, Float64Array.of(1))).toThrow(RangeError);
  });

  it('property: P(alive) ∈ [0, 1]; expectations finite, ≥ 0 and non-decreasing in t, also at extremes', () => {
    const params = fc.record({ r: positive(0.01, 20), alpha: positive(0.01, 500), a: positive(0.05, 20), b: positive(0.05, 20) });
    expectPredictionsBounded(
      {
        probabilityAlive: (p, h) => probabilityAlive(p, h.x, h.tx, h.T),
        conditionalExpectedPurchases: (p, t, h) => conditionalExpectedPurchases(p, t, h.x, h.tx, h.T),
        expectedPurchasesNewCustomer,
      },
      params,
      histories(),
      (p, h) => expect(Number.isFinite(mbgNbdLogLikelihood(p, one(h.x, h.tx, h.T)))).toBe(true),
    );
  });

  it('rejects invalid rows', () => {
    expect(() => fitMbgNbd(one(1.5, 1, 2))).toThrow(/non-negative integer/);
    expect(() => fitMbgNbd(one(1, 3, 2))).toThrow(/tx <= T/);
    expect(() => fitMbgNbd({ ...one(1, 1, 2), weight: Float64Array.of(-1) })).toThrow(RangeError);
    expect(() => fitMbgNbd({ ...one(1, 1, 2), weight: Float64Array.of(0) })).toThrow(/no customers/);
  });
});

/** Plain power series of ₂F₁ (|z| small here), independent of `special.ts`. */
function hyp2f1Series(a: number, b: number, c: number, z: number): number {
  let term = 1;
  let sum = 1;
  for (let n = 0; n < 10_000 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
    term *= ((a + n) * (b + n) * z) / ((c + n) * (n + 1));
    sum += term;
  }
  return sum;
}
