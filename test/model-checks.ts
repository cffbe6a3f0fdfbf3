/**
 * Checks every maximum-likelihood model shares (BG/NBD, MBG/NBD, Pareto/NBD, BG/BB, Gamma-Gamma):
 * the analytic gradient, the penalizer, the iteration limit. Each model's test calls them with its
 * own log-likelihood and fit.
 */
import { expect } from 'vitest';
import type { FitOptions, FitResult } from '../shared/clv/types.js';

type Params<K extends string> = Record<K, number>;

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
