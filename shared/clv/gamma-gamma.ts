/**
 * Gamma-Gamma model of monetary value (Fader, Hardie & Lee 2005, "RFM and CLV: Using Iso-value
 * Curves for Customer Base Analysis", JMR 42(4); Fader & Hardie 2013, "The Gamma-Gamma Model of
 * Monetary Value", http://brucehardie.com/notes/025/).
 *
 * A customer's transaction values are Gamma(p, ν) (shape p, rate ν) with ν ~ Gamma(q, v) across
 * customers. For a customer with x repeat purchases of mean value z̄ the likelihood is
 *
 *   L(p, q, v | x, z̄) = Γ(px + q) / (Γ(px) Γ(q)) · v^q · z̄^(px−1) · x^(px) / (v + x z̄)^(px+q).
 *
 * Fitted by maximum likelihood on log p, log q, log v (weighted over a compressed `SpendSummary`)
 * with the BFGS minimiser of `optimize.ts` and the analytic gradient.
 */
import { performance } from 'node:perf_hooks';
import { fitLogParameters } from './fit.js';
import { digamma, lgamma } from './special.js';
import type { FitOptions, FitResult, SpendSummary } from './types.js';

export interface GammaGammaParams {
  p: number;
  q: number;
  v: number;
}

/**
 * Groups identical (x, mean spend) pairs: one row per distinct pair with the number of customers
 * having it as `weight`. Rows come out sorted by x, then mean spend.
 */
export function compressSpend(x: ArrayLike<number>, meanSpend: ArrayLike<number>): SpendSummary {
  const n = x.length;
  if (meanSpend.length !== n) throw new RangeError(`compressSpend: x has ${n} values, meanSpend ${meanSpend.length}`);
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((i, j) => x[i]! - x[j]! || meanSpend[i]! - meanSpend[j]!);
  const ox: number[] = [];
  const om: number[] = [];
  const ow: number[] = [];
  for (let k = 0; k < n; k++) {
    const i = order[k]!;
    const last = ox.length - 1;
    if (last >= 0 && ox[last] === x[i] && om[last] === meanSpend[i]) ow[last] = ow[last]! + 1;
    else {
      ox.push(x[i]!);
      om.push(meanSpend[i]!);
      ow.push(1);
    }
  }
  return { x: Float64Array.from(ox), meanSpend: Float64Array.from(om), weight: Float64Array.from(ow) };
}

/**
 * Expected mean transaction value of a customer with x repeat purchases of mean value z̄
 * (FHL 2005 "RFM and CLV", eq. 3; Fader & Hardie 2013, eq. 5):
 *
 *   E[Z | p, q, v, x, z̄] = p (v + x z̄) / (p x + q − 1),
 *
 * a weighted average of the population mean p v / (q − 1) and the customer's own z̄. With x = 0 it
 * is the population mean. Requires q > 1 (the population mean is infinite otherwise): returns NaN
 * for q ≤ 1 when p x + q − 1 ≤ 0.
 */
export function expectedOrderValue(params: GammaGammaParams, x: number, meanSpend: number): number {
  const { p, q, v } = params;
  if (x === 0) return q > 1 ? (p * v) / (q - 1) : NaN;
  const denom = p * x + q - 1;
  return denom > 0 ? (p * (v + x * meanSpend)) / denom : NaN;
}

/** Vectorised `expectedOrderValue`. */
export function expectedOrderValues(params: GammaGammaParams, x: ArrayLike<number>, meanSpend: ArrayLike<number>): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = expectedOrderValue(params, x[i]!, meanSpend[i]!);
  return out;
}

/** Distinct values of `values` and, per element, the index of its value in that list. */
function indexDistinct(values: Float64Array): { distinct: Float64Array; index: Uint32Array } {
  const map = new Map<number, number>();
  const index = new Uint32Array(values.length);
  const distinct: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    let k = map.get(v);
    if (k === undefined) {
      k = distinct.length;
      distinct.push(v);
      map.set(v, k);
    }
    index[i] = k;
  }
  return { distinct: Float64Array.from(distinct), index };
}

interface PreparedSpend {
  n: number;
  weight: Float64Array;
  totalWeight: number;
  x: Float64Array;
  logMean: Float64Array;
  logX: Float64Array;
  meanSpend: Float64Array;
  xs: { distinct: Float64Array; index: Uint32Array };
}

function prepare(data: SpendSummary): PreparedSpend {
  const n = data.x.length;
  if (data.meanSpend.length !== n || data.weight.length !== n) {
    throw new RangeError('SpendSummary: x, meanSpend and weight must have the same length');
  }
  // Rows with weight 0 carry no information; drop them so they cannot poison the sums.
  const keep: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = data.x[i]!;
    const m = data.meanSpend[i]!;
    const w = data.weight[i]!;
    if (!(Number.isFinite(w) && w >= 0)) throw new RangeError(`SpendSummary row ${i}: weight must be finite and >= 0 (got ${w})`);
    if (w === 0) continue;
    if (!(Number.isFinite(x) && x > 0)) throw new RangeError(`SpendSummary row ${i}: x must be > 0 (got ${x}); the model is for repeat customers`);
    if (!(Number.isFinite(m) && m > 0)) throw new RangeError(`SpendSummary row ${i}: meanSpend must be > 0 (got ${m})`);
    keep.push(i);
  }
  const k = keep.length;
  const x = new Float64Array(k);
  const meanSpend = new Float64Array(k);
  const weight = new Float64Array(k);
  const logMean = new Float64Array(k);
  const logX = new Float64Array(k);
  let totalWeight = 0;
  keep.forEach((i, j) => {
    x[j] = data.x[i]!;
    meanSpend[j] = data.meanSpend[i]!;
    weight[j] = data.weight[i]!;
    logMean[j] = Math.log(meanSpend[j]!);
    logX[j] = Math.log(x[j]!);
    totalWeight += weight[j]!;
  });
  return { n: k, weight, totalWeight, x, logMean, logX, meanSpend, xs: indexDistinct(x) };
}

/**
 * Weighted log-likelihood Σ wᵢ ℓᵢ at (p, q, v) and, when `grad` is given, its gradient with respect
 * to (log p, log q, log v) written into `grad`.
 */
function logLikelihood(d: PreparedSpend, p: number, q: number, v: number, grad?: Float64Array): number {
  const { distinct, index } = d.xs;
  // Terms that depend on the row only through x: lnΓ(px+q) − lnΓ(px) and their digammas.
  const m = distinct.length;
  const lg = new Float64Array(m);
  const dgSum = new Float64Array(m); // ψ(px+q)
  const dgPx = new Float64Array(m); // ψ(px)
  for (let k = 0; k < m; k++) {
    const px = p * distinct[k]!;
    lg[k] = lgamma(px + q) - lgamma(px);
    if (grad) {
      dgSum[k] = digamma(px + q);
      dgPx[k] = digamma(px);
    }
  }
  const lgq = lgamma(q);
  const logV = Math.log(v);
  const dgq = grad ? digamma(q) : 0;
  let ll = 0;
  let gp = 0;
  let gq = 0;
  let gv = 0;
  for (let i = 0; i < d.n; i++) {
    const k = index[i]!;
    const x = d.x[i]!;
    const w = d.weight[i]!;
    const px = p * x;
    const denom = v + x * d.meanSpend[i]!;
    const logDenom = Math.log(denom);
    ll += w * (lg[k]! - lgq + q * logV + (px - 1) * d.logMean[i]! + px * d.logX[i]! - (px + q) * logDenom);
    if (grad) {
      // ∂ℓ/∂p = x [ψ(px+q) − ψ(px) + ln z̄ + ln x − ln(v + x z̄)]
      gp += w * x * (dgSum[k]! - dgPx[k]! + d.logMean[i]! + d.logX[i]! - logDenom);
      // ∂ℓ/∂q = ψ(px+q) − ψ(q) + ln v − ln(v + x z̄)
      gq += w * (dgSum[k]! - dgq + logV - logDenom);
      // ∂ℓ/∂v = q/v − (px+q)/(v + x z̄)
      gv += w * (q / v - (px + q) / denom);
    }
  }
  if (grad) {
    grad[0] = p * gp;
    grad[1] = q * gq;
    grad[2] = v * gv;
  }
  return ll;
}

/**
 * Weighted log-likelihood of `data` at `params` (sum over customers) and, optionally, its gradient
 * with respect to (log p, log q, log v). Exposed for tests and diagnostics.
 */
export function gammaGammaLogLikelihood(params: GammaGammaParams, data: SpendSummary, gradient?: Float64Array): number {
  return logLikelihood(prepare(data), params.p, params.q, params.v, gradient);
}

/**
 * Fits the Gamma-Gamma model by maximum likelihood. The objective is the weighted *mean* negative
 * log-likelihood plus `penalizer · Σ (log θ)²`; `tolerance` (default 1e-6) bounds its gradient
 * norm with respect to the log-parameters. Throws `RangeError` on invalid rows (x ≤ 0, mean spend
 * ≤ 0, negative weights) or when there is no data; a failed optimisation is reported through
 * `converged = false` and `message`, not thrown.
 */
export function fitGammaGamma(data: SpendSummary, options: FitOptions = {}): FitResult<GammaGammaParams> {
  const startedAt = performance.now();
  const d = prepare(data);
  // Start: p = 1, q = 2 and v such that the population mean p v / (q − 1) is the weighted mean z̄.
  let meanZ = 0;
  for (let i = 0; i < d.n; i++) meanZ += d.weight[i]! * d.meanSpend[i]!;
  const start = [0, Math.log(2), Math.log(meanZ / d.totalWeight)];
  return fitLogParameters<GammaGammaParams>('fitGammaGamma', ['p', 'q', 'v'], start, ({ p, q, v }, gradient) => logLikelihood(d, p, q, v, gradient), { totalWeight: d.totalWeight, rows: d.n }, options, startedAt);
}
