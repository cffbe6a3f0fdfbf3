/**
 * Pareto/NBD model (Schmittlein, Morrison & Colombo 1987, "Counting Your Customers: Who Are They
 * and What Will They Do Next?", Management Science 33(1); likelihood and predictions as in Fader &
 * Hardie, "A Note on Deriving the Pareto/NBD Model and Related Expressions", 2005,
 * http://brucehardie.com/notes/009/, and "Computing P(alive) Using the Pareto/NBD Model", 2014,
 * http://brucehardie.com/notes/015/).
 *
 * While active, a customer buys at Poisson rate λ ~ Gamma(r, α); their lifetime is exponential with
 * rate μ ~ Gamma(s, β). For a customer with x repeat purchases, the last at t_x, observed for T:
 *
 *   L = Γ(r+x) α^r β^s / Γ(r) · { (α+T)^−(r+x) (β+T)^−s + s/(r+s+x) · A₀ },
 *   A₀ = J(t_x) − J(T),
 *   J(t) = (M+t)^−(r+s+x) · ₂F₁(r+s+x, B; r+s+x+1; |α−β|/(M+t)),
 *
 * with M = α, B = s+1 when α ≥ β and M = β, B = r+x when α < β (so the argument of ₂F₁ is in
 * [0, 1)). J(t)/(r+s+x) = ∫_t^∞ (α+τ)^−(r+x) (β+τ)^−(s+1) dτ, so A₀ ≥ 0 and A₀ = 0 for t_x = T.
 * Everything is computed in logs (`logHyp2f1`, log-sum-exp), so x in the thousands is fine.
 *
 * Fitted by maximum likelihood on (log r, log α, log s, log β) with the BFGS minimiser of
 * `optimize.ts`, on a compressed `FrequencySummary`. The gradient is analytic except for the
 * ln J terms, whose derivatives involve the derivative of ₂F₁ with respect to its parameters (no
 * closed form): those are central finite differences on the log-parameters (see `logJWithGradient`).
 */
import { performance } from 'node:perf_hooks';
import { fitLogParameters } from './fit.js';
import { broadcast, prepareFrequency, startingAlpha, type PreparedFrequency } from './frequency-data.js';
import { digamma, lgamma, logHyp2f1 } from './special.js';
import type { FitOptions, FitResult, FrequencySummary } from './types.js';

export { compressFrequency } from './frequency-data.js';

export interface ParetoNbdParams {
  r: number;
  alpha: number;
  s: number;
  beta: number;
}

// ---------------------------------------------------------------------------
// Validation and the distinct (x, t) pairs
// ---------------------------------------------------------------------------

/** The frequency data plus the distinct (x, t) pairs, t ∈ {t_x, T}: the ln J values depend on nothing else. */
interface PreparedPareto extends PreparedFrequency {
  pairX: Float64Array;
  pairT: Float64Array;
  /** Per row, the pair index of (x, t_x) and of (x, T); −1 for (x, t_x) when t_x = T (A₀ = 0). */
  pairTx: Int32Array;
  pairTT: Int32Array;
}

function prepare(data: FrequencySummary): PreparedPareto {
  const d = prepareFrequency(data);
  const pairTx = new Int32Array(d.n);
  const pairTT = new Int32Array(d.n);
  const pairs = new Map<number, Map<number, number>>();
  const pairX: number[] = [];
  const pairT: number[] = [];
  const pairOf = (x: number, t: number): number => {
    let byT = pairs.get(x);
    if (byT === undefined) {
      byT = new Map();
      pairs.set(x, byT);
    }
    let index = byT.get(t);
    if (index === undefined) {
      index = pairX.length;
      pairX.push(x);
      pairT.push(t);
      byT.set(t, index);
    }
    return index;
  };
  for (let j = 0; j < d.n; j++) {
    pairTT[j] = pairOf(d.x[j]!, d.T[j]!);
    pairTx[j] = d.tx[j]! < d.T[j]! ? pairOf(d.x[j]!, d.tx[j]!) : -1;
  }
  return { ...d, pairX: Float64Array.from(pairX), pairT: Float64Array.from(pairT), pairTx, pairTT };
}

// ---------------------------------------------------------------------------
// ln J and the log-likelihood
// ---------------------------------------------------------------------------

/**
 * ln J(t) = −(r+s+x) ln(M+t) + ln ₂F₁(r+s+x, B; r+s+x+1; |α−β|/(M+t)) (branches as in the module
 * comment). Equals ln[(r+s+x) ∫_t^∞ (α+τ)^−(r+x) (β+τ)^−(s+1) dτ], a smooth function of the
 * parameters (the max(α, β) kink of the two factors cancels).
 */
function logJ(r: number, alpha: number, s: number, beta: number, x: number, t: number): number {
  const a = r + s + x;
  if (alpha >= beta) return -a * Math.log(alpha + t) + logHyp2f1(a, s + 1, a + 1, (alpha - beta) / (alpha + t));
  return -a * Math.log(beta + t) + logHyp2f1(a, r + x, a + 1, (beta - alpha) / (beta + t));
}

/**
 * Step of the central differences for ∂ ln J/∂ ln θ: 2^−13 ≈ 1.2e−4. ln J is computed to a few
 * units in the last place of |ln J| (logHyp2f1 is accurate to ~1e−14 relative), so the rounding
 * part of the error is ~1e−16·|ln J|/h ≈ 1e−12·|ln J| and the truncation part h²/6·|∂³ ln J| ≈
 * 2.5e−9·|∂³ ln J|; both are far below the optimiser's gradient tolerance (checked in the tests
 * against differences of the whole log-likelihood).
 */
const FD_STEP = 2 ** -13;
const FD_UP = Math.exp(FD_STEP);
const FD_DOWN = Math.exp(-FD_STEP);

/**
 * ln J and, into `g` (offset `o`), its derivatives with respect to (ln r, ln α, ln s, ln β) by
 * central differences (eight more ₂F₁ evaluations). Differencing ln J as a whole — rather than
 * only the ₂F₁ factor — keeps the differences smooth across α = β, where the branch changes.
 */
function logJWithGradient(p: ParetoNbdParams, x: number, t: number, g: Float64Array, o: number): number {
  const { r, alpha, s, beta } = p;
  const inv = 1 / (2 * FD_STEP);
  g[o] = (logJ(r * FD_UP, alpha, s, beta, x, t) - logJ(r * FD_DOWN, alpha, s, beta, x, t)) * inv;
  g[o + 1] = (logJ(r, alpha * FD_UP, s, beta, x, t) - logJ(r, alpha * FD_DOWN, s, beta, x, t)) * inv;
  g[o + 2] = (logJ(r, alpha, s * FD_UP, beta, x, t) - logJ(r, alpha, s * FD_DOWN, beta, x, t)) * inv;
  g[o + 3] = (logJ(r, alpha, s, beta * FD_UP, x, t) - logJ(r, alpha, s, beta * FD_DOWN, x, t)) * inv;
  return logJ(r, alpha, s, beta, x, t);
}

/**
 * Weighted log-likelihood Σ wᵢ ln Lᵢ and, when `grad` is given, its gradient with respect to
 * (log r, log α, log s, log β).
 *
 * Per row, ln L = C + ln(e^ℓ₁ + e^ℓ₂) with C = ln Γ(r+x) − ln Γ(r) + r ln α + s ln β,
 * ℓ₁ = −(r+x) ln(α+T) − s ln(β+T), ℓ₂ = ln s − ln(r+s+x) + ln A₀ and
 * ln A₀ = ln J(t_x) + ln(1 − q), q = J(T)/J(t_x). With ω₂ = e^ℓ₂/(e^ℓ₁+e^ℓ₂), ω₁ = 1 − ω₂:
 *   ∂/∂ln r = r[ψ(r+x) − ψ(r) + ln α − ω₁ ln(α+T) − ω₂/(r+s+x)] + ω₂ D_r
 *   ∂/∂ln α = r − ω₁ (r+x) α/(α+T) + ω₂ D_α
 *   ∂/∂ln s = s[ln β − ω₁ ln(β+T) − ω₂/(r+s+x)] + ω₂ (1 + D_s)
 *   ∂/∂ln β = s − ω₁ s β/(β+T) + ω₂ D_β
 * where D = ∂ ln A₀/∂ln θ = (∇ln J(t_x) − q ∇ln J(T))/(1 − q), the ∇ln J by central differences.
 * Rows with t_x = T (A₀ = 0) have ω₂ = 0.
 */
function logLikelihood(d: PreparedPareto, params: ParetoNbdParams, grad?: Float64Array): number {
  const { r, alpha, s, beta } = params;
  const np = d.pairX.length;
  const lj = new Float64Array(np);
  const gj = grad ? new Float64Array(4 * np) : undefined;
  for (let k = 0; k < np; k++) {
    const x = d.pairX[k]!;
    const t = d.pairT[k]!;
    lj[k] = gj ? logJWithGradient(params, x, t, gj, 4 * k) : logJ(r, alpha, s, beta, x, t);
  }
  const m = d.xs.length;
  const base = new Float64Array(m);
  const dR = new Float64Array(m);
  const lgr = lgamma(r);
  const logAlpha = Math.log(alpha);
  const logBeta = Math.log(beta);
  const logS = Math.log(s);
  const psiR = grad ? digamma(r) : 0;
  for (let k = 0; k < m; k++) {
    const x = d.xs[k]!;
    base[k] = lgamma(r + x) - lgr + r * logAlpha + s * logBeta;
    if (grad) dR[k] = digamma(r + x) - psiR + logAlpha;
  }
  let ll = 0;
  let gr = 0;
  let gAlpha = 0;
  let gs = 0;
  let gBeta = 0;
  for (let i = 0; i < d.n; i++) {
    const x = d.x[i]!;
    const T = d.T[i]!;
    const w = d.weight[i]!;
    const rx = r + x;
    const rsx = rx + s;
    const logAT = Math.log(alpha + T);
    const logBT = Math.log(beta + T);
    const l1 = -rx * logAT - s * logBT;
    const kx = d.pairTx[i]!;
    const kT = d.pairTT[i]!;
    let lse = l1;
    let w2 = 0;
    let q = 0;
    if (kx >= 0) {
      const ljx = lj[kx]!;
      q = Math.exp(lj[kT]! - ljx);
      if (q < 1) {
        const l2 = logS - Math.log(rsx) + ljx + Math.log1p(-q);
        // ln(e^l1 + e^l2), and the share of the second term.
        if (l2 > l1) {
          lse = l2 + Math.log1p(Math.exp(l1 - l2));
          w2 = 1 / (1 + Math.exp(l1 - l2));
        } else {
          lse = l1 + Math.log1p(Math.exp(l2 - l1));
          w2 = Math.exp(l2 - lse);
        }
      }
    }
    ll += w * (base[d.xIndex[i]!]! + lse);
    if (grad && gj) {
      const w1 = 1 - w2;
      let Dr = 0;
      let Da = 0;
      let Ds = 0;
      let Db = 0;
      if (w2 > 0) {
        const inv = 1 / (1 - q);
        const ox = 4 * kx;
        const oT = 4 * kT;
        Dr = (gj[ox]! - q * gj[oT]!) * inv;
        Da = (gj[ox + 1]! - q * gj[oT + 1]!) * inv;
        Ds = (gj[ox + 2]! - q * gj[oT + 2]!) * inv;
        Db = (gj[ox + 3]! - q * gj[oT + 3]!) * inv;
      }
      gr += w * (r * (dR[d.xIndex[i]!]! - w1 * logAT - w2 / rsx) + w2 * Dr);
      gAlpha += w * (r - (w1 * rx * alpha) / (alpha + T) + w2 * Da);
      gs += w * (s * (logBeta - w1 * logBT - w2 / rsx) + w2 * (1 + Ds));
      gBeta += w * (s - (w1 * s * beta) / (beta + T) + w2 * Db);
    }
  }
  if (grad) {
    grad[0] = gr;
    grad[1] = gAlpha;
    grad[2] = gs;
    grad[3] = gBeta;
  }
  return ll;
}

/**
 * Weighted log-likelihood of `data` at `params` (sum over customers) and, optionally, its gradient
 * with respect to (log r, log α, log s, log β). Exposed for tests and diagnostics.
 */
export function paretoNbdLogLikelihood(params: ParetoNbdParams, data: FrequencySummary, gradient?: Float64Array): number {
  return logLikelihood(prepare(data), params, gradient);
}

/**
 * Fits the Pareto/NBD model by maximum likelihood. The objective is the weighted *mean* negative
 * log-likelihood plus `penalizer · Σ (log θ)²` over θ = (r, α, s, β); `tolerance` (default 1e-6)
 * bounds its gradient norm with respect to the log-parameters. Throws `RangeError` on invalid rows
 * (non-integer or negative x, t_x outside [0, T], negative weights) or when there is no data; a
 * failed optimisation is reported through `converged = false` and `message`, not thrown.
 *
 * Start: r = s = 1, α = r · mean(T) / max(mean(x), 0.01) (the implied purchase rate r/α matches the
 * observed one in whatever time unit the data is in) and β = mean(T) (a mean lifetime of the order
 * of the observation window).
 *
 * Cost: each gradient evaluation takes nine ₂F₁ evaluations per distinct (x, t_x) and (x, T) pair,
 * so compress first (`compressFrequency`); with times in whole days the pairs number in the tens of
 * thousands even for millions of customers.
 */
export function fitParetoNbd(data: FrequencySummary, options: FitOptions = {}): FitResult<ParetoNbdParams> {
  const startedAt = performance.now();
  const d = prepare(data);
  let meanT = 0;
  for (let i = 0; i < d.n; i++) meanT += d.weight[i]! * d.T[i]!;
  const start = [0, Math.log(startingAlpha(d)), 0, Math.log(Math.max(meanT / d.totalWeight, 1e-3))];
  return fitLogParameters<ParetoNbdParams>('fitParetoNbd', ['r', 'alpha', 's', 'beta'], start, (params, gradient) => logLikelihood(d, params, gradient), { totalWeight: d.totalWeight, rows: d.n }, options, startedAt);
}

// ---------------------------------------------------------------------------
// Predictions
// ---------------------------------------------------------------------------

/** ln(1 + eᶻ) without overflow. */
function softplus(z: number): number {
  return z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
}

/**
 * ln of the "dead" odds ℓ₂ − ℓ₁ = ln[s/(r+s+x) · (α+T)^(r+x) (β+T)^s · A₀] (−∞ when t_x = T), so
 * that P(alive) = 1 / (1 + e^this) (Fader & Hardie 2014, eq. 18 and 19).
 */
function logDeadOdds(params: ParetoNbdParams, x: number, tx: number, T: number): number {
  if (!(tx < T)) return -Infinity;
  const { r, alpha, s, beta } = params;
  const ljx = logJ(r, alpha, s, beta, x, tx);
  const q = Math.exp(logJ(r, alpha, s, beta, x, T) - ljx);
  if (!(q < 1)) return Number.isNaN(q) ? NaN : -Infinity;
  const rx = r + x;
  return Math.log(s) - Math.log(rx + s) + ljx + Math.log1p(-q) + rx * Math.log(alpha + T) + s * Math.log(beta + T);
}

function probabilityAliveScalar(params: ParetoNbdParams, x: number, tx: number, T: number): number {
  const z = logDeadOdds(params, x, tx, T);
  return z === -Infinity ? 1 : Math.exp(-softplus(z));
}

/**
 * P(alive | x, t_x, T) = 1 / (1 + s/(r+s+x) · (α+T)^(r+x) (β+T)^s · A₀) (Fader & Hardie, "Computing
 * P(alive) Using the Pareto/NBD Model", eq. 19), in logs (no overflow for x in the thousands; 1
 * when t_x = T). Scalar, or vectorised over arrays (returns a Float64Array).
 */
export function probabilityAlive(params: ParetoNbdParams, x: number, tx: number, T: number): number;
export function probabilityAlive(params: ParetoNbdParams, x: ArrayLike<number>, tx: ArrayLike<number>, T: ArrayLike<number>): Float64Array;
export function probabilityAlive(
  params: ParetoNbdParams,
  x: number | ArrayLike<number>,
  tx: number | ArrayLike<number>,
  T: number | ArrayLike<number>,
): number | Float64Array {
  if (typeof x === 'number' && typeof tx === 'number' && typeof T === 'number') return probabilityAliveScalar(params, x, tx, T);
  const [xs, txs, Ts] = broadcast('Pareto/NBD', x, tx, T);
  const out = new Float64Array(xs.length);
  for (let i = 0; i < xs.length; i++) out[i] = probabilityAliveScalar(params, xs[i]!, txs[i]!, Ts[i]!);
  return out;
}

/**
 * ln of [1 − (b/(b+t))^(s−1)] / (s−1) = ln[L · φ((s−1)L)] with L = ln(1 + t/b) and
 * φ(y) = (1 − e^−y)/y (φ(0) = 1): the s = 1 limit, L, comes out with no special case and no
 * cancellation near s = 1.
 */
function logLifetimeFactor(s: number, b: number, t: number): number {
  const L = Math.log1p(t / b);
  const y = (s - 1) * L;
  const phi = Math.abs(y) < 1e-8 ? 1 - y / 2 : -Math.expm1(-y) / y;
  return Math.log(L) + Math.log(phi);
}

/**
 * ln E[Y(t) | alive at T, x]: λ ~ Gamma(r+x, α+T), μ ~ Gamma(s, β+T) a posteriori, and
 * E[Y(t)] = E[λ/μ (1 − e^−μt)] = (r+x)/(α+T) · (β+T) · [1 − ((β+T)/(β+T+t))^(s−1)]/(s−1).
 */
function logAliveExpectation(params: ParetoNbdParams, t: number, x: number, T: number): number {
  const { r, alpha, s, beta } = params;
  return Math.log(r + x) - Math.log(alpha + T) + Math.log(beta + T) + logLifetimeFactor(s, beta + T, t);
}

function conditionalScalar(params: ParetoNbdParams, t: number, x: number, tx: number, T: number): number {
  if (t === 0) return 0;
  return Math.exp(logAliveExpectation(params, t, x, T) - softplus(logDeadOdds(params, x, tx, T)));
}

/**
 * Expected number of purchases in (T, T+t] for a customer with history (x, t_x, T) (Fader & Hardie
 * 2005 note, eq. 22; SMC 1987):
 *
 *   (r+x)(β+T) / ((α+T)(s−1)) · [1 − ((β+T)/(β+T+t))^(s−1)] · P(alive | x, t_x, T),
 *
 * for s ≠ 1, and its limit (r+x)(β+T)/(α+T) · ln((β+T+t)/(β+T)) · P(alive) at s = 1 (both through
 * one expression without cancellation, see `logLifetimeFactor`). Returns 0 for t = 0. Scalar, or
 * vectorised over arrays of x, t_x, T (a Float64Array).
 */
export function conditionalExpectedPurchases(params: ParetoNbdParams, t: number, x: number, tx: number, T: number): number;
export function conditionalExpectedPurchases(
  params: ParetoNbdParams,
  t: number,
  x: ArrayLike<number>,
  tx: ArrayLike<number>,
  T: ArrayLike<number>,
): Float64Array;
export function conditionalExpectedPurchases(
  params: ParetoNbdParams,
  t: number,
  x: number | ArrayLike<number>,
  tx: number | ArrayLike<number>,
  T: number | ArrayLike<number>,
): number | Float64Array {
  if (typeof x === 'number' && typeof tx === 'number' && typeof T === 'number') return conditionalScalar(params, t, x, tx, T);
  const [xs, txs, Ts] = broadcast('Pareto/NBD', x, tx, T);
  const out = new Float64Array(xs.length);
  if (t === 0) return out;
  for (let i = 0; i < xs.length; i++) out[i] = conditionalScalar(params, t, xs[i]!, txs[i]!, Ts[i]!);
  return out;
}

/**
 * Expected number of purchases by a new customer in (0, t] (Fader & Hardie 2005 note, eq. 17):
 *   rβ / (α(s−1)) · [1 − (β/(β+t))^(s−1)]   (rβ/α · ln(1 + t/β) at s = 1).
 * Scalar, or vectorised over t (a Float64Array).
 */
export function expectedPurchasesNewCustomer(params: ParetoNbdParams, t: number): number;
export function expectedPurchasesNewCustomer(params: ParetoNbdParams, t: ArrayLike<number>): Float64Array;
export function expectedPurchasesNewCustomer(params: ParetoNbdParams, t: number | ArrayLike<number>): number | Float64Array {
  const one = (ti: number): number => (ti === 0 ? 0 : Math.exp(logAliveExpectation(params, ti, 0, 0)));
  if (typeof t === 'number') return one(t);
  const out = new Float64Array(t.length);
  for (let i = 0; i < t.length; i++) out[i] = one(t[i]!);
  return out;
}

/**
 * P(at least one purchase in (T, T+t] | x, t_x, T). None in (T, T+t] is the history (x, t_x, T+t),
 * so its probability is the ratio of the individual likelihoods L(x, t_x, T+t) / L(x, t_x, T)
 * (Fader & Hardie 2005 note, eq. 3):
 *   L(T) ∝ (α+T)^−(r+x) (β+T)^−s + s/(r+s+x) · (J(t_x) − J(T)),
 * with J as in `logJ`. In logs (x in the thousands, CLVTools' case, stays finite); vectorised.
 */
export function probabilityOfPurchase(params: ParetoNbdParams, t: number, x: ArrayLike<number>, tx: ArrayLike<number>, T: ArrayLike<number>): Float64Array {
  const { r, alpha, s, beta } = params;
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const [xi, txi] = [x[i]!, tx[i]!];
    const ljx = logJ(r, alpha, s, beta, xi, txi);
    const logK = Math.log(s) - Math.log(r + s + xi);
    const logL = (end: number) => {
      const alive = -(r + xi) * Math.log(alpha + end) - s * Math.log(beta + end);
      const q = Math.exp(logJ(r, alpha, s, beta, xi, end) - ljx);
      const died = q < 1 ? logK + ljx + Math.log1p(-q) : -Infinity;
      return Math.max(alive, died) + Math.log1p(Math.exp(-Math.abs(alive - died)));
    };
    out[i] = t === 0 ? 0 : -Math.expm1(logL(T[i]! + t) - logL(T[i]!));
  }
  return out;
}
