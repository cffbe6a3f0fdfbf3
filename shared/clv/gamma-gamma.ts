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
import { groupRows, KeyIndex } from './frequency-data.js';
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
  const g = groupRows([x, meanSpend]);
  return { x: g.columns[0]!, meanSpend: g.columns[1]!, weight: g.weight };
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

interface PreparedSpend {
  n: number;
  totalWeight: number;
  /** Per distinct x (a group): x, the group's total weight, and its rows' range in the arrays below. */
  gx: Float64Array;
  gWeight: Float64Array;
  gStart: Uint32Array;
  /** Rows ordered by group. */
  meanSpend: Float64Array;
  weight: Float64Array;
  /** Σ w x (ln z̄ + ln x) and Σ w ln z̄ over all rows: the parts of ln L linear in p and constant. */
  sumXLog: number;
  sumLogMean: number;
}

function prepare(data: SpendSummary): PreparedSpend {
  const n = data.x.length;
  if (data.meanSpend.length !== n || data.weight.length !== n) {
    throw new RangeError('SpendSummary: x, meanSpend and weight must have the same length');
  }
  // Rows with weight 0 carry no information; drop them so they cannot poison the sums.
  let k = 0;
  for (let i = 0; i < n; i++) {
    const x = data.x[i]!;
    const m = data.meanSpend[i]!;
    const w = data.weight[i]!;
    if (!(Number.isFinite(w) && w >= 0)) throw new RangeError(`SpendSummary row ${i}: weight must be finite and >= 0 (got ${w})`);
    if (w === 0) continue;
    if (!(Number.isFinite(x) && x > 0)) throw new RangeError(`SpendSummary row ${i}: x must be > 0 (got ${x}); the model is for repeat customers`);
    if (!(Number.isFinite(m) && m > 0)) throw new RangeError(`SpendSummary row ${i}: meanSpend must be > 0 (got ${m})`);
    k++;
  }
  // Group the kept rows by x (stable counting sort on the index of their x).
  const table = new KeyIndex(64);
  const group = new Uint32Array(n);
  for (let i = 0; i < n; i++) if (data.weight[i]! !== 0) group[i] = table.id(data.x[i]!);
  const g = table.size;
  const gx = table.first.slice(0, g);
  const gStart = new Uint32Array(g + 1);
  for (let i = 0; i < n; i++) if (data.weight[i]! !== 0) gStart[group[i]! + 1]!++;
  for (let j = 0; j < g; j++) gStart[j + 1] = gStart[j + 1]! + gStart[j]!;
  const fill = gStart.slice(0, g);
  const meanSpend = new Float64Array(k);
  const weight = new Float64Array(k);
  const gWeight = new Float64Array(g);
  let totalWeight = 0;
  let sumXLog = 0;
  let sumLogMean = 0;
  for (let i = 0; i < n; i++) {
    const w = data.weight[i]!;
    if (w === 0) continue;
    const j = group[i]!;
    const at = fill[j]!++;
    const x = data.x[i]!;
    const m = data.meanSpend[i]!;
    meanSpend[at] = m;
    weight[at] = w;
    gWeight[j] = gWeight[j]! + w;
    totalWeight += w;
    const logMean = Math.log(m);
    sumXLog += w * x * (logMean + Math.log(x));
    sumLogMean += w * logMean;
  }
  return { n: k, totalWeight, gx, gWeight, gStart, meanSpend, weight, sumXLog, sumLogMean };
}

/**
 * Weighted log-likelihood Σ wᵢ ℓᵢ at (p, q, v) and, when `grad` is given, its gradient with respect
 * to (log p, log q, log v) written into `grad`.
 *
 * ℓ = lnΓ(px+q) − lnΓ(px) − lnΓ(q) + q ln v + (px−1) ln z̄ + px ln x − (px+q) ln(v + x z̄):
 * the terms in x only are computed once per distinct x, the ln z̄ and ln x terms are the constants
 * of `prepare`, and per row only ln(v + x z̄) and 1/(v + x z̄) remain, summed per distinct x (the
 * logs of unit-weight rows as the log of their running product, flushed before it leaves the
 * double range: a division and a multiplication per row instead of a log).
 *   ∂ℓ/∂p = x [ψ(px+q) − ψ(px) + ln z̄ + ln x − ln(v + x z̄)]
 *   ∂ℓ/∂q = ψ(px+q) − ψ(q) + ln v − ln(v + x z̄)
 *   ∂ℓ/∂v = q/v − (px+q)/(v + x z̄)
 */
function logLikelihood(d: PreparedSpend, p: number, q: number, v: number, grad?: Float64Array): number {
  const lgq = lgamma(q);
  const logV = Math.log(v);
  const dgq = grad ? digamma(q) : 0;
  const W = d.totalWeight;
  let ll = W * (q * logV - lgq) + p * d.sumXLog - d.sumLogMean;
  let gp = d.sumXLog;
  let gq = W * (logV - dgq);
  let gv = (W * q) / v;
  const meanSpend = d.meanSpend;
  const weight = d.weight;
  for (let j = 0; j < d.gx.length; j++) {
    const x = d.gx[j]!;
    const wj = d.gWeight[j]!;
    const px = p * x;
    // Σ w ln(v + x z̄) and Σ w/(v + x z̄) over the group.
    let sLog = 0;
    let prod = 1;
    let sInv = 0;
    const end = d.gStart[j + 1]!;
    for (let i = d.gStart[j]!; i < end; i++) {
      const w = weight[i]!;
      const denom = v + x * meanSpend[i]!;
      if (w === 1) {
        prod *= denom;
        if (!(prod < 1e280 && prod > 1e-280)) {
          sLog += Math.log(prod);
          prod = 1;
        }
        if (grad) sInv += 1 / denom;
      } else {
        sLog += w * Math.log(denom);
        if (grad) sInv += w / denom;
      }
    }
    sLog += Math.log(prod);
    ll += wj * (lgamma(px + q) - lgamma(px)) - (px + q) * sLog;
    if (grad) {
      const dgSum = digamma(px + q);
      gp += wj * x * (dgSum - digamma(px)) - x * sLog;
      gq += wj * dgSum - sLog;
      gv -= (px + q) * sInv;
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
  for (let i = 0; i < d.n; i++) meanZ += d.weight[i]! * d.meanSpend[i]!; // any order
  const start = [0, Math.log(2), Math.log(meanZ / d.totalWeight)];
  return fitLogParameters<GammaGammaParams>('fitGammaGamma', ['p', 'q', 'v'], start, ({ p, q, v }, gradient) => logLikelihood(d, p, q, v, gradient), { totalWeight: d.totalWeight, rows: d.n }, options, startedAt);
}
