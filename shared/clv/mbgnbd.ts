/**
 * MBG/NBD model (Batislam, Denizel & Filiztekin 2007, "Empirical validation and comparison of
 * models for customer base analysis", International Journal of Research in Marketing 24(3),
 * 201–209; as lifetimes' `ModifiedBetaGeoFitter`).
 *
 * As BG/NBD (see `bgnbd.ts`), but a customer may also drop out right after the *first* purchase
 * (time 0), so x = 0 customers can be dead too: λ ~ Gamma(r, α) while active, and after each
 * purchase, including the first, the customer drops out with probability p ~ Beta(a, b). For a
 * customer with x repeat purchases, the last at t_x, observed for T:
 *
 *   ln L = ln Γ(r+x) − ln Γ(r) + r ln α + ln B(a, b+x+1) − ln B(a, b)
 *          + ln[ (α+T)^−(r+x) + a/(b+x) · (α+t_x)^−(r+x) ]     (second term for every x ≥ 0).
 *
 * Fitted by maximum likelihood on (log r, log α, log a, log b) with the analytic gradient and the
 * BFGS minimiser of `optimize.ts`, on a compressed `FrequencySummary`.
 */
import { performance } from 'node:perf_hooks';
import { expectedPurchasesNewCustomer as bgNbdExpectedPurchasesNewCustomer, purchaseFromAlive } from './bgnbd.js';
import { fitLogParameters } from './fit.js';
import { broadcast, prepareFrequency as prepare, startingAlpha, type PreparedFrequency } from './frequency-data.js';
import { digamma, lbeta, lgamma } from './special.js';
import type { FitOptions, FitResult, FrequencySummary } from './types.js';

export { compressFrequency } from './frequency-data.js';

export interface MbgNbdParams {
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
 * With A₁ = (α+T)^−(r+x), A₂ = a/(b+x) (α+t_x)^−(r+x), ω₁ = A₁/(A₁+A₂), ω₂ = 1 − ω₁:
 *   ∂/∂r = ψ(r+x) − ψ(r) + ln α − ω₁ ln(α+T) − ω₂ ln(α+t_x)
 *   ∂/∂α = r/α − (r+x) [ω₁/(α+T) + ω₂/(α+t_x)]
 *   ∂/∂a = ψ(a+b) − ψ(a+b+x+1) + ω₂/a
 *   ∂/∂b = ψ(b+x+1) − ψ(b) + ψ(a+b) − ψ(a+b+x+1) − ω₂/(b+x)
 * (using ∂ ln B(u, w)/∂u = ψ(u) − ψ(u+w)); the log-parameter gradient multiplies each by the parameter.
 */
function logLikelihood(d: PreparedFrequency, params: MbgNbdParams, grad?: Float64Array): number {
  const { r, alpha, a, b } = params;
  const m = d.xs.length;
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
    base[k] = lgamma(r + x) - lgr + r * logAlpha + lbeta(a, b + x + 1) - lbab;
    logRatio[k] = logA - Math.log(b + x);
    if (grad) {
      const psiABX = digamma(a + b + x + 1);
      dR[k] = digamma(r + x) - psiR + logAlpha;
      dA[k] = psiAB - psiABX;
      dB[k] = digamma(b + x + 1) - psiB + psiAB - psiABX;
    }
  }
  let ll = 0;
  let gr = 0;
  let gAlpha = 0;
  let ga = 0;
  let gb = 0;
  for (let i = 0; i < d.n; i++) {
    const k = d.xIndex[i]!;
    const x = d.x[i]!;
    const w = d.weight[i]!;
    const rx = r + x;
    const aT = alpha + d.T[i]!;
    const aTx = alpha + d.tx[i]!;
    const logAT = Math.log(aT);
    const logATx = Math.log(aTx);
    const l1 = -rx * logAT;
    const l2 = logRatio[k]! - rx * logATx;
    // ln(e^l1 + e^l2) and ω₂ = e^l2 / (e^l1 + e^l2), stably.
    let lse: number;
    let w2: number;
    if (l2 > l1) {
      const e = Math.exp(l1 - l2);
      lse = l2 + Math.log1p(e);
      w2 = 1 / (1 + e);
    } else {
      const e = Math.exp(l2 - l1);
      lse = l1 + Math.log1p(e);
      w2 = e / (1 + e);
    }
    ll += w * (base[k]! + lse);
    if (grad) {
      const w1 = 1 - w2;
      gr += w * (dR[k]! - w1 * logAT - w2 * logATx);
      gAlpha += w * (r / alpha - rx * (w1 / aT + w2 / aTx));
      ga += w * (dA[k]! + w2 / a);
      gb += w * (dB[k]! - w2 / (b + x));
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
export function mbgNbdLogLikelihood(params: MbgNbdParams, data: FrequencySummary, gradient?: Float64Array): number {
  return logLikelihood(prepare(data), params, gradient);
}

/**
 * Fits the MBG/NBD model by maximum likelihood. The objective is the weighted *mean* negative
 * log-likelihood plus `penalizer · Σ (log θ)²` over θ = (r, α, a, b); `tolerance` (default 1e-6)
 * bounds its gradient norm with respect to the log-parameters. Throws `RangeError` on invalid rows
 * (non-integer or negative x, t_x outside [0, T], negative weights) or when there is no data; a
 * failed optimisation is reported through `converged = false` and `message`, not thrown.
 *
 * Start: r = 1, a = 1, b = 1 and α = r · mean(T) / max(mean(x), 0.01), as for BG/NBD.
 */
export function fitMbgNbd(data: FrequencySummary, options: FitOptions = {}): FitResult<MbgNbdParams> {
  const startedAt = performance.now();
  const d = prepare(data);
  const alpha0 = startingAlpha(d);
  const start = [0, Math.log(alpha0), 0, 0];
  return fitLogParameters<MbgNbdParams>('fitMbgNbd', ['r', 'alpha', 'a', 'b'], start, (params, gradient) => logLikelihood(d, params, gradient), { totalWeight: d.totalWeight, rows: d.n }, options, startedAt);
}

// ---------------------------------------------------------------------------
// Predictions
// ---------------------------------------------------------------------------

/** ln(1 + eᶻ) without overflow. */
function softplus(z: number): number {
  return z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
}

/** ln of the "dead" odds ln[a/(b+x) · ((α+T)/(α+t_x))^(r+x)]: P(alive) = 1 / (1 + e^this). */
function logDeadOdds(params: MbgNbdParams, x: number, tx: number, T: number): number {
  const { r, alpha, a, b } = params;
  return Math.log(a) - Math.log(b + x) + (r + x) * (Math.log(alpha + T) - Math.log(alpha + tx));
}

function probabilityAliveScalar(params: MbgNbdParams, x: number, tx: number, T: number): number {
  return Math.exp(-softplus(logDeadOdds(params, x, tx, T)));
}

/**
 * P(alive | x, t_x, T) = 1 / (1 + a/(b+x) · ((α+T)/(α+t_x))^(r+x)) (lifetimes'
 * `ModifiedBetaGeoFitter.conditional_probability_alive`), in logs. Unlike BG/NBD it is < 1 for
 * x = 0 too. Scalar, or vectorised over arrays (returns a Float64Array).
 */
export function probabilityAlive(params: MbgNbdParams, x: number, tx: number, T: number): number;
export function probabilityAlive(params: MbgNbdParams, x: ArrayLike<number>, tx: ArrayLike<number>, T: ArrayLike<number>): Float64Array;
export function probabilityAlive(
  params: MbgNbdParams,
  x: number | ArrayLike<number>,
  tx: number | ArrayLike<number>,
  T: number | ArrayLike<number>,
): number | Float64Array {
  if (typeof x === 'number' && typeof tx === 'number' && typeof T === 'number') return probabilityAliveScalar(params, x, tx, T);
  const [xs, txs, Ts] = broadcast('MBG/NBD', x, tx, T);
  const out = new Float64Array(xs.length);
  for (let i = 0; i < xs.length; i++) out[i] = probabilityAliveScalar(params, xs[i]!, txs[i]!, Ts[i]!);
  return out;
}

/**
 * E[purchases in (T, T+t] | alive at T, x, T]. A posteriori λ ~ Gamma(r+x, α+T) and
 * p ~ Beta(a, b+x+1) (x+1 purchases survived, the first included), and an alive customer then
 * behaves like a new BG/NBD customer, so this is BG/NBD's new-customer expectation at
 * (r+x, α+T, a, b+x+1):
 *   (a+b+x)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b+x+1; a+b+x; t/(α+T+t))],
 * evaluated by `bgnbd.ts` (log space, analytic continuation for a < 1, linear interpolation
 * across the removable singularity at |a − 1| < 1e-4, contiguous relation when a+b+x < ½).
 */
function aliveExpectation(params: MbgNbdParams, t: number, x: number, T: number): number {
  const { r, alpha, a, b } = params;
  return bgNbdExpectedPurchasesNewCustomer({ r: r + x, alpha: alpha + T, a, b: b + x + 1 }, t);
}

function conditionalScalar(params: MbgNbdParams, t: number, x: number, tx: number, T: number): number {
  if (t === 0) return 0;
  return aliveExpectation(params, t, x, T) * probabilityAliveScalar(params, x, tx, T);
}

/**
 * Expected number of purchases in (T, T+t] for a customer with history (x, t_x, T) (lifetimes'
 * `ModifiedBetaGeoFitter.conditional_expected_number_of_purchases_up_to_time`):
 *
 *   (a+b+x)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b+x+1; a+b+x; t/(α+T+t))]
 *     / (1 + a/(b+x) · ((α+T)/(α+t_x))^(r+x)),
 *
 * i.e. P(alive) times the expectation given alive (see `aliveExpectation` for the numerics,
 * including a ≈ 1). Returns 0 for t = 0. Scalar, or vectorised over arrays of x, t_x, T (a
 * Float64Array; the ₂F₁ factor is computed once per distinct (x, T)).
 */
export function conditionalExpectedPurchases(params: MbgNbdParams, t: number, x: number, tx: number, T: number): number;
export function conditionalExpectedPurchases(
  params: MbgNbdParams,
  t: number,
  x: ArrayLike<number>,
  tx: ArrayLike<number>,
  T: ArrayLike<number>,
): Float64Array;
export function conditionalExpectedPurchases(
  params: MbgNbdParams,
  t: number,
  x: number | ArrayLike<number>,
  tx: number | ArrayLike<number>,
  T: number | ArrayLike<number>,
): number | Float64Array {
  if (typeof x === 'number' && typeof tx === 'number' && typeof T === 'number') return conditionalScalar(params, t, x, tx, T);
  const [xs, txs, Ts] = broadcast('MBG/NBD', x, tx, T);
  const n = xs.length;
  const out = new Float64Array(n);
  if (t === 0) return out;
  const cache = new Map<number, Map<number, number>>();
  for (let i = 0; i < n; i++) {
    const xi = xs[i]!;
    const Ti = Ts[i]!;
    let byT = cache.get(xi);
    if (byT === undefined) {
      byT = new Map();
      cache.set(xi, byT);
    }
    let e = byT.get(Ti);
    if (e === undefined) {
      e = aliveExpectation(params, t, xi, Ti);
      byT.set(Ti, e);
    }
    out[i] = e * probabilityAliveScalar(params, xi, txs[i]!, Ti);
  }
  return out;
}

/**
 * Expected number of purchases by a new customer in (0, t] (lifetimes'
 * `ModifiedBetaGeoFitter.expected_number_of_purchases_up_to_time`):
 *   b/(a−1) · [1 − (α/(α+t))^r ₂F₁(r, b+1; a+b; t/(α+t))],
 * i.e. P(no drop-out at time 0) = b/(a+b) times BG/NBD's new-customer expectation at
 * (r, α, a, b+1) (a customer surviving the first purchase has p ~ Beta(a, b+1)). Same numerics as
 * `conditionalExpectedPurchases`. Scalar, or vectorised over t (a Float64Array).
 */
export function expectedPurchasesNewCustomer(params: MbgNbdParams, t: number): number;
export function expectedPurchasesNewCustomer(params: MbgNbdParams, t: ArrayLike<number>): Float64Array;
export function expectedPurchasesNewCustomer(params: MbgNbdParams, t: number | ArrayLike<number>): number | Float64Array {
  const { a, b } = params;
  const survive = b / (a + b);
  const one = (ti: number): number => (ti === 0 ? 0 : survive * aliveExpectation(params, ti, 0, 0));
  if (typeof t === 'number') return one(t);
  const out = new Float64Array(t.length);
  for (let i = 0; i < t.length; i++) out[i] = one(t[i]!);
  return out;
}

/**
 * P(at least one purchase in (T, T+t] | x, t_x, T) = P(alive) · (1 − ((α+T)/(α+T+t))^(r+x)): as
 * BG/NBD's (drop-out only at a purchase), with MBG/NBD's P(alive). Vectorised.
 */
export function probabilityOfPurchase(params: MbgNbdParams, t: number, x: ArrayLike<number>, tx: ArrayLike<number>, T: ArrayLike<number>): Float64Array {
  return purchaseFromAlive(probabilityAlive(params, x, tx, T), params, t, x, T);
}
