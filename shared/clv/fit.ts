/**
 * Maximum likelihood on log-parameters, shared by every model: the parameters are positive, so the
 * optimiser works on their logs; the objective is the weighted mean negative log-likelihood (scale
 * free across data sizes) plus the optional L2 penalty; the result says whether it converged.
 */
import { performance } from 'node:perf_hooks';
import { addL2Penalty, minimize } from './optimize.js';
import type { FitOptions, FitResult } from './types.js';

/**
 * Fits parameters `names` (all positive) by maximising `logLikelihood`, which returns the weighted
 * log-likelihood and, when asked, writes its gradient with respect to the log-parameters.
 * `start` holds the log-parameters to start from; `sample` what the data holds (for the report).
 */
export function fitLogParameters<P extends { [K in keyof P]: number }>(
  model: string,
  names: readonly (keyof P & string)[],
  start: readonly number[],
  logLikelihood: (params: P, gradient?: Float64Array) => number,
  sample: { totalWeight: number; rows: number },
  options: FitOptions,
  startedAt = performance.now(),
): FitResult<P> {
  const W = sample.totalWeight;
  if (sample.rows === 0 || !(W > 0)) throw new RangeError(`${model}: no customers with positive weight`);
  const penalizer = options.penalizer ?? 0;
  const toParams = (theta: ArrayLike<number>) => Object.fromEntries(names.map((name, i) => [name, Math.exp(theta[i]!)])) as P;
  const g = new Float64Array(names.length);
  const result = minimize(
    (theta, grad) => {
      const ll = logLikelihood(toParams(theta), grad ? g : undefined);
      if (grad) for (let j = 0; j < names.length; j++) grad[j] = -g[j]! / W;
      return -ll / W + addL2Penalty(theta, penalizer, grad);
    },
    start,
    { gradientTolerance: options.tolerance ?? 1e-6, maxIterations: options.maxIterations ?? 500 },
  );
  const params = toParams(result.x);
  return {
    params,
    logLikelihood: logLikelihood(params),
    converged: result.converged,
    iterations: result.iterations,
    seconds: (performance.now() - startedAt) / 1000,
    nCustomers: W,
    nDistinctRows: sample.rows,
    message: `${result.message} (method ${result.method}, ${result.evaluations} evaluations)`,
  };
}
