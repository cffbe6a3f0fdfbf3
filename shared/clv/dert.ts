/**
 * Discounted expected residual transactions (DERT) in continuous time, for the Pareto/NBD and the
 * BG/NBD models:
 *
 *   DERT(δ | x, t_x, T) = ∫₀^∞ E[transaction rate at T+t | x, t_x, T] · e^{−δt} dt
 *                       = ∫₀^∞ δ e^{−δt} E[Y(t) | x, t_x, T] dt        (integration by parts, Y(0) = 0),
 *
 * with δ the continuously compounded discount rate per time unit of the model (a 15 % annual rate on
 * weekly data is δ = ln(1.15)/52). Residual CLV = DERT × expected spend per transaction (Fader,
 * Hardie & Lee 2005, "RFM and CLV: Using Iso-value Curves for Customer Base Analysis", JMR 42(4),
 * 415–430, eq. 2).
 *
 * Pareto/NBD — closed form (FHL 2005, appendix eq. A6; BTYD `pnbd.DERT`, CLVTools `pnbd_DERT`):
 *
 *   DERT = α^r β^s δ^{s−1} Γ(r+x+1) U(s, s; δ(β+T)) / [Γ(r) (α+T)^{r+x+1} L(r, α, s, β | x, t_x, T)],
 *
 * L the customer's likelihood and U Tricomi's confluent hypergeometric function. Why: given alive at
 * T, λ ~ Gamma(r+x, α+T) and μ ~ Gamma(s, β+T) independently, and ∫₀^∞ λ e^{−μt} e^{−δt} dt =
 * λ/(μ+δ), so DERT = P(alive) · (r+x)/(α+T) · E[1/(μ+δ)]. With B = β+T, z = δB and μ = δu,
 *
 *   E[1/(μ+δ)] = B^s/Γ(s) ∫₀^∞ μ^{s−1} e^{−Bμ} / (μ+δ) dμ = B^s δ^{s−1} · (1/Γ(s)) ∫₀^∞ u^{s−1} (1+u)^{−1} e^{−zu} du
 *              = B^s δ^{s−1} U(s, s; z)                                            (DLMF 13.4.4, a = b = s),
 *
 * and P(alive) = Γ(r+x) α^r β^s (α+T)^{−(r+x)} (β+T)^{−s} / (Γ(r) L) gives A6. For U with equal
 * parameters we use DLMF 8.5.3 (equivalently 13.6.6 via Kummer's transformation U(a,b,z) =
 * z^{1−b} U(a−b+1, 2−b, z)):
 *
 *   U(s, s; z) = e^z Γ(1−s, z) = e^z z^{1−s} E_s(z),   E_s(z) = ∫₁^∞ e^{−zt} t^{−s} dt
 *
 * (so U(s, s; z) = e^z ∫₁^∞ e^{−zt} t^{−s} dt holds only at s = 1; check: U(a, b; z) ~ z^{−a} for
 * large z, and e^z Γ(1−s, z) ~ z^{−s}). Hence E[1/(μ+δ)] = B e^z E_s(z), which tends to the prior-free
 * B/(s−1) = E[1/μ] as δ → 0 when s > 1. Everything is combined in logs: 1−s ranges over (−9, 1)
 * for s ∈ (0, 10), and Γ(1−s, z) itself under- or overflows (z = 10³, or z → 0 with s large), see
 * {@link logUpperIncompleteGamma}.
 *
 * BG/NBD — no simple closed form; the second integral above, with E[Y(t) | …] the model's
 * conditional expectation (`conditionalExpectedPurchases` of `bgnbd.ts`), by Gauss–Legendre
 * quadrature after the change of variable t = A(e^v − 1), A = α+T, on v ∈ [0, ln(1 + 50/(δA))]
 * (the part beyond weighs < e^{−50}). Why not Gauss–Laguerre in u = δt: E[Y(t)] varies on the time
 * scale A of the posterior, which is ≪ 1/δ for usual discount rates (δA ≈ 0.1 on CDNOW), so
 * the integrand in u has a singularity at u = −δA, next to the origin; Laguerre then converges
 * slowly (relative error 1e-6 to 2e-5 with 64 nodes, 2e-6 with 128 on CDNOW customers), while in v
 * the integrand is entire and smooth on the scale 1, and 32 Legendre nodes already agree with 128
 * to 1e-15. The default is 64 nodes.
 *
 * @module
 */
import { conditionalExpectedPurchases as bgNbdConditional, probabilityAlive as bgNbdAlive, type BgNbdParams } from './bgnbd.js';
import { broadcast } from './frequency-data.js';
import type { ParetoNbdParams } from './pareto-nbd.js';
import { lgamma, logHyp2f1, scaledUpperGammaCF } from './special.js';

const EULER_GAMMA = 0.5772156649015329;
const EPS = 1e-16;

// ---------------------------------------------------------------------------------------------
// Upper incomplete gamma function
// ---------------------------------------------------------------------------------------------


/**
 * Γ(a0, z) for a0 ∈ [−½, 1), 0 < z < 1 (Temme's form of the series, no cancellation as a0 → 0;
 * valid for a0 > −1 by analytic continuation in a0):
 *   Γ(a0, z) = [(Γ(1+a0) − 1) − (z^{a0} − 1)]/a0 − z^{a0} Σ_{n≥1} (−z)^n / (n! (a0+n)),
 * the bracket over a0 with the limit −γ − ln z at a0 = 0 (so Γ(0, z) = E₁(z) = −γ − ln z − Σ…).
 * Both differences are formed with expm1 from ln Γ(1+a0) and a0 ln z, each accurate relative to a0.
 * a0 is first rounded to the grid of 1 + a0 (an absolute change < 1.2e-16, harmless since Γ(a, z) is
 * smooth in a) so that ln Γ(1 + a0) refers to the same a0 as the other terms.
 */
function upperGammaSmallZ(a0: number, z: number): number {
  const a = 1 + a0 - 1;
  const L = Math.log(z);
  let head: number;
  if (a === 0) {
    head = -EULER_GAMMA - L;
  } else {
    head = (Math.expm1(lgamma(1 + a)) - Math.expm1(a * L)) / a;
  }
  // Σ_{n≥1} (−z)^n / (n! (a+n)), alternating with terms decreasing from n = 1 on (z < 1).
  let term = 1; // (−z)^n / n!
  let sum = 0;
  for (let n = 1; n < 200; n++) {
    term *= -z / n;
    const t = term / (a + n);
    sum += t;
    if (Math.abs(t) <= EPS * Math.abs(sum)) break;
  }
  return head - Math.exp(a * L) * sum;
}

/**
 * ln g(a, z), g(a, z) = e^z z^{−a} Γ(a, z) > 0, for real a and z > 0.
 * - z ≥ 1: continued fraction.
 * - z < 1, a < 1: Γ(a0, z) at a0 = a + n ∈ [−½, ½] (n = round(−a); n = 0 and a0 = a when
 *   a ≥ −½), then downward in a by the recurrence Γ(b−1, z) = (Γ(b, z) − z^{b−1} e^{−z})/(b−1)
 *   (DLMF 8.8.2), in the scaled form g(b−1) = (1 − z·g(b))/(1−b), which never overflows. The
 *   difference equals (1−b) g(b−1) > 0; starting from b ≤ ½ (never from b near 1, where it would
 *   cancel: s slightly above an integer) it loses at most a couple of bits over the whole recursion.
 * - z < 1, a ≥ 1: Γ(a) − γ(a, z) with the power series of γ (no cancellation: γ(a, z) ≤ z^a/a).
 */
function logScaledUpperGamma(a: number, z: number): number {
  if (Number.isNaN(a) || Number.isNaN(z) || z < 0) return NaN;
  if (z === Infinity) return -Math.log(z); // g ~ 1/z
  if (z === 0) return Infinity; // z^{−a} Γ(a) (a > 0) or Γ(a, 0) = ∞ (a ≤ 0)
  if (z >= 1) return Math.log(scaledUpperGammaCF(a, z, EPS, 5000));
  if (a >= 1) {
    // γ(a, z) = z^a e^{−z} Σ_{n≥0} z^n / (a (a+1) … (a+n)) (DLMF 8.7.1 rearranged).
    let term = 1 / a;
    let sum = term;
    for (let n = 1; n < 200; n++) {
      term *= z / (a + n);
      sum += term;
      if (term <= EPS * sum) break;
    }
    const lg = lgamma(a);
    const p = Math.exp(a * Math.log(z) - z + Math.log(sum) - lg); // γ/Γ ∈ (0, 1)
    return z - a * Math.log(z) + lg + Math.log1p(-p);
  }
  // a0 = a + n ∈ [−½, ½] (or a itself when a ∈ [−½, 1)): 1 − b ≥ ½ in every recurrence step below.
  const n = a < -0.5 ? Math.round(-a) : 0;
  let b = a + n;
  let g = Math.exp(z - b * Math.log(z)) * upperGammaSmallZ(b, z);
  for (let k = 0; k < n; k++) {
    g = (1 - z * g) / (1 - b);
    b -= 1;
  }
  return Math.log(g);
}

/**
 * ln Γ(a, z), the log of the upper incomplete gamma function Γ(a, z) = ∫_z^∞ t^{a−1} e^{−t} dt, for
 * real a (any sign; Γ(a, z) > 0 for z > 0) and z > 0. Accurate to ~1e-14 relative on a ∈ (−9, 1],
 * z ∈ [1e-6, 1e3] (the range Pareto/NBD DERT needs, a = 1−s); finite where Γ itself under- or
 * overflows (e.g. ln Γ(0.5, 1e3) ≈ −1003.45).
 *
 * Method: continued fraction for z ≥ 1; for z < 1, Temme's series at a0 = a + round(−a) ∈ [−½, ½] (no
 * cancellation as a0 → 0, including Γ(0, z) = E₁(z)) and the recurrence in a down to a
 * (see `logScaledUpperGamma`). Returns +∞ at z = 0 for a ≤ 0, NaN for z < 0.
 *
 * @example Math.exp(logUpperIncompleteGamma(0, 1)) // ≈ 0.21938393439552 (E₁(1))
 */
export function logUpperIncompleteGamma(a: number, z: number): number {
  if (z === 0) return a > 0 ? lgamma(a) : Infinity;
  return logScaledUpperGamma(a, z) - z + a * Math.log(z);
}

/** Γ(a, z) = exp({@link logUpperIncompleteGamma}(a, z)) (under- or overflows to 0 / ∞ where it must). */
export function upperIncompleteGamma(a: number, z: number): number {
  return Math.exp(logUpperIncompleteGamma(a, z));
}

/**
 * ln U(s, s; z), Tricomi's confluent hypergeometric function with equal parameters, for s real and
 * z > 0: U(s, s; z) = e^z Γ(1−s, z) (DLMF 8.5.3), i.e. ln U = (1−s) ln z + ln g(1−s, z) with
 * g(a, z) = e^z z^{−a} Γ(a, z). No overflow for large z (U ~ z^{−s}).
 *
 * @example Math.exp(logTricomiUss(1, 1)) // ≈ 0.5963473623231940 (e·E₁(1))
 */
export function logTricomiUss(s: number, z: number): number {
  const a = 1 - s;
  if (z === 0) return a > 0 ? lgamma(a) : Infinity;
  return a * Math.log(z) + logScaledUpperGamma(a, z);
}

// ---------------------------------------------------------------------------------------------
// Pareto/NBD
// ---------------------------------------------------------------------------------------------

function checkDelta(delta: number): void {
  if (!(Number.isFinite(delta) && delta > 0)) throw new RangeError(`DERT: the discount rate delta must be finite and > 0 (got ${delta})`);
}

function checkParams(model: string, p: Record<string, number>): void {
  for (const [k, v] of Object.entries(p)) {
    if (!(Number.isFinite(v) && v > 0)) throw new RangeError(`${model} DERT: parameter ${k} must be finite and > 0 (got ${v})`);
  }
}

/** ln(1 + eᶻ) without overflow (softplus(−∞) = 0). */
function softplus(z: number): number {
  return z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
}

/**
 * ln J(t) = ln[(r+s+x) ∫_t^∞ (α+τ)^{−(r+x)} (β+τ)^{−(s+1)} dτ]
 *         = −(r+s+x) ln(M+t) + ln ₂F₁(r+s+x, B; r+s+x+1; |α−β|/(M+t)),
 * M = α, B = s+1 if α ≥ β, else M = β, B = r+x (Fader & Hardie 2005 note 009, eq. 7 — the same
 * branches as `pareto-nbd.ts`, so the ₂F₁ argument is in [0, 1)).
 */
function logJ(p: ParetoNbdParams, x: number, t: number): number {
  const { r, alpha, s, beta } = p;
  const c = r + s + x;
  if (alpha >= beta) return -c * Math.log(alpha + t) + logHyp2f1(c, s + 1, c + 1, (alpha - beta) / (alpha + t));
  return -c * Math.log(beta + t) + logHyp2f1(c, r + x, c + 1, (beta - alpha) / (beta + t));
}

/**
 * Pieces of the customer's log-likelihood ln L = C + ℓ₁ + softplus(ℓ₂ − ℓ₁), with
 * C = ln Γ(r+x) − ln Γ(r) + r ln α + s ln β, ℓ₁ = −(r+x) ln(α+T) − s ln(β+T) and
 * ℓ₂ = ln s − ln(r+s+x) + ln[J(t_x) − J(T)] (−∞ when t_x = T). Returned: ℓ₂ − ℓ₁.
 */
function logDeadOdds(p: ParetoNbdParams, x: number, T: number, ljx: number, ljT: number): number {
  if (ljx === -Infinity) return -Infinity;
  const q = Math.exp(ljT - ljx);
  if (!(q < 1)) return Number.isNaN(q) ? NaN : -Infinity;
  const rx = p.r + x;
  return Math.log(p.s) - Math.log(rx + p.s) + ljx + Math.log1p(-q) + rx * Math.log(p.alpha + T) + p.s * Math.log(p.beta + T);
}

/**
 * ln DERT from eq. A6 with the constant C of ln L cancelled analytically:
 *   ln DERT = ln(r+x) − ln(α+T) + s ln(β+T) + (s−1) ln δ + ln U(s, s; δ(β+T)) − softplus(ℓ₂ − ℓ₁)
 * (= ln Γ(r+x+1) − ln Γ(r) + r ln α + s ln β + (s−1) ln δ + ln U − (r+x+1) ln(α+T) − ln L).
 */
function paretoLogDert(p: ParetoNbdParams, delta: number, x: number, T: number, logU: number, deadOdds: number): number {
  return Math.log(p.r + x) - Math.log(p.alpha + T) + p.s * Math.log(p.beta + T) + (p.s - 1) * Math.log(delta) + logU - softplus(deadOdds);
}

/**
 * The Pareto/NBD log-likelihood of one customer, ln L(r, α, s, β | x, t_x, T) (Fader & Hardie 2005
 * note 009, eq. 7, in logs): the quantity in the denominator of eq. A6. Equals
 * `paretoNbdLogLikelihood(params, oneRowSummary)` of `pareto-nbd.ts` (checked in the tests).
 */
export function paretoNbdCustomerLogLikelihood(params: ParetoNbdParams, x: number, tx: number, T: number): number {
  const { r, alpha, s, beta } = params;
  const ljx = tx < T ? logJ(params, x, tx) : -Infinity;
  const ljT = logJ(params, x, T);
  const l1 = -(r + x) * Math.log(alpha + T) - s * Math.log(beta + T);
  const c = lgamma(r + x) - lgamma(r) + r * Math.log(alpha) + s * Math.log(beta);
  return c + l1 + softplus(logDeadOdds(params, x, T, ljx, ljT));
}

function paretoNbdDertScalar(params: ParetoNbdParams, delta: number, x: number, tx: number, T: number): number {
  const ljx = tx < T ? logJ(params, x, tx) : -Infinity;
  const ljT = ljx === -Infinity ? 0 : logJ(params, x, T);
  const logU = logTricomiUss(params.s, delta * (params.beta + T));
  return Math.exp(paretoLogDert(params, delta, x, T, logU, logDeadOdds(params, x, T, ljx, ljT)));
}

/** Memo keyed by two numbers (nested Maps: the values are exact doubles). */
function memo2(f: (u: number, v: number) => number): (u: number, v: number) => number {
  const outer = new Map<number, Map<number, number>>();
  return (u, v) => {
    let inner = outer.get(u);
    if (inner === undefined) {
      inner = new Map();
      outer.set(u, inner);
    }
    let val = inner.get(v);
    if (val === undefined) {
      val = f(u, v);
      inner.set(v, val);
    }
    return val;
  };
}

/**
 * Pareto/NBD discounted expected residual transactions (FHL 2005, eq. A6; see the module comment):
 *
 *   DERT = α^r β^s δ^{s−1} Γ(r+x+1) U(s, s; δ(β+T)) / [Γ(r) (α+T)^{r+x+1} L(r, α, s, β | x, t_x, T)]
 *        = P(alive) · (r+x)/(α+T) · (β+T)^s δ^{s−1} e^{δ(β+T)} Γ(1−s, δ(β+T)),
 *
 * computed in logs (finite for x in the thousands, s ∈ (0, 10), δ(β+T) ∈ [1e-6, 1e3]). `delta` is the
 * continuously compounded discount rate per model time unit (must be > 0; ln(1.15)/52 for 15 % a
 * year on weekly data). Scalar, or vectorised over arrays of x, t_x, T (a number stands for every
 * customer; returns a Float64Array), with ln J cached per distinct (x, t) and U per distinct T.
 * Throws RangeError for δ ≤ 0 or non-positive parameters.
 */
export function paretoNbdDert(params: ParetoNbdParams, delta: number, x: number, tx: number, T: number): number;
export function paretoNbdDert(
  params: ParetoNbdParams,
  delta: number,
  x: number | ArrayLike<number>,
  tx: number | ArrayLike<number>,
  T: number | ArrayLike<number>,
): Float64Array;
export function paretoNbdDert(
  params: ParetoNbdParams,
  delta: number,
  x: number | ArrayLike<number>,
  tx: number | ArrayLike<number>,
  T: number | ArrayLike<number>,
): number | Float64Array {
  checkDelta(delta);
  checkParams('Pareto/NBD', { r: params.r, alpha: params.alpha, s: params.s, beta: params.beta });
  if (typeof x === 'number' && typeof tx === 'number' && typeof T === 'number') return paretoNbdDertScalar(params, delta, x, tx, T);
  const [xs, txs, Ts] = broadcast('Pareto/NBD DERT', x, tx, T);
  const n = xs.length;
  const out = new Float64Array(n);
  const lj = memo2((xi, t) => logJ(params, xi, t));
  const logUByT = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const xi = xs[i]!;
    const txi = txs[i]!;
    const Ti = Ts[i]!;
    let logU = logUByT.get(Ti);
    if (logU === undefined) {
      logU = logTricomiUss(params.s, delta * (params.beta + Ti));
      logUByT.set(Ti, logU);
    }
    const ljx = txi < Ti ? lj(xi, txi) : -Infinity;
    const ljT = ljx === -Infinity ? 0 : lj(xi, Ti);
    out[i] = Math.exp(paretoLogDert(params, delta, xi, Ti, logU, logDeadOdds(params, xi, Ti, ljx, ljT)));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// BG/NBD
// ---------------------------------------------------------------------------------------------

/** Gauss–Legendre nodes and weights on [−1, 1] (Newton on the three-term recurrence). */
/** P_n(z) by the three-term recurrence, and P'_n(z) = n (z P_n − P_{n−1}) / (z² − 1). */
function legendre(n: number, z: number): [number, number] {
  let p1 = 1;
  let p2 = 0;
  for (let j = 1; j <= n; j++) {
    const p3 = p2;
    p2 = p1;
    p1 = ((2 * j - 1) * z * p2 - (j - 1) * p3) / j;
  }
  return [p1, (n * (z * p1 - p2)) / (z * z - 1)];
}

export function gaussLegendre(n: number): { nodes: Float64Array; weights: Float64Array } {
  if (!(Number.isInteger(n) && n >= 1)) throw new RangeError(`gaussLegendre: n must be a positive integer (got ${n})`);
  const nodes = new Float64Array(n);
  const weights = new Float64Array(n);
  const half = Math.ceil(n / 2);
  for (let i = 0; i < half; i++) {
    let z = Math.cos((Math.PI * (i + 0.75)) / (n + 0.5));
    for (let it = 0; it < 100; it++) {
      const [pn, pd] = legendre(n, z);
      const z1 = z;
      z = z1 - pn / pd;
      if (Math.abs(z - z1) <= 1e-15) break;
    }
    if (n % 2 === 1 && i === half - 1) z = 0;
    // P'_n at the converged node, for the weight.
    const pd = legendre(n, z)[1];
    const w = 2 / ((1 - z * z) * pd * pd);
    nodes[i] = -z;
    nodes[n - 1 - i] = z;
    weights[i] = w;
    weights[n - 1 - i] = w;
  }
  return { nodes, weights };
}

const RULES = new Map<number, { nodes: Float64Array; weights: Float64Array }>();
function rule(n: number): { nodes: Float64Array; weights: Float64Array } {
  let g = RULES.get(n);
  if (g === undefined) {
    g = gaussLegendre(n);
    RULES.set(n, g);
  }
  return g;
}

/** Mass of δ e^{−δt} dt beyond the truncation point: e^{−TAIL}. */
const TAIL = 50;

/**
 * Nodes t_k and weights W_k with Σ W_k f(t_k) ≈ ∫₀^∞ δ e^{−δt} f(t) dt for f varying on the time scale
 * A: t = A(e^v − 1), v ∈ [0, V], V = ln(1 + TAIL/(δA)), Gauss–Legendre in v, so
 * W_k = w_k V/2 · δA e^{v_k} e^{−δ t_k}.
 */
function discountRule(delta: number, A: number, n: number): { t: Float64Array; w: Float64Array } {
  const g = rule(n);
  const V = Math.log1p(TAIL / (delta * A));
  const t = new Float64Array(n);
  const w = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const v = ((g.nodes[k]! + 1) * V) / 2;
    const tk = A * Math.expm1(v);
    t[k] = tk;
    w[k] = ((g.weights[k]! * V) / 2) * delta * A * Math.exp(v - delta * tk);
  }
  return { t, w };
}

/** ∫₀^∞ δ e^{−δt} E[Y(t) | x, t_x, T] dt by the rule above (E from `bgnbd.ts`). */
function bgNbdDertScalar(params: BgNbdParams, delta: number, x: number, tx: number, T: number, n: number): number {
  const q = discountRule(delta, params.alpha + T, n);
  let sum = 0;
  for (let k = 0; k < n; k++) sum += q.w[k]! * bgNbdConditional(params, q.t[k]!, x, tx, T);
  return sum;
}

export interface BgNbdDertOptions {
  /** Gauss–Legendre nodes in v = ln(1 + t/(α+T)) (default 64; 32 already agree to ~1e-14 on CDNOW). */
  nodes?: number;
}

/**
 * BG/NBD discounted expected residual transactions, ∫₀^∞ δ e^{−δt} E[Y(t) | x, t_x, T] dt with
 * E[Y(t) | …] = `conditionalExpectedPurchases` of `bgnbd.ts` (FHL 2005 "Counting your customers the
 * easy way", eq. 10), by Gauss–Legendre quadrature in v = ln(1 + t/(α+T)) (module comment).
 * `delta` as for {@link paretoNbdDert}. Scalar, or vectorised over arrays (Float64Array): the
 * integral of the alive part depends on (x, T) only and is computed once per distinct pair as
 * S(x, T) = DERT(x, t_x = T, T) / P(alive | x, T, T), then DERT_i = S · P(alive | x_i, t_x,i, T_i)
 * (P(alive | x, T, T) = (b+x−1)/(a+b+x−1) ≥ (b)/(a+b) is far from 0, so the ratio is exact to rounding).
 * Throws RangeError for δ ≤ 0 or non-positive parameters.
 */
export function bgNbdDert(params: BgNbdParams, delta: number, x: number, tx: number, T: number, options?: BgNbdDertOptions): number;
export function bgNbdDert(
  params: BgNbdParams,
  delta: number,
  x: number | ArrayLike<number>,
  tx: number | ArrayLike<number>,
  T: number | ArrayLike<number>,
  options?: BgNbdDertOptions,
): Float64Array;
export function bgNbdDert(
  params: BgNbdParams,
  delta: number,
  x: number | ArrayLike<number>,
  tx: number | ArrayLike<number>,
  T: number | ArrayLike<number>,
  options: BgNbdDertOptions = {},
): number | Float64Array {
  checkDelta(delta);
  checkParams('BG/NBD', { r: params.r, alpha: params.alpha, a: params.a, b: params.b });
  const nodes = options.nodes ?? 64;
  if (!(Number.isInteger(nodes) && nodes >= 2)) throw new RangeError(`BG/NBD DERT: nodes must be an integer >= 2 (got ${nodes})`);
  if (typeof x === 'number' && typeof tx === 'number' && typeof T === 'number') return bgNbdDertScalar(params, delta, x, tx, T, nodes);
  const [xs, txs, Ts] = broadcast('BG/NBD DERT', x, tx, T);
  const n = xs.length;
  const alive = bgNbdAlive(params, xs, txs, Ts);
  const perPair = memo2((xi, Ti) => bgNbdDertScalar(params, delta, xi, Ti, Ti, nodes) / bgNbdAlive(params, xi, Ti, Ti));
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = alive[i]! * perPair(xs[i]!, Ts[i]!);
  return out;
}
