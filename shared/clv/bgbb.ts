/**
 * BG/BB model (Fader, Hardie & Shang 2010, "Customer-Base Analysis in a Discrete-Time
 * Noncontractual Setting", Marketing Science 29(6), 1086–1108; Hardie's BG/BB spreadsheet note,
 * http://brucehardie.com/notes/010/).
 *
 * Time is a sequence of discrete transaction opportunities 1, 2, …, n. A customer alive at an
 * opportunity transacts with probability p ~ Beta(α, β); at the beginning of each opportunity an
 * alive customer becomes inactive (for good) with probability θ ~ Beta(γ, δ). For a customer with x
 * transactions in the n opportunities, the last at opportunity t_x (x = t_x = 0 when none):
 *
 *   L = B(α+x, β+n−x)/B(α,β) · B(γ, δ+n)/B(γ,δ)
 *       + Σ_{i=0}^{n−t_x−1} B(α+x, β+t_x−x+i)/B(α,β) · B(γ+1, δ+t_x+i)/B(γ,δ)      (FHS 2010, eq. 5)
 *
 * (first term: still alive after opportunity n; term i: dropped out at the beginning of
 * opportunity t_x+i+1). Every beta ratio is a ratio of rising factorials, e.g.
 * B(α+x, β+m−x)/B(α,β) = (α)_x (β)_{m−x} / (α+β)_m, so the log-likelihood is built from cumulative
 * sums of ln(θ+j) (no lgamma cancellation for large parameters) and combined with a log-sum-exp;
 * the gradient uses the matching sums of 1/(θ+j) (= ψ(θ+k) − ψ(θ)).
 *
 * Fitted by maximum likelihood on (log α, log β, log γ, log δ) with the BFGS minimiser of
 * `optimize.ts`, on a compressed `BgBbSummary`.
 */
import { performance } from 'node:perf_hooks';
import { fitLogParameters } from './fit.js';
import { digamma } from './special.js';
import type { FitOptions, FitResult } from './types.js';

export interface BgBbParams {
  /** Beta(α, β): transaction probability p at each opportunity while alive. */
  alpha: number;
  beta: number;
  /** Beta(γ, δ): dropout probability θ at the beginning of each opportunity. */
  gamma: number;
  delta: number;
}

/**
 * Customers summarised for the BG/BB, compressed: one row per distinct (x, t_x, n) with the number
 * of customers having it (`weight`). All of x, t_x, n are integers (counts of opportunities):
 * - x: number of opportunities with a transaction ("frequency"), 0 ≤ x ≤ t_x;
 * - tx: the opportunity of the last transaction ("recency"; 0 when x = 0), x ≤ t_x ≤ n;
 * - n: number of opportunities observed ("periods").
 */
export interface BgBbSummary {
  x: Float64Array;
  tx: Float64Array;
  n: Float64Array;
  weight: Float64Array;
}

/**
 * Largest n accepted (the likelihood costs O(n) memory for its tables and O(n − t_x) per row): the
 * BG/BB is for discrete opportunities (years, months, weeks, at most days).
 */
export const MAX_OPPORTUNITIES = 1_000_000;

// ---------------------------------------------------------------------------
// Compression and validation
// ---------------------------------------------------------------------------

/**
 * Groups identical (x, t_x, n) triples: one row per distinct triple with the number of customers
 * having it as `weight`. Rows come out sorted by x, then t_x, then n. Does not validate (the fit
 * and the predictions do).
 */
export function compressBgBb(x: ArrayLike<number>, tx: ArrayLike<number>, n: ArrayLike<number>): BgBbSummary {
  const len = x.length;
  if (tx.length !== len || n.length !== len) throw new RangeError(`compressBgBb: lengths differ (x ${len}, tx ${tx.length}, n ${n.length})`);
  const order = new Uint32Array(len);
  for (let i = 0; i < len; i++) order[i] = i;
  order.sort((i, j) => x[i]! - x[j]! || tx[i]! - tx[j]! || n[i]! - n[j]!);
  const ox: number[] = [];
  const otx: number[] = [];
  const on: number[] = [];
  const ow: number[] = [];
  for (let k = 0; k < len; k++) {
    const i = order[k]!;
    const last = ox.length - 1;
    if (last >= 0 && ox[last] === x[i] && otx[last] === tx[i] && on[last] === n[i]) ow[last] = ow[last]! + 1;
    else {
      ox.push(x[i]!);
      otx.push(tx[i]!);
      on.push(n[i]!);
      ow.push(1);
    }
  }
  return { x: Float64Array.from(ox), tx: Float64Array.from(otx), n: Float64Array.from(on), weight: Float64Array.from(ow) };
}

/** Why (x, t_x, n) is not a valid BG/BB history, or null when it is. */
function historyProblem(x: number, tx: number, n: number): string | null {
  if (!(Number.isInteger(n) && n >= 0 && n <= MAX_OPPORTUNITIES)) return `n must be an integer in [0, ${MAX_OPPORTUNITIES}] (got ${n})`;
  if (!(Number.isInteger(x) && x >= 0)) return `x must be a non-negative integer (got ${x})`;
  if (!(Number.isInteger(tx) && tx >= 0)) return `tx must be a non-negative integer (got ${tx})`;
  if (!(x <= tx && tx <= n)) return `need 0 <= x <= tx <= n (got x ${x}, tx ${tx}, n ${n})`;
  if (x === 0 && tx !== 0) return `tx must be 0 when x = 0 (got tx ${tx})`;
  return null;
}

interface PreparedBgBb {
  rows: number;
  x: Float64Array;
  tx: Float64Array;
  n: Float64Array;
  weight: Float64Array;
  totalWeight: number;
  maxX: number;
  maxN: number;
}

function prepare(data: BgBbSummary): PreparedBgBb {
  const len = data.x.length;
  if (data.tx.length !== len || data.n.length !== len || data.weight.length !== len) {
    throw new RangeError('BgBbSummary: x, tx, n and weight must have the same length');
  }
  const keep: number[] = [];
  for (let i = 0; i < len; i++) {
    const w = data.weight[i]!;
    if (!(Number.isFinite(w) && w >= 0)) throw new RangeError(`BgBbSummary row ${i}: weight must be finite and >= 0 (got ${w})`);
    if (w === 0) continue;
    const problem = historyProblem(data.x[i]!, data.tx[i]!, data.n[i]!);
    if (problem !== null) throw new RangeError(`BgBbSummary row ${i}: ${problem}`);
    keep.push(i);
  }
  const k = keep.length;
  const out: PreparedBgBb = {
    rows: k,
    x: new Float64Array(k),
    tx: new Float64Array(k),
    n: new Float64Array(k),
    weight: new Float64Array(k),
    totalWeight: 0,
    maxX: 0,
    maxN: 0,
  };
  keep.forEach((i, j) => {
    out.x[j] = data.x[i]!;
    out.tx[j] = data.tx[i]!;
    out.n[j] = data.n[i]!;
    out.weight[j] = data.weight[i]!;
    out.totalWeight += data.weight[i]!;
    out.maxX = Math.max(out.maxX, data.x[i]!);
    out.maxN = Math.max(out.maxN, data.n[i]!);
  });
  return out;
}

// ---------------------------------------------------------------------------
// Rising-factorial tables
// ---------------------------------------------------------------------------

/**
 * L[k] = Σ_{j<k} ln(b+j) = ln Γ(b+k) − ln Γ(b) and R[k] = Σ_{j<k} 1/(b+j) = ψ(b+k) − ψ(b), for
 * k = 0 … length−1 (compensated sums).
 */
function rising(b: number, length: number, withReciprocals: boolean): { L: Float64Array; R: Float64Array } {
  const L = new Float64Array(length);
  const R = new Float64Array(withReciprocals ? length : 0);
  let s = 0;
  let cs = 0;
  let r = 0;
  let cr = 0;
  for (let k = 1; k < length; k++) {
    const v = Math.log(b + k - 1);
    const t = s + v;
    cs += Math.abs(s) >= Math.abs(v) ? s - t + v : v - t + s;
    s = t;
    L[k] = s + cs;
    if (withReciprocals) {
      const u = 1 / (b + k - 1);
      const q = r + u;
      cr += Math.abs(r) >= u ? r - q + u : u - q + r;
      r = q;
      R[k] = r + cr;
    }
  }
  return { L, R };
}

/** Rising-factorial tables for one parameter vector, valid for x ≤ maxX + 1 and n ≤ maxN + 1. */
interface Tables {
  params: BgBbParams;
  logGamma: number;
  /** ln (α)_k, ln (β)_k, ln (α+β)_k, ln (δ)_k, ln (γ+δ)_k and the matching Σ 1/(·+j). */
  A: Float64Array;
  RA: Float64Array;
  B: Float64Array;
  RB: Float64Array;
  AB: Float64Array;
  RAB: Float64Array;
  D: Float64Array;
  RD: Float64Array;
  GD: Float64Array;
  RGD: Float64Array;
  /** Scratch space for the log-likelihood terms of one row. */
  scratch: Float64Array;
}

function makeTables(params: BgBbParams, maxX: number, maxN: number, withReciprocals: boolean): Tables {
  const { alpha, beta, gamma, delta } = params;
  const a = rising(alpha, maxX + 2, withReciprocals);
  const b = rising(beta, maxN + 2, withReciprocals);
  const ab = rising(alpha + beta, maxN + 2, withReciprocals);
  const d = rising(delta, maxN + 2, withReciprocals);
  const gd = rising(gamma + delta, maxN + 2, withReciprocals);
  return {
    params,
    logGamma: Math.log(gamma),
    A: a.L,
    RA: a.R,
    B: b.L,
    RB: b.R,
    AB: ab.L,
    RAB: ab.R,
    D: d.L,
    RD: d.R,
    GD: gd.L,
    RGD: gd.R,
    scratch: new Float64Array(maxN + 1),
  };
}

/**
 * Writes the log-likelihood terms of one row into `tb.scratch` (index 0: alive after n; index
 * 1 + i: dropped out at opportunity t_x+i+1) and returns ln L (their log-sum-exp) and the count.
 */
function rowTerms(tb: Tables, x: number, tx: number, n: number): { logL: number; count: number } {
  const s = tb.scratch;
  const ax = tb.A[x]!;
  s[0] = ax + tb.B[n - x]! - tb.AB[n]! + tb.D[n]! - tb.GD[n]!;
  let max = s[0];
  let count = 1;
  for (let m = tx; m < n; m++) {
    const v = ax + tb.B[m - x]! - tb.AB[m]! + tb.logGamma + tb.D[m]! - tb.GD[m + 1]!;
    s[count++] = v;
    if (v > max) max = v;
  }
  if (!Number.isFinite(max)) return { logL: max, count };
  let sum = 0;
  for (let k = 0; k < count; k++) sum += Math.exp(s[k]! - max);
  return { logL: max + Math.log(sum), count };
}

// ---------------------------------------------------------------------------
// Log-likelihood and gradient
// ---------------------------------------------------------------------------

/**
 * Weighted log-likelihood Σ wᵢ ln Lᵢ and, when `grad` is given, its gradient with respect to
 * (log α, log β, log γ, log δ). With term weights ωₖ = Lₖ / L, ∂ ln L/∂θ = Σ ωₖ ∂ ln Lₖ/∂θ where, in
 * terms of R_b[k] = ψ(b+k) − ψ(b):
 *   alive term:       ∂α = R_α[x] − R_{α+β}[n],  ∂β = R_β[n−x] − R_{α+β}[n],
 *                     ∂γ = −R_{γ+δ}[n],          ∂δ = R_δ[n] − R_{γ+δ}[n];
 *   dropout at m+1:   ∂α = R_α[x] − R_{α+β}[m],  ∂β = R_β[m−x] − R_{α+β}[m],
 *                     ∂γ = 1/γ − R_{γ+δ}[m+1],   ∂δ = R_δ[m] − R_{γ+δ}[m+1]   (m = t_x+i).
 */
function logLikelihood(d: PreparedBgBb, params: BgBbParams, grad?: Float64Array): number {
  const tb = makeTables(params, d.maxX, d.maxN, grad !== undefined);
  const s = tb.scratch;
  const invGamma = 1 / params.gamma;
  let ll = 0;
  let ga = 0;
  let gb = 0;
  let gg = 0;
  let gd = 0;
  for (let i = 0; i < d.rows; i++) {
    const x = d.x[i]!;
    const tx = d.tx[i]!;
    const n = d.n[i]!;
    const w = d.weight[i]!;
    const { logL } = rowTerms(tb, x, tx, n);
    ll += w * logL;
    if (!grad || !Number.isFinite(logL)) continue;
    const ra = tb.RA[x]!;
    // Alive term.
    let om = Math.exp(s[0]! - logL);
    let da = om * (ra - tb.RAB[n]!);
    let db = om * (tb.RB[n - x]! - tb.RAB[n]!);
    let dg = -om * tb.RGD[n]!;
    let dd = om * (tb.RD[n]! - tb.RGD[n]!);
    for (let m = tx, k = 1; m < n; m++, k++) {
      om = Math.exp(s[k]! - logL);
      const rab = tb.RAB[m]!;
      const rgd = tb.RGD[m + 1]!;
      da += om * (ra - rab);
      db += om * (tb.RB[m - x]! - rab);
      dg += om * (invGamma - rgd);
      dd += om * (tb.RD[m]! - rgd);
    }
    ga += w * da;
    gb += w * db;
    gg += w * dg;
    gd += w * dd;
  }
  if (grad) {
    grad[0] = params.alpha * ga;
    grad[1] = params.beta * gb;
    grad[2] = params.gamma * gg;
    grad[3] = params.delta * gd;
  }
  return ll;
}

/**
 * Weighted log-likelihood of `data` at `params` (sum over customers) and, optionally, its gradient
 * with respect to (log α, log β, log γ, log δ). Exposed for tests and diagnostics.
 */
export function bgBbLogLikelihood(params: BgBbParams, data: BgBbSummary, gradient?: Float64Array): number {
  return logLikelihood(prepare(data), params, gradient);
}

/**
 * Fits the BG/BB model by maximum likelihood. The objective is the weighted *mean* negative
 * log-likelihood plus `penalizer · Σ (log θ)²` over θ = (α, β, γ, δ); `tolerance` (default 1e-6)
 * bounds its gradient norm with respect to the log-parameters. Start: α = β = γ = δ = 1 (uniform
 * priors). Throws `RangeError` on invalid rows (non-integer values, violations of
 * 0 ≤ x ≤ t_x ≤ n, t_x = 0 with x > 0, n > MAX_OPPORTUNITIES, negative weights) or when no row has
 * a positive weight; a failed optimisation is reported through `converged = false` and `message`.
 */
export function fitBgBb(data: BgBbSummary, options: FitOptions = {}): FitResult<BgBbParams> {
  const startedAt = performance.now();
  const d = prepare(data);
  return fitLogParameters<BgBbParams>('fitBgBb', ['alpha', 'beta', 'gamma', 'delta'], [0, 0, 0, 0], (params, gradient) => logLikelihood(d, params, gradient), { totalWeight: d.totalWeight, rows: d.rows }, options, startedAt);
}

// ---------------------------------------------------------------------------
// Predictions
// ---------------------------------------------------------------------------

function checkParams(params: BgBbParams, where: string): void {
  for (const k of ['alpha', 'beta', 'gamma', 'delta'] as const) {
    const v = params[k];
    if (!(Number.isFinite(v) && v > 0)) throw new RangeError(`${where}: ${k} must be finite and > 0 (got ${v})`);
  }
}

function checkHistory(x: number, tx: number, n: number, where: string): void {
  const problem = historyProblem(x, tx, n);
  if (problem !== null) throw new RangeError(`${where}: ${problem}`);
}

/** Columns of equal length from scalars or arrays (scalars are broadcast). */
function columns(where: string, ...cols: (number | ArrayLike<number>)[]): ArrayLike<number>[] {
  let len = 1;
  for (const c of cols) if (typeof c !== 'number') len = c.length;
  return cols.map((c, k) => {
    if (typeof c === 'number') return new Float64Array(len).fill(c);
    if (c.length !== len) throw new RangeError(`${where}: argument ${k + 1} has ${c.length} values, expected ${len}`);
    return c;
  });
}

/** Checked histories as columns (scalars broadcast), and whether all three came as scalars. */
function histories(where: string, x: number | ArrayLike<number>, tx: number | ArrayLike<number>, n: number | ArrayLike<number>) {
  const [xs, txs, ns] = columns(where, x, tx, n) as [ArrayLike<number>, ArrayLike<number>, ArrayLike<number>];
  for (let i = 0; i < xs.length; i++) checkHistory(xs[i]!, txs[i]!, ns[i]!, where);
  return { xs, txs, ns, scalar: typeof x === 'number' && typeof tx === 'number' && typeof n === 'number' };
}

function maxOf(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) if (values[i]! > m) m = values[i]!;
  return m;
}

/** ln P(alive at opportunity n+1 | x, t_x, n) = ln[B(α+x, β+n−x)/B(α,β) · B(γ, δ+n+1)/B(γ,δ)] − ln L. */
function logAlive(tb: Tables, x: number, tx: number, n: number): number {
  const { logL } = rowTerms(tb, x, tx, n);
  return tb.A[x]! + tb.B[n - x]! - tb.AB[n]! + tb.D[n + 1]! - tb.GD[n + 1]! - logL;
}

/**
 * P(alive at opportunity n+1 | x, t_x, n) (FHS 2010, eq. 11):
 *   B(α+x, β+n−x)/B(α,β) · B(γ, δ+n+1)/B(γ,δ) / L(α, β, γ, δ | x, t_x, n),
 * in log space. Scalar, or vectorised over arrays (scalars broadcast; returns a Float64Array).
 * Throws `RangeError` on invalid parameters or histories (as `fitBgBb`).
 */
export function probabilityAlive(params: BgBbParams, x: number, tx: number, n: number): number;
export function probabilityAlive(
  params: BgBbParams,
  x: number | ArrayLike<number>,
  tx: number | ArrayLike<number>,
  n: number | ArrayLike<number>,
): Float64Array;
export function probabilityAlive(
  params: BgBbParams,
  x: number | ArrayLike<number>,
  tx: number | ArrayLike<number>,
  n: number | ArrayLike<number>,
): number | Float64Array {
  const where = 'BG/BB probabilityAlive';
  checkParams(params, where);
  const { xs, txs, ns, scalar } = histories(where, x, tx, n);
  const tb = makeTables(params, maxOf(xs), maxOf(ns), false);
  const out = new Float64Array(xs.length);
  for (let i = 0; i < xs.length; i++) out[i] = Math.min(1, Math.max(0, Math.exp(logAlive(tb, xs[i]!, txs[i]!, ns[i]!))));
  return scalar ? out[0]! : out;
}

/** 8-point Gauss–Legendre nodes and weights on [−1, 1]. */
const GL_NODES = [-0.9602898564975363, -0.7966664774136267, -0.5255324099163290, -0.1834346424956498, 0.1834346424956498, 0.5255324099163290, 0.7966664774136267, 0.9602898564975363];
const GL_WEIGHTS = [0.1012285362903763, 0.2223810344533745, 0.3137066458778873, 0.3626837833783620, 0.3626837833783620, 0.3137066458778873, 0.2223810344533745, 0.1012285362903763];

/**
 * The slope S = [D(γ) − D(1)] / (γ − 1) with D(s) = ln Γ(s+c+n*) − ln Γ(s+c), c = δ + n, i.e. the
 * mean of f(s) = ψ(s+c+n*) − ψ(s+c) over s between 1 and γ (f(1) when γ = 1). Computed by
 * Gauss–Legendre quadrature on panels [w, 2w] in w = s + c (f is analytic for w > 0 and its
 * singularity at w = 0 stays 3 half-widths away from every panel's centre), so there is no
 * cancellation as γ → 1 and no removable singularity at γ = 1.
 */
function meanDigammaDifference(gamma: number, c: number, nStar: number): number {
  const f = (w: number): number => digamma(w + nStar) - digamma(w);
  const lo = Math.min(1, gamma) + c;
  const hi = Math.max(1, gamma) + c;
  // γ = 1, or γ so close to 1 that 1 + c and γ + c coincide in floating point.
  if (!(hi > lo)) return f(lo);
  let total = 0;
  let a = lo;
  while (a < hi) {
    const b = Math.min(2 * a, hi);
    const mid = 0.5 * (a + b);
    const half = 0.5 * (b - a);
    let panel = 0;
    for (let k = 0; k < 8; k++) panel += GL_WEIGHTS[k]! * f(mid + half * GL_NODES[k]!);
    total += panel * half;
    a = b;
  }
  return total / (hi - lo);
}

/** ln[(1 − e^(−u)) / u], for any real u (0 at u = 0). */
function logOneMinusExpOverU(u: number): number {
  if (u === 0) return 0;
  if (u > 0) return Math.log(-Math.expm1(-u)) - Math.log(u);
  const v = -u;
  const logExpm1 = v > 30 ? v + Math.log1p(-Math.exp(-v)) : Math.log(Math.expm1(v));
  return logExpm1 - Math.log(v);
}

/**
 * ln E[X(n, n+n*) | x, t_x, n], given the row's tables and the slope S for its n (see below).
 *   E = 1/L · B(α+x+1, β+n−x)/B(α,β) · δ/(γ−1) · Γ(γ+δ)/Γ(1+δ)
 *         · [Γ(1+δ+n)/Γ(γ+δ+n) − Γ(1+δ+n+n*)/Γ(γ+δ+n+n*)]                       (FHS 2010, eq. 13)
 * With δ Γ(γ+δ)/Γ(1+δ) · Γ(1+δ+n)/Γ(γ+δ+n) = (δ)_{n+1} / (γ+δ)_n and the bracket's second term
 * equal to the first times exp(−(γ−1) S):
 *   ln E = −ln L + ln[(α)_{x+1} (β)_{n−x} / (α+β)_{n+1}] + ln[(δ)_{n+1}/(γ+δ)_n] + ln S
 *          + ln[(1 − e^{−u})/u],  u = (γ − 1) S.
 */
function logConditional(tb: Tables, x: number, tx: number, n: number, logSlope: number, slope: number): number {
  const { logL } = rowTerms(tb, x, tx, n);
  const u = (tb.params.gamma - 1) * slope;
  return -logL + tb.A[x + 1]! + tb.B[n - x]! - tb.AB[n + 1]! + tb.D[n + 1]! - tb.GD[n]! + logSlope + logOneMinusExpOverU(u);
}

/**
 * Expected number of transactions in the next n* opportunities (n+1 … n+n*) for a customer with
 * history (x, t_x, n) (FHS 2010, eq. 13; see `logConditional` for the log-space form). The
 * γ = 1 case (where δ/(γ−1) and the bracket both vanish) is handled exactly: the ratio
 * bracket/(γ−1) is written as Γ(1+δ+n)/Γ(γ+δ+n) · S · (1 − e^{−u})/u with S the mean of
 * ψ(s+δ+n+n*) − ψ(s+δ+n) over s between 1 and γ, computed by quadrature. n* may be any real ≥ 0
 * (the formula interpolates between whole opportunities through the gamma function); 0 gives 0.
 * Scalar, or vectorised over arrays of x, t_x, n (scalars broadcast; S is computed once per
 * distinct n). Throws `RangeError` on invalid parameters, histories or n*.
 */
export function conditionalExpectedTransactions(params: BgBbParams, nStar: number, x: number, tx: number, n: number): number;
export function conditionalExpectedTransactions(
  params: BgBbParams,
  nStar: number,
  x: number | ArrayLike<number>,
  tx: number | ArrayLike<number>,
  n: number | ArrayLike<number>,
): Float64Array;
export function conditionalExpectedTransactions(
  params: BgBbParams,
  nStar: number,
  x: number | ArrayLike<number>,
  tx: number | ArrayLike<number>,
  n: number | ArrayLike<number>,
): number | Float64Array {
  const where = 'BG/BB conditionalExpectedTransactions';
  checkParams(params, where);
  if (!(Number.isFinite(nStar) && nStar >= 0)) throw new RangeError(`${where}: nStar must be finite and >= 0 (got ${nStar})`);
  const { xs, txs, ns, scalar } = histories(where, x, tx, n);
  const out = new Float64Array(xs.length);
  if (nStar > 0) {
    const tb = makeTables(params, maxOf(xs), maxOf(ns), false);
    const slopes = new Map<number, number>();
    for (let i = 0; i < xs.length; i++) {
      const ni = ns[i]!;
      let slope = slopes.get(ni);
      if (slope === undefined) {
        slope = meanDigammaDifference(params.gamma, params.delta + ni, nStar);
        slopes.set(ni, slope);
      }
      out[i] = Math.exp(logConditional(tb, xs[i]!, txs[i]!, ni, Math.log(slope), slope));
    }
  }
  return scalar ? out[0]! : out;
}

/**
 * Expected number of transactions of a new customer in the first n opportunities (FHS 2010, eq. 7):
 *   α/(α+β) · δ/(γ−1) · [1 − Γ(γ+δ)/Γ(1+δ) · Γ(1+δ+n)/Γ(γ+δ+n)],
 * i.e. `conditionalExpectedTransactions` with x = t_x = n = 0 and n* = n (same treatment of γ = 1;
 * n may be any real ≥ 0). Scalar, or vectorised over an array of n.
 */
export function expectedTransactionsNewCustomer(params: BgBbParams, n: number): number;
export function expectedTransactionsNewCustomer(params: BgBbParams, n: ArrayLike<number>): Float64Array;
export function expectedTransactionsNewCustomer(params: BgBbParams, n: number | ArrayLike<number>): number | Float64Array {
  if (typeof n === 'number') return conditionalExpectedTransactions(params, n, 0, 0, 0);
  const out = new Float64Array(n.length);
  for (let i = 0; i < n.length; i++) out[i] = conditionalExpectedTransactions(params, n[i]!, 0, 0, 0);
  return out;
}
