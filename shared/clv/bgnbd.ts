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
import { digamma, lbeta, lgamma, logHyp2f1 } from './special.js';
import { broadcast, indexPairs, KeyIndex, maxSmallInteger, prepareFrequency, startingAlpha, type PreparedFrequency } from './frequency-data.js';
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

/** The frequency data plus what the BG/NBD likelihood shares between rows. */
interface PreparedBgNbd extends PreparedFrequency {
  /** Distinct values of t_x and T, and per row the index of its t_x and of its T among them. */
  times: Float64Array;
  txAt: Uint32Array;
  TAt: Uint32Array;
  /** Total weight per distinct x (indexed like `xs`). */
  xWeight: Float64Array;
}

function prepare(data: FrequencySummary): PreparedBgNbd {
  const d = prepareFrequency(data);
  const table = new KeyIndex(1024);
  const txAt = new Uint32Array(d.n);
  const TAt = new Uint32Array(d.n);
  const xWeight = new Float64Array(d.xs.length);
  for (let i = 0; i < d.n; i++) {
    txAt[i] = table.id(d.tx[i]!);
    TAt[i] = table.id(d.T[i]!);
    const k = d.xIndex[i]!;
    xWeight[k] = xWeight[k]! + d.weight[i]!;
  }
  return { ...d, times: table.first.slice(0, table.size), txAt, TAt, xWeight };
}

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
 *
 * The terms depending on x only are computed once per distinct x and weighted by that x's total
 * weight; ln(α+t) and 1/(α+t) once per distinct time t; the row loop is then one exp per repeat
 * customer row (plus a log1p for rows of weight ≠ 1).
 */
function logLikelihood(d: PreparedBgNbd, params: BgNbdParams, grad?: Float64Array): number {
  const { r, alpha, a, b } = params;
  const m = d.xs.length;
  // Per distinct x: the part of ln L not depending on t_x or T, ln(a/(b+x−1)), 1/(b+x−1), digammas.
  const logRatio = new Float64Array(m);
  const invB1 = new Float64Array(m);
  const lgr = lgamma(r);
  const lbab = lbeta(a, b);
  const logAlpha = Math.log(alpha);
  const logA = Math.log(a);
  const psiR = grad ? digamma(r) : 0;
  const psiAB = grad ? digamma(a + b) : 0;
  const psiB = grad ? digamma(b) : 0;
  let ll = 0;
  let gr = 0;
  let ga = 0;
  let gb = 0;
  for (let k = 0; k < m; k++) {
    const x = d.xs[k]!;
    const wk = d.xWeight[k]!;
    ll += wk * (lgamma(r + x) - lgr + r * logAlpha + lbeta(a, b + x) - lbab);
    logRatio[k] = x > 0 ? logA - Math.log(b + x - 1) : -Infinity;
    invB1[k] = x > 0 ? 1 / (b + x - 1) : 0;
    if (grad) {
      const psiABX = digamma(a + b + x);
      gr += wk * (digamma(r + x) - psiR + logAlpha);
      ga += wk * (psiAB - psiABX);
      gb += wk * (digamma(b + x) - psiB + psiAB - psiABX);
    }
  }
  const nt = d.times.length;
  const logAt = new Float64Array(nt);
  const invAt = new Float64Array(nt);
  for (let j = 0; j < nt; j++) {
    const u = alpha + d.times[j]!;
    logAt[j] = Math.log(u);
    invAt[j] = 1 / u;
  }
  const X = d.x;
  const W = d.weight;
  const xIndex = d.xIndex;
  const txAt = d.txAt;
  const TAt = d.TAt;
  // Σ w·ln(e^ℓ₁ + e^ℓ₂) and, for the gradient, Σ w(ω₁ ln(α+T) + ω₂ ln(α+t_x)),
  // Σ w(r+x)(ω₁/(α+T) + ω₂/(α+t_x)), Σ w ω₂ and Σ w ω₂/(b+x−1). With M = max(ℓ₁, ℓ₂) and
  // e = e^(min − max) ∈ [0, 1], ln(e^ℓ₁ + e^ℓ₂) = M + ln(1 + e); for unit weights the ln(1 + e) are
  // summed as the ln of their running product (flushed before it can overflow), which saves a
  // log1p per row at an absolute rounding error of ~1e-16 per row, as for a sum of logs.
  let sLse = 0;
  let prod = 1;
  let sLog = 0;
  let sInv = 0;
  let sW2 = 0;
  let sW2B = 0;
  for (let i = 0; i < d.n; i++) {
    const x = X[i]!;
    const w = W[i]!;
    const rx = r + x;
    const iT = TAt[i]!;
    const logAT = logAt[iT]!;
    const l1 = -rx * logAT;
    if (x > 0) {
      const k = xIndex[i]!;
      const iTx = txAt[i]!;
      const logATx = logAt[iTx]!;
      const l2 = logRatio[k]! - rx * logATx;
      // e = e^(min − max), ω₂ = e^ℓ₂/(e^ℓ₁ + e^ℓ₂) (branch-free: which term is larger is unpredictable).
      const diff = l1 - l2;
      const e = Math.exp(-Math.abs(diff));
      const inv = 1 / (1 + e);
      const w2 = diff < 0 ? inv : e * inv;
      const top = diff < 0 ? l2 : l1;
      sLse += w * top;
      if (w === 1) {
        prod *= 1 + e;
        if (prod > 1e280) {
          sLse += Math.log(prod);
          prod = 1;
        }
      } else sLse += w * Math.log1p(e);
      if (grad) {
        const w1 = 1 - w2;
        sLog += w * (w1 * logAT + w2 * logATx);
        sInv += w * rx * (w1 * invAt[iT]! + w2 * invAt[iTx]!);
        sW2 += w * w2;
        sW2B += w * w2 * invB1[k]!;
      }
    } else {
      sLse += w * l1;
      if (grad) {
        sLog += w * logAT;
        sInv += w * rx * invAt[iT]!;
      }
    }
  }
  sLse += Math.log(prod);
  ll += sLse;
  if (grad) {
    grad[0] = r * (gr - sLog);
    grad[1] = alpha * ((d.totalWeight * r) / alpha - sInv);
    grad[2] = a * (ga + sW2 / a);
    grad[3] = b * (gb - sW2B);
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

/** 1 / (1 + eᶻ) without overflow (1 at z = −∞, NaN for NaN). */
function logistic(z: number): number {
  // e/(1+e) for z > 0, 1/(1+e) otherwise, with e = e^−|z| (branch-free: z's sign is unpredictable).
  const e = Math.exp(-Math.abs(z));
  return (z > 0 ? e : 1) / (1 + e);
}

/**
 * P(alive) = 1 / (1 + e^z) with z the ln of the "dead" odds,
 * z = ln[a/(b+x−1)] + (r+x) [ln(α+T) − ln(α+t_x)] for x > 0 (z = −∞, P = 1, for x = 0);
 * `logRatio` = ln a − ln(b+x−1), `logAT` = ln(α+T), `logATx` = ln(α+t_x).
 */
function aliveFromLogs(r: number, logRatio: number, x: number, logATx: number, logAT: number): number {
  return x === 0 ? 1 : logistic(logRatio + (r + x) * (logAT - logATx));
}

function probabilityAliveScalar(params: BgNbdParams, x: number, tx: number, T: number): number {
  if (x === 0) return 1;
  const { r, alpha, a, b } = params;
  return aliveFromLogs(r, Math.log(a) - Math.log(b + x - 1), x, Math.log(alpha + tx), Math.log(alpha + T));
}

/**
 * `probabilityAliveScalar` for many customers, into `out`, with the same arithmetic (so the same
 * values): ln[a/(b+x−1)] is kept per integer x below 4096 and, when t_x and T are whole numbers
 * (ages in days or weeks), ln(α+t) per t — a customer then costs one exp.
 */
function probabilityAliveInto(params: BgNbdParams, xs: ArrayLike<number>, txs: ArrayLike<number>, Ts: ArrayLike<number>, out: Float64Array): void {
  const { r, alpha, a, b } = params;
  const n = xs.length;
  const logA = Math.log(a);
  const ratioCache = new Float64Array(4096).fill(NaN);
  const logRatio = (x: number): number => {
    if (x < 4096 && Number.isInteger(x)) {
      let v = ratioCache[x]!;
      if (Number.isNaN(v)) {
        v = logA - Math.log(b + x - 1);
        ratioCache[x] = v;
      }
      return v;
    }
    return logA - Math.log(b + x - 1);
  };
  const limit = 4 * n + 4096;
  const maxT = maxSmallInteger(Ts, limit);
  const maxTx = maxT >= 0 ? maxSmallInteger(txs, limit) : -1;
  if (maxT >= 0 && maxTx >= 0) {
    const logAt = new Float64Array(Math.max(maxT, maxTx) + 1).fill(NaN);
    const logOf = (t: number): number => {
      let v = logAt[t]!;
      if (Number.isNaN(v)) {
        v = Math.log(alpha + t);
        logAt[t] = v;
      }
      return v;
    };
    for (let i = 0; i < n; i++) {
      const x = xs[i]!;
      out[i] = x === 0 ? 1 : aliveFromLogs(r, logRatio(x), x, logOf(txs[i]!), logOf(Ts[i]!));
    }
    return;
  }
  for (let i = 0; i < n; i++) {
    const x = xs[i]!;
    out[i] = x === 0 ? 1 : aliveFromLogs(r, logRatio(x), x, Math.log(alpha + txs[i]!), Math.log(alpha + Ts[i]!));
  }
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
  probabilityAliveInto(params, xs, txs, Ts, out);
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
  return Math.exp(logAliveExpectationSafe(params, t, x, T)) * probabilityAliveScalar(params, x, tx, T);
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
  return conditionalExpectedPurchasesCurve(params, x, tx, T)(t);
}

/**
 * The vectorised {@link conditionalExpectedPurchases} as a function of the horizon t: P(alive) and
 * the index of distinct (x, T) are computed once, whatever the number of horizons asked (a CLV's
 * monthly discounting asks for one per month).
 */
export function conditionalExpectedPurchasesCurve(
  params: BgNbdParams,
  x: number | ArrayLike<number>,
  tx: number | ArrayLike<number>,
  T: number | ArrayLike<number>,
): (t: number) => Float64Array {
  const [xs, txs, Ts] = broadcast('BG/NBD', x, tx, T);
  const n = xs.length;
  // The alive-expectation depends on (x, T) only: once per distinct pair (customers share x and,
  // with times in whole days or in cohort data, T).
  const pairs = indexPairs(xs, Ts);
  const alive = new Float64Array(n);
  probabilityAliveInto(params, xs, txs, Ts, alive);
  return (t) => {
    const out = new Float64Array(n);
    if (t === 0) return out;
    const expectation = new Float64Array(pairs.size);
    for (let k = 0; k < pairs.size; k++) expectation[k] = Math.exp(logAliveExpectationSafe(params, t, pairs.first[k]!, pairs.second[k]!));
    const index = pairs.index;
    for (let i = 0; i < n; i++) out[i] = expectation[index[i]!]! * alive[i]!;
    return out;
  };
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

/**
 * P(at least one purchase in (T, T+t]), in place of each customer's P(alive) `alive`: λ ~ Gamma(r+x,
 * α+T) a posteriori, and alive means no drop-out before the next purchase, so the chance of none
 * is E[e^(−λt)] = ((α+T)/(α+T+t))^(r+x). The same for every model whose drop-out follows purchases
 * (BG/NBD, MBG/NBD).
 */
export function purchaseFromAlive(alive: Float64Array, params: { r: number; alpha: number }, t: number, x: ArrayLike<number>, T: ArrayLike<number>): Float64Array {
  for (let i = 0; i < alive.length; i++) alive[i]! *= -Math.expm1(-(params.r + x[i]!) * Math.log1p(t / (params.alpha + T[i]!)));
  return alive;
}

/**
 * P(at least one purchase in (T, T+t] | x, t_x, T) = P(alive) · (1 − ((α+T)/(α+T+t))^(r+x)); for a
 * new customer (x = t_x = T = 0) one minus FHL 2005's P(X(t) = 0) = (α/(α+t))^r. Vectorised.
 */
export function probabilityOfPurchase(params: BgNbdParams, t: number, x: ArrayLike<number>, tx: ArrayLike<number>, T: ArrayLike<number>): Float64Array {
  return purchaseFromAlive(probabilityAlive(params, x, tx, T), params, t, x, T);
}
