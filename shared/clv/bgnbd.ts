/**
 * BG/NBD model (Fader, Hardie & Lee 2005, "'Counting Your Customers' the Easy Way: An Alternative
 * to the Pareto/NBD Model", Marketing Science 24(2), 275–284; log-likelihood in the numerically
 * stable form of Hardie's note 027, http://brucehardie.com/notes/027/).
 *
 * While active, a customer buys at Poisson rate λ ~ Gamma(r, α); after each purchase they drop out
 * with probability p ~ Beta(a, b). For a customer with x repeat purchases, the last at t_x, observed
 * for T (all in the model's time unit):
 *
 *   ln L = ln Γ(r+x) − ln Γ(r) + r ln α + ln B(a, b+x) − ln B(a, b)
 *          + ln[ (α+T)^−(r+x) + δ_{x>0} · a/(b+x−1) · (α+t_x)^−(r+x) ].
 *
 * Fitted by maximum likelihood on (log r, log α, log a, log b) with the analytic gradient and the
 * BFGS minimiser of `optimize.ts`, on a compressed `FrequencySummary`.
 */
import { performance } from 'node:perf_hooks';
import { fitLogParameters } from './fit.js';
import { digamma, lbeta, lgamma, logHyp2f1, logSumExp } from './special.js';
import { broadcast, prepareFrequency as prepare, startingAlpha, type PreparedFrequency } from './frequency-data.js';
import type { FitOptions, FitResult, FrequencySummary } from './types.js';

export { compressFrequency } from './frequency-data.js';

export interface BgNbdParams {
  r: number;
  alpha: number;
  a: number;
  b: number;
}

// ---------------------------------------------------------------------------
// Log-likelihood and gradient
// ---------------------------------------------------------------------------

/**
 * Weighted log-likelihood Σ wᵢ ln Lᵢ and, when `grad` is given, its gradient with respect to
 * (log r, log α, log a, log b).
 *
 * With A₁ = (α+T)^−(r+x), A₂ = δ_{x>0} a/(b+x−1) (α+t_x)^−(r+x), ω₁ = A₁/(A₁+A₂), ω₂ = 1 − ω₁:
 *   ∂/∂r = ψ(r+x) − ψ(r) + ln α − ω₁ ln(α+T) − ω₂ ln(α+t_x)
 *   ∂/∂α = r/α − (r+x) [ω₁/(α+T) + ω₂/(α+t_x)]
 *   ∂/∂a = ψ(a+b) − ψ(a+b+x) + ω₂/a
 *   ∂/∂b = ψ(b+x) − ψ(b) + ψ(a+b) − ψ(a+b+x) − ω₂/(b+x−1)
 * (using ∂ ln B(u, w)/∂u = ψ(u) − ψ(u+w)); the log-parameter gradient multiplies each by the parameter.
 */
function logLikelihood(d: PreparedFrequency, params: BgNbdParams, grad?: Float64Array): number {
  const { r, alpha, a, b } = params;
  const m = d.xs.length;
  // Per distinct x: the part of ln L not depending on t_x or T, ln(a/(b+x−1)), and digammas.
  const base = new Float64Array(m);
  const logRatio = new Float64Array(m);
  const dR = new Float64Array(m);
  const dA = new Float64Array(m);
  const dB = new Float64Array(m);
  const lgr = lgamma(r);
  const lbab = lbeta(a, b);
  const logAlpha = Math.log(alpha);
  const logA = Math.log(a);
  const psiR = grad ? digamma(r) : 0;
  const psiAB = grad ? digamma(a + b) : 0;
  const psiB = grad ? digamma(b) : 0;
  for (let k = 0; k < m; k++) {
    const x = d.xs[k]!;
    base[k] = lgamma(r + x) - lgr + r * logAlpha + lbeta(a, b + x) - lbab;
    logRatio[k] = x > 0 ? logA - Math.log(b + x - 1) : -Infinity;
    if (grad) {
      const psiABX = digamma(a + b + x);
      dR[k] = digamma(r + x) - psiR + logAlpha;
      dA[k] = psiAB - psiABX;
      dB[k] = digamma(b + x) - psiB + psiAB - psiABX;
    }
  }
  let ll = 0;
  let gr = 0;
  let gAlpha = 0;
  let ga = 0;
  let gb = 0;
  const pair = [0, 0];
  for (let i = 0; i < d.n; i++) {
    const k = d.xIndex[i]!;
    const x = d.x[i]!;
    const w = d.weight[i]!;
    const rx = r + x;
    const logAT = Math.log(alpha + d.T[i]!);
    const l1 = -rx * logAT;
    let lse: number;
    let w2 = 0;
    let logATx = 0;
    if (x > 0) {
      logATx = Math.log(alpha + d.tx[i]!);
      const l2 = logRatio[k]! - rx * logATx;
      pair[0] = l1;
      pair[1] = l2;
      lse = logSumExp(pair);
      w2 = Math.exp(l2 - lse);
    } else lse = l1;
    ll += w * (base[k]! + lse);
    if (grad) {
      const w1 = 1 - w2;
      gr += w * (dR[k]! - w1 * logAT - w2 * logATx);
      gAlpha += w * (r / alpha - rx * (w1 / (alpha + d.T[i]!) + (x > 0 ? w2 / (alpha + d.tx[i]!) : 0)));
      ga += w * (dA[k]! + (x > 0 ? w2 / a : 0));
      gb += w * (dB[k]! - (x > 0 ? w2 / (b + x - 1) : 0));
    }
  }
  if (grad) {
    grad[0] = r * gr;
    grad[1] = alpha * gAlpha;
    grad[2] = a * ga;
    grad[3] = b * gb;
  }
  return ll;
}

/**
 * Weighted log-likelihood of `data` at `params` (sum over customers) and, optionally, its gradient
 * with respect to (log r, log α, log a, log b). Exposed for tests and diagnostics.
 */
export function bgNbdLogLikelihood(params: BgNbdParams, data: FrequencySummary, gradient?: Float64Array): number {
  return logLikelihood(prepare(data), params, gradient);
}

/**
 * Fits the BG/NBD model by maximum likelihood. The objective is the weighted *mean* negative
 * log-likelihood plus `penalizer · Σ (log θ)²` over θ = (r, α, a, b); `tolerance` (default 1e-6)
 * bounds its gradient norm with respect to the log-parameters. Throws `RangeError` on invalid rows
 * (non-integer or negative x, t_x outside [0, T], negative weights) or when there is no data; a
 * failed optimisation is reported through `converged = false` and `message`, not thrown.
 *
 * Start: r = 1, a = 1, b = 1 and α = r · mean(T) / max(mean(x), 0.01) (so the implied purchase rate
 * r/α matches the observed one in whatever time unit the data is in).
 */
export function fitBgNbd(data: FrequencySummary, options: FitOptions = {}): FitResult<BgNbdParams> {
  const startedAt = performance.now();
  const d = prepare(data);
  const start = [0, Math.log(startingAlpha(d)), 0, 0];
  return fitLogParameters<BgNbdParams>('fitBgNbd', ['r', 'alpha', 'a', 'b'], start, (params, gradient) => logLikelihood(d, params, gradient), { totalWeight: d.totalWeight, rows: d.n }, options, startedAt);
}

// ---------------------------------------------------------------------------
// Predictions
// ---------------------------------------------------------------------------

/** ln(1 + eᶻ) without overflow. */
function softplus(z: number): number {
  return z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
}

/**
 * ln of the "dead" odds: ln[a/(b+x−1) · ((α+T)/(α+t_x))^(r+x)] for x > 0 (−∞ for x = 0), so that
 * P(alive) = 1 / (1 + e^this).
 */
function logDeadOdds(params: BgNbdParams, x: number, tx: number, T: number): number {
  if (x === 0) return -Infinity;
  const { r, alpha, a, b } = params;
  return Math.log(a) - Math.log(b + x - 1) + (r + x) * (Math.log(alpha + T) - Math.log(alpha + tx));
}

function probabilityAliveScalar(params: BgNbdParams, x: number, tx: number, T: number): number {
  const z = logDeadOdds(params, x, tx, T);
  return z === -Infinity ? 1 : Math.exp(-softplus(z));
}

/**
 * P(alive | x, t_x, T) = 1 / (1 + δ_{x>0} · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x)) (FHL 2005, eq. 11),
 * computed in logs (no overflow for large x). Scalar, or vectorised over arrays (returns a
 * Float64Array).
 */
export function probabilityAlive(params: BgNbdParams, x: number, tx: number, T: number): number;
export function probabilityAlive(params: BgNbdParams, x: ArrayLike<number>, tx: ArrayLike<number>, T: ArrayLike<number>): Float64Array;
export function probabilityAlive(
  params: BgNbdParams,
  x: number | ArrayLike<number>,
  tx: number | ArrayLike<number>,
  T: number | ArrayLike<number>,
): number | Float64Array {
  if (typeof x === 'number' && typeof tx === 'number' && typeof T === 'number') return probabilityAliveScalar(params, x, tx, T);
  const [xs, txs, Ts] = broadcast('BG/NBD', x, tx, T);
  const out = new Float64Array(xs.length);
  for (let i = 0; i < xs.length; i++) out[i] = probabilityAliveScalar(params, xs[i]!, txs[i]!, Ts[i]!);
  return out;
}

/** Half-width of the window around a = 1 where predictions are interpolated (see below). */
const A_NEAR_ONE = 1e-4;

/**
 * ln of E[number of purchases in (T, T+t] | alive at T, x, T]: with s = r+x, β = α+T, c = a+b+x−1,
 *   ln[ c/(a−1) · (1 − (β/(β+t))^s · ₂F₁(s, b+x; c; t/(β+t))) ].
 * Valid for any a ≠ 1: for a < 1 both factors are negative (the closed form is the analytic
 * continuation; FHL's CDNOW fit has a = 0.79). Returns −∞ for t = 0.
 */
function logAliveExpectation(params: BgNbdParams, t: number, x: number, T: number): number {
  const { r, alpha, a, b } = params;
  if (t === 0) return -Infinity;
  const s = r + x;
  const beta = alpha + T;
  const c = a + b + x - 1;
  const u = t / beta;
  const z = u / (1 + u);
  const logW = -Math.log1p(u); // ln(1 − z) = ln(β/(β+t))
  if (c < 0.5) return logAliveExpectationSmallC(s, b + x, c, a, z, logW);
  const logTerm = s * logW + logHyp2f1(s, b + x, c, z);
  const bracket = -Math.expm1(logTerm); // 1 − term, accurate when term ≈ 1
  const ratio = c / (a - 1);
  return Math.log(ratio * bracket);
}

/**
 * Same quantity when c = a+b+x−1 < ½, which happens only for x = 0 with a + b < 1.5: ₂F₁(s, B; c; z)
 * has a pole at c = 0 (cancelled by the factor c) and can be negative for c < 0, so `logHyp2f1`
 * cannot be used directly. Gauss's contiguous relation (DLMF 15.5.18 with c → c+1) gives
 *   c·F(c) = { [c − (2c+1−s−B) z] F(c+1) + (c+1−s)(c+1−B)/(c+1) · z F(c+2) } / (1 − z),
 * where F(c+1), F(c+2) have positive parameters. Then E = [c − (1−z)^s · c F(c)] / (a − 1).
 */
function logAliveExpectationSmallC(s: number, B: number, c: number, a: number, z: number, logW: number): number {
  const k1 = c - (2 * c + 1 - s - B) * z;
  const k2 = (((c + 1 - s) * (c + 1 - B)) / (c + 1)) * z;
  const l1 = logHyp2f1(s, B, c + 1, z);
  const l2 = logHyp2f1(s, B, c + 2, z);
  const m = Math.max(l1, l2);
  const sum = k1 * Math.exp(l1 - m) + k2 * Math.exp(l2 - m);
  // (1 − z)^s · c F(c) = (1 − z)^(s−1) · sum · e^m
  const cTerm = Math.sign(sum) * Math.exp((s - 1) * logW + m + Math.log(Math.abs(sum)));
  return Math.log((c - cTerm) / (a - 1));
}

/**
 * E[Y(t) | alive, x, T] with the a ≈ 1 singularity (removable: c/(a−1) → ∞ while the bracket → 0)
 * handled by linear interpolation between a = 1 ± 1e-4.
 */
function logAliveExpectationSafe(params: BgNbdParams, t: number, x: number, T: number): number {
  if (Math.abs(params.a - 1) >= A_NEAR_ONE) return logAliveExpectation(params, t, x, T);
  const lo = Math.exp(logAliveExpectation({ ...params, a: 1 - A_NEAR_ONE }, t, x, T));
  const hi = Math.exp(logAliveExpectation({ ...params, a: 1 + A_NEAR_ONE }, t, x, T));
  const f = (params.a - (1 - A_NEAR_ONE)) / (2 * A_NEAR_ONE);
  return Math.log(lo + f * (hi - lo));
}

function conditionalScalar(params: BgNbdParams, t: number, x: number, tx: number, T: number): number {
  if (t === 0) return 0;
  const logE = logAliveExpectationSafe(params, t, x, T);
  return Math.exp(logE - softplus(logDeadOdds(params, x, tx, T)));
}

/**
 * Expected number of purchases in (T, T+t] for a customer with history (x, t_x, T) (FHL 2005,
 * eq. 10):
 *
 *   (a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b+x; a+b+x−1; t/(α+T+t))]
 *     / (1 + δ_{x>0} · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x)),
 *
 * evaluated in log space with `logHyp2f1` (finite for x = 1000). The formula is used for every
 * a ≠ 1 — it is the analytic continuation for a < 1, where both (a−1) and the bracket are negative
 * (e.g. the CDNOW fit, a = 0.79, reproduces the paper's 1.226); at |a − 1| < 1e-4 the value is
 * interpolated linearly in a between a = 1 ± 1e-4. For x = 0 with a + b < 1.5 (so that
 * c = a+b−1 < ½, where ₂F₁ has its removable pole at c = 0 and may be negative) a contiguous
 * relation moves to c+1 and c+2 (see `logAliveExpectationSmallC`). Returns 0 for t = 0, NaN if the
 * hypergeometric function cannot be evaluated. Scalar, or vectorised over arrays of x, t_x, T (a Float64Array;
 * the ₂F₁ factor is computed once per distinct (x, T)).
 */
export function conditionalExpectedPurchases(params: BgNbdParams, t: number, x: number, tx: number, T: number): number;
export function conditionalExpectedPurchases(
  params: BgNbdParams,
  t: number,
  x: ArrayLike<number>,
  tx: ArrayLike<number>,
  T: ArrayLike<number>,
): Float64Array;
export function conditionalExpectedPurchases(
  params: BgNbdParams,
  t: number,
  x: number | ArrayLike<number>,
  tx: number | ArrayLike<number>,
  T: number | ArrayLike<number>,
): number | Float64Array {
  if (typeof x === 'number' && typeof tx === 'number' && typeof T === 'number') return conditionalScalar(params, t, x, tx, T);
  const [xs, txs, Ts] = broadcast('BG/NBD', x, tx, T);
  const n = xs.length;
  const out = new Float64Array(n);
  if (t === 0) return out;
  // The alive-expectation depends on (x, T) only: cache it (customers share x and, in cohort data, T).
  const cache = new Map<number, Map<number, number>>();
  for (let i = 0; i < n; i++) {
    const xi = xs[i]!;
    const Ti = Ts[i]!;
    let byT = cache.get(xi);
    if (byT === undefined) {
      byT = new Map();
      cache.set(xi, byT);
    }
    let logE = byT.get(Ti);
    if (logE === undefined) {
      logE = logAliveExpectationSafe(params, t, xi, Ti);
      byT.set(Ti, logE);
    }
    out[i] = Math.exp(logE - softplus(logDeadOdds(params, xi, txs[i]!, Ti)));
  }
  return out;
}

/**
 * Expected number of purchases by a new customer in (0, t] (FHL 2005, eq. 9):
 *   (a+b−1)/(a−1) · [1 − (α/(α+t))^r ₂F₁(r, b; a+b−1; t/(α+t))].
 * Same conventions as `conditionalExpectedPurchases` (it is that function at x = t_x = T = 0).
 */
export function expectedPurchasesNewCustomer(params: BgNbdParams, t: number): number;
export function expectedPurchasesNewCustomer(params: BgNbdParams, t: ArrayLike<number>): Float64Array;
export function expectedPurchasesNewCustomer(params: BgNbdParams, t: number | ArrayLike<number>): number | Float64Array {
  const one = (ti: number): number => (ti === 0 ? 0 : Math.exp(logAliveExpectationSafe(params, ti, 0, 0)));
  if (typeof t === 'number') return one(t);
  const out = new Float64Array(t.length);
  for (let i = 0; i < t.length; i++) out[i] = one(t[i]!);
  return out;
}

