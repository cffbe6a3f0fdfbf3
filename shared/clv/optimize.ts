/**
 * A small, robust minimiser for smooth objectives of a few unconstrained variables (the CLV models
 * optimise 2–4 log-parameters).
 *
 * Strategy:
 * 1. BFGS with a dense inverse-Hessian approximation (dimensions are tiny, so L-BFGS buys nothing)
 *    and a line search satisfying the strong Wolfe conditions (Nocedal & Wright, *Numerical
 *    Optimization*, 2nd ed., Algorithms 3.5/3.6, with safeguarded cubic interpolation). Non-finite
 *    objective values met by the line search are treated as "step too long" and backtracked from.
 * 2. If BFGS gets into trouble (non-finite value or gradient, line-search failure, or stalling with
 *    the gradient still large, even after one restart from a scaled identity), fall back to
 *    Nelder–Mead (adaptive coefficients of Gao & Han 2012) from the best point seen, then polish
 *    the Nelder–Mead result with BFGS again.
 *
 * `converged` is true **only** when the Euclidean norm of the gradient at the returned point is
 * finite and `<= gradientTolerance`, or when BFGS can no longer change the objective within double
 * precision (relative change below `relativeTolerance`) with the gradient norm within
 * {@link PRECISION_FLOOR_FACTOR} × `gradientTolerance`: with millions of customers the mean
 * log-likelihood is flat at that precision before its gradient gets below 1e-6 (measured at 10M
 * customers: gradient 1.5e-6, no representable improvement left). Stopping with a larger gradient,
 * or because Nelder–Mead's simplex collapsed, never counts as convergence.
 */

/** How far above the gradient tolerance a fit stuck at the precision floor may end and still count. */
export const PRECISION_FLOOR_FACTOR = 100;

/**
 * Objective: returns f(x). When `gradient` is given, the objective must also write ∇f(x) into it
 * (same length as `x`). Returning NaN/±Infinity is allowed (e.g. outside the function's domain);
 * the minimiser treats such points as infeasible.
 */
export type Objective = (x: Float64Array, gradient?: Float64Array) => number;

export interface MinimizeOptions {
  /** Stop with `converged = true` when ‖∇f‖₂ ≤ this. Default 1e-6. */
  gradientTolerance?: number;
  /**
   * Stop BFGS when |f_k − f_{k+1}| ≤ this · max(1, |f_k|, |f_{k+1}|) (counts as convergence only
   * if the gradient criterion also holds). Default 1e-13.
   */
  relativeTolerance?: number;
  /** Maximum BFGS iterations (over the first run and the polishing run together). Default 500. */
  maxIterations?: number;
  /** Maximum Nelder–Mead iterations in the fallback. Default max(1000, 400·n). */
  nelderMeadMaxIterations?: number;
  /** Use the Nelder–Mead fallback when BFGS fails. Default true. */
  fallback?: boolean;
}

export type MinimizeMethod = 'bfgs' | 'nelder-mead' | 'nelder-mead+bfgs';

export interface MinimizeResult {
  /** Best point found (the returned value and gradient are at this point). */
  x: Float64Array;
  value: number;
  gradient: Float64Array;
  /** Euclidean norm of `gradient` (NaN if the gradient at `x` is not finite). */
  gradientNorm: number;
  /** BFGS iterations plus Nelder–Mead iterations. */
  iterations: number;
  /** Objective evaluations (with or without gradient). */
  evaluations: number;
  converged: boolean;
  /** Which method produced `x`: plain BFGS, or the Nelder–Mead fallback (optionally polished by BFGS). */
  method: MinimizeMethod;
  message: string;
}

// ---------------------------------------------------------------------------
// Small vector helpers
// ---------------------------------------------------------------------------

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function norm2(a: Float64Array): number {
  return Math.sqrt(dot(a, a));
}

function allFinite(a: Float64Array): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return false;
  return true;
}

// ---------------------------------------------------------------------------
// L2 penalty
// ---------------------------------------------------------------------------

/**
 * Adds the L2 penalty `penalizer · Σ xᵢ²` to a value/gradient pair: returns the penalty and, when
 * `gradient` is given, adds `2 · penalizer · xᵢ` to each component in place.
 */
export function addL2Penalty(x: ArrayLike<number>, penalizer: number, gradient?: Float64Array): number {
  if (!(penalizer > 0)) return 0;
  let s = 0;
  for (let i = 0; i < x.length; i++) {
    const xi = x[i]!;
    s += xi * xi;
    if (gradient) gradient[i] = gradient[i]! + 2 * penalizer * xi;
  }
  return penalizer * s;
}

/** Wraps an objective so that it includes the L2 penalty `penalizer · Σ xᵢ²` (value and gradient). */
export function withL2Penalty(objective: Objective, penalizer: number): Objective {
  if (!(penalizer > 0)) return objective;
  return (x, gradient) => objective(x, gradient) + addL2Penalty(x, penalizer, gradient);
}

// ---------------------------------------------------------------------------
// Evaluation bookkeeping
// ---------------------------------------------------------------------------

interface Point {
  x: Float64Array;
  f: number;
  g: Float64Array;
}

class Counter {
  evaluations = 0;
  best: Point | null = null;

  constructor(private readonly objective: Objective) {}

  /** Value and gradient at x (copies x); tracks the best finite point with a finite gradient. */
  full(x: Float64Array): Point {
    const g = new Float64Array(x.length);
    const xc = Float64Array.from(x);
    this.evaluations++;
    let f: number;
    try {
      f = this.objective(xc, g);
    } catch {
      f = NaN;
    }
    if (!Number.isFinite(f)) f = NaN;
    const p = { x: xc, f, g };
    if (Number.isFinite(f) && allFinite(g) && (this.best === null || f < this.best.f)) this.best = p;
    return p;
  }

  /** Value only; non-finite values are mapped to +Infinity. */
  value(x: Float64Array): number {
    this.evaluations++;
    let f: number;
    try {
      f = this.objective(x);
    } catch {
      f = NaN;
    }
    return Number.isFinite(f) ? f : Infinity;
  }
}

// ---------------------------------------------------------------------------
// Strong-Wolfe line search (Nocedal & Wright, Alg. 3.5 and 3.6)
// ---------------------------------------------------------------------------

const C1 = 1e-4;
const C2 = 0.9;
const MAX_LINE_SEARCH_EVALS = 60;

interface LineSearchResult {
  point: Point;
  step: number;
  /** True when the strong Wolfe conditions hold; false when only sufficient decrease does. */
  wolfe: boolean;
}

/** Minimiser of the cubic interpolating (a, fa, ga), (b, fb, gb); NaN when undefined. */
function cubicMin(a: number, fa: number, ga: number, b: number, fb: number, gb: number): number {
  const d1 = ga + gb - (3 * (fa - fb)) / (a - b);
  const disc = d1 * d1 - ga * gb;
  if (!(disc >= 0)) return NaN;
  const d2 = Math.sign(b - a) * Math.sqrt(disc);
  const denom = gb - ga + 2 * d2;
  if (denom === 0) return NaN;
  return b - ((b - a) * (gb + d2 - d1)) / denom;
}

function lineSearch(counter: Counter, start: Point, dir: Float64Array, initialStep: number): LineSearchResult | null {
  const n = start.x.length;
  const f0 = start.f;
  const d0 = dot(start.g, dir);
  if (!(d0 < 0)) return null;
  const xt = new Float64Array(n);
  let evals = 0;
  const evalAt = (alpha: number): { p: Point; d: number } => {
    for (let i = 0; i < n; i++) xt[i] = start.x[i]! + alpha * dir[i]!;
    evals++;
    const p = counter.full(xt);
    const ok = Number.isFinite(p.f) && allFinite(p.g);
    return { p, d: ok ? dot(p.g, dir) : NaN };
  };
  const armijo = (alpha: number, f: number): boolean => f <= f0 + C1 * alpha * d0;
  const curvature = (d: number): boolean => Math.abs(d) <= -C2 * d0;

  // Best point satisfying sufficient decrease, returned if the Wolfe search runs out of budget.
  let fallback: LineSearchResult | null = null;
  const noteArmijo = (alpha: number, p: Point): void => {
    if (Number.isFinite(p.f) && allFinite(p.g) && armijo(alpha, p.f) && (fallback === null || p.f < fallback.point.f)) {
      fallback = { point: p, step: alpha, wolfe: false };
    }
  };

  const zoom = (lo: number, fLo: number, dLo: number, hi: number, fHi: number, dHi: number): LineSearchResult | null => {
    while (evals < MAX_LINE_SEARCH_EVALS) {
      const width = hi - lo;
      if (Math.abs(width) <= 1e-16 * Math.max(1, Math.abs(lo))) break;
      let alpha = Number.isFinite(fHi) && Number.isFinite(dHi) ? cubicMin(lo, fLo, dLo, hi, fHi, dHi) : NaN;
      const lower = Math.min(lo, hi) + 0.1 * Math.abs(width);
      const upper = Math.max(lo, hi) - 0.1 * Math.abs(width);
      if (!Number.isFinite(alpha) || alpha < lower || alpha > upper) alpha = lo + 0.5 * width;
      const { p, d } = evalAt(alpha);
      if (!Number.isFinite(p.f) || !Number.isFinite(d)) {
        // Infeasible: shrink the interval towards the known-good end.
        hi = alpha;
        fHi = NaN;
        dHi = NaN;
        continue;
      }
      noteArmijo(alpha, p);
      if (!armijo(alpha, p.f) || p.f >= fLo) {
        hi = alpha;
        fHi = p.f;
        dHi = d;
      } else {
        if (curvature(d)) return { point: p, step: alpha, wolfe: true };
        if (d * (hi - lo) >= 0) {
          hi = lo;
          fHi = fLo;
          dHi = dLo;
        }
        lo = alpha;
        fLo = p.f;
        dLo = d;
      }
    }
    return fallback;
  };

  let prevAlpha = 0;
  let prevF = f0;
  let prevD = d0;
  let alpha = initialStep;
  let maxAlpha = Infinity;
  for (let i = 0; evals < MAX_LINE_SEARCH_EVALS; i++) {
    const { p, d } = evalAt(alpha);
    if (!Number.isFinite(p.f) || !Number.isFinite(d)) {
      // Stepped outside the domain: everything beyond alpha is suspect; come back towards prevAlpha.
      maxAlpha = alpha;
      alpha = prevAlpha + 0.25 * (alpha - prevAlpha);
      if (alpha - prevAlpha <= 1e-16 * Math.max(1, prevAlpha)) break;
      continue;
    }
    noteArmijo(alpha, p);
    if (!armijo(alpha, p.f) || (i > 0 && prevAlpha > 0 && p.f >= prevF)) {
      return zoom(prevAlpha, prevF, prevD, alpha, p.f, d);
    }
    if (curvature(d)) return { point: p, step: alpha, wolfe: true };
    if (d >= 0) return zoom(alpha, p.f, d, prevAlpha, prevF, prevD);
    prevAlpha = alpha;
    prevF = p.f;
    prevD = d;
    // Expand: extrapolate, but stay below any known infeasible step.
    const next = alpha * 4;
    alpha = Number.isFinite(maxAlpha) ? Math.min(next, prevAlpha + 0.5 * (maxAlpha - prevAlpha)) : next;
  }
  return fallback;
}

// ---------------------------------------------------------------------------
// BFGS
// ---------------------------------------------------------------------------

type BfgsStop = 'gradient' | 'floor' | 'maxIterations' | 'trouble';

interface BfgsRun {
  point: Point;
  iterations: number;
  stop: BfgsStop;
  detail: string;
}

function bfgs(counter: Counter, start: Point, maxIterations: number, gtol: number, ftol: number): BfgsRun {
  const n = start.x.length;
  const H = new Float64Array(n * n);
  const resetH = (scale: number): void => {
    H.fill(0);
    for (let i = 0; i < n; i++) H[i * n + i] = scale;
  };
  resetH(1);
  let freshH = true;
  let scaled = false;
  let restarted = false;
  let cur = start;
  const dir = new Float64Array(n);
  const s = new Float64Array(n);
  const y = new Float64Array(n);
  const Hy = new Float64Array(n);

  if (!(Number.isFinite(cur.f) && allFinite(cur.g))) {
    return { point: cur, iterations: 0, stop: 'trouble', detail: 'non-finite value or gradient at the starting point' };
  }
  let iter = 0;
  for (;;) {
    const gnorm = norm2(cur.g);
    if (gnorm <= gtol) return { point: cur, iterations: iter, stop: 'gradient', detail: `gradient norm ${gnorm.toExponential(2)} <= ${gtol}` };
    if (iter >= maxIterations) return { point: cur, iterations: iter, stop: 'maxIterations', detail: `reached the maximum of ${maxIterations} iterations` };

    // Direction p = −H g.
    for (let i = 0; i < n; i++) {
      let v = 0;
      for (let j = 0; j < n; j++) v -= H[i * n + j]! * cur.g[j]!;
      dir[i] = v;
    }
    if (!(dot(dir, cur.g) < 0) || !allFinite(dir)) {
      resetH(1);
      freshH = true;
      scaled = false;
      for (let i = 0; i < n; i++) dir[i] = -cur.g[i]!;
    }
    const initialStep = freshH && !scaled ? Math.min(1, 1 / norm2(dir)) : 1;
    const ls = lineSearch(counter, cur, dir, initialStep);
    iter++;
    let trouble: string | null = null;
    if (ls === null) trouble = 'line search found no acceptable step';
    else {
      const next = ls.point;
      const change = Math.abs(cur.f - next.f);
      for (let i = 0; i < n; i++) {
        s[i] = next.x[i]! - cur.x[i]!;
        y[i] = next.g[i]! - cur.g[i]!;
      }
      const prev = cur;
      cur = next;
      const sy = dot(s, y);
      if (sy > 1e-12 * norm2(s) * norm2(y) && sy > 0) {
        if (freshH && !scaled) {
          resetH(sy / dot(y, y));
          scaled = true;
        }
        // H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ, ρ = 1 / sᵀy.
        const rho = 1 / sy;
        for (let i = 0; i < n; i++) {
          let v = 0;
          for (let j = 0; j < n; j++) v += H[i * n + j]! * y[j]!;
          Hy[i] = v;
        }
        const yHy = dot(y, Hy);
        for (let i = 0; i < n; i++) {
          for (let j = 0; j < n; j++) {
            H[i * n + j] = H[i * n + j]! - rho * (Hy[i]! * s[j]! + s[i]! * Hy[j]!) + (rho * rho * yHy + rho) * s[i]! * s[j]!;
          }
        }
        freshH = false;
      }
      if (norm2(cur.g) > gtol && change <= ftol * Math.max(1, Math.abs(prev.f), Math.abs(cur.f))) {
        if (norm2(cur.g) <= PRECISION_FLOOR_FACTOR * gtol) {
          const detail = `at the precision floor: relative function change ${(change / Math.max(1, Math.abs(cur.f))).toExponential(2)} below ${ftol}, gradient norm ${norm2(cur.g).toExponential(2)} <= ${(PRECISION_FLOOR_FACTOR * gtol).toExponential(0)}`;
          return { point: cur, iterations: iter, stop: 'floor', detail };
        }
        trouble = `relative function change ${(change / Math.max(1, Math.abs(cur.f))).toExponential(2)} below ${ftol} with gradient norm ${norm2(cur.g).toExponential(2)}`;
      } else {
        restarted = false;
      }
    }
    if (trouble !== null) {
      if (!restarted) {
        restarted = true;
        resetH(1);
        freshH = true;
        scaled = false;
        continue;
      }
      return { point: cur, iterations: iter, stop: 'trouble', detail: trouble };
    }
  }
}

// ---------------------------------------------------------------------------
// Nelder–Mead (adaptive coefficients: Gao & Han, Comput. Optim. Appl. 51, 2012)
// ---------------------------------------------------------------------------

interface NelderMeadRun {
  x: Float64Array;
  f: number;
  iterations: number;
  detail: string;
}

function nelderMead(counter: Counter, x0: Float64Array, maxIterations: number): NelderMeadRun {
  const n = x0.length;
  const alpha = 1;
  const beta = 1 + 2 / n;
  const gamma = 0.75 - 1 / (2 * n);
  const delta = n > 1 ? 1 - 1 / n : 0.5;
  const simplex: Float64Array[] = [];
  const values: number[] = [];
  simplex.push(Float64Array.from(x0));
  values.push(counter.value(simplex[0]!));
  for (let i = 0; i < n; i++) {
    const v = Float64Array.from(x0);
    v[i] = v[i]! + 0.1 * Math.max(1, Math.abs(v[i]!));
    simplex.push(v);
    values.push(counter.value(v));
  }
  const order = (): void => {
    const idx = simplex.map((_, i) => i).sort((a, b) => values[a]! - values[b]!);
    const s2 = idx.map((i) => simplex[i]!);
    const v2 = idx.map((i) => values[i]!);
    for (let i = 0; i <= n; i++) {
      simplex[i] = s2[i]!;
      values[i] = v2[i]!;
    }
  };
  const centroid = new Float64Array(n);
  const along = (coef: number): Float64Array => {
    const worst = simplex[n]!;
    const out = new Float64Array(n);
    for (let j = 0; j < n; j++) out[j] = centroid[j]! + coef * (centroid[j]! - worst[j]!);
    return out;
  };
  let iter = 0;
  let detail = `reached the maximum of ${maxIterations} Nelder–Mead iterations`;
  for (; iter < maxIterations; iter++) {
    order();
    const fBest = values[0]!;
    let fSpread = 0;
    let xSpread = 0;
    for (let i = 1; i <= n; i++) {
      fSpread = Math.max(fSpread, Math.abs(values[i]! - fBest));
      for (let j = 0; j < n; j++) xSpread = Math.max(xSpread, Math.abs(simplex[i]![j]! - simplex[0]![j]!));
    }
    if (Number.isFinite(fBest) && fSpread <= 1e-14 * Math.max(1, Math.abs(fBest)) && xSpread <= 1e-10) {
      detail = 'Nelder–Mead simplex collapsed';
      break;
    }
    centroid.fill(0);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) centroid[j] = centroid[j]! + simplex[i]![j]! / n;
    const xr = along(alpha);
    const fr = counter.value(xr);
    if (fr < values[0]!) {
      const xe = along(alpha * beta);
      const fe = counter.value(xe);
      if (fe < fr) {
        simplex[n] = xe;
        values[n] = fe;
      } else {
        simplex[n] = xr;
        values[n] = fr;
      }
      continue;
    }
    if (fr < values[n - 1]!) {
      simplex[n] = xr;
      values[n] = fr;
      continue;
    }
    // Contraction (outside if the reflected point beats the worst, inside otherwise).
    const outside = fr < values[n]!;
    const xc = along(outside ? alpha * gamma : -gamma);
    const fc = counter.value(xc);
    if (outside ? fc <= fr : fc < values[n]!) {
      simplex[n] = xc;
      values[n] = fc;
      continue;
    }
    // Shrink towards the best vertex.
    const best = simplex[0]!;
    for (let i = 1; i <= n; i++) {
      const v = simplex[i]!;
      for (let j = 0; j < n; j++) v[j] = best[j]! + delta * (v[j]! - best[j]!);
      values[i] = counter.value(v);
    }
  }
  order();
  return { x: Float64Array.from(simplex[0]!), f: values[0]!, iterations: iter, detail };
}

// ---------------------------------------------------------------------------
// Driver
// ---------------------------------------------------------------------------

function finish(counter: Counter, p: Point, iterations: number, method: MinimizeMethod, gtol: number, message: string): MinimizeResult {
  const finite = Number.isFinite(p.f) && allFinite(p.g);
  const gnorm = finite ? norm2(p.g) : NaN;
  return {
    x: Float64Array.from(p.x),
    value: p.f,
    gradient: Float64Array.from(p.g),
    gradientNorm: gnorm,
    iterations,
    evaluations: counter.evaluations,
    converged: finite && gnorm <= gtol,
    method,
    message,
  };
}

/**
 * Minimises `objective` from `x0` (see the module comment for the strategy). Never throws for a
 * misbehaving objective (exceptions count as NaN); check `converged` and `message`.
 */
export function minimize(objective: Objective, x0: ArrayLike<number>, options: MinimizeOptions = {}): MinimizeResult {
  const gtol = options.gradientTolerance ?? 1e-6;
  const ftol = options.relativeTolerance ?? 1e-13;
  const maxIterations = options.maxIterations ?? 500;
  const useFallback = options.fallback ?? true;
  const n = x0.length;
  const nmMax = options.nelderMeadMaxIterations ?? Math.max(1000, 400 * n);
  if (n === 0) throw new Error('minimize: x0 must have at least one component');

  const counter = new Counter(objective);
  const start = counter.full(Float64Array.from(x0));
  const first = bfgs(counter, start, maxIterations, gtol, ftol);
  if (first.stop === 'gradient') return finish(counter, first.point, first.iterations, 'bfgs', gtol, `BFGS converged: ${first.detail}`);
  if (first.stop === 'floor') return finish(counter, first.point, first.iterations, 'bfgs', PRECISION_FLOOR_FACTOR * gtol, `BFGS converged ${first.detail}`);
  if (first.stop === 'maxIterations' || !useFallback) {
    const p = bestOf(counter, first.point);
    return finish(counter, p, first.iterations, 'bfgs', gtol, `BFGS stopped: ${first.detail}`);
  }

  // Fallback: Nelder–Mead from the best finite point seen so far (or the start), then BFGS polish.
  const from = counter.best?.x ?? Float64Array.from(x0);
  const nm = nelderMead(counter, from, nmMax);
  let iterations = first.iterations + nm.iterations;
  if (!Number.isFinite(nm.f)) {
    const p = bestOf(counter, first.point);
    return finish(counter, p, iterations, 'bfgs', gtol, `BFGS failed (${first.detail}); Nelder–Mead found no finite point`);
  }
  const nmPoint = counter.full(nm.x);
  const polish = bfgs(counter, nmPoint, Math.max(0, maxIterations - first.iterations), gtol, ftol);
  iterations += polish.iterations;
  const polished = better(polish.point, nmPoint, gtol);
  const polishedOk = polished === polish.point && polish.iterations > 0;
  const tail =
    polish.stop === 'gradient' ? `BFGS polish converged: ${polish.detail}` : polish.stop === 'floor' ? `BFGS polish converged ${polish.detail}` : `BFGS polish stopped: ${polish.detail}`;
  const polishTolerance = polish.stop === 'floor' ? PRECISION_FLOOR_FACTOR * gtol : gtol;
  const story = `BFGS failed (${first.detail}); fell back to Nelder–Mead (${nm.detail}); ${tail}`;
  // The fallback is not guaranteed to improve on where BFGS stopped (e.g. at the precision floor).
  if (better(first.point, polished, gtol) === first.point && first.point !== polished) {
    return finish(counter, first.point, iterations, 'bfgs', gtol, `${story}; kept the BFGS point, which was better`);
  }
  return finish(counter, polished, iterations, polishedOk ? 'nelder-mead+bfgs' : 'nelder-mead', polished === polish.point ? polishTolerance : gtol, story);
}

/**
 * The preferable of two points: a point meeting the gradient criterion beats one that does not;
 * otherwise the lower finite value wins, ties going to the smaller gradient norm.
 */
function better(a: Point, b: Point, gtol: number): Point {
  const ok = (p: Point): boolean => Number.isFinite(p.f) && allFinite(p.g);
  if (!ok(a)) return b;
  if (!ok(b)) return a;
  const ga = norm2(a.g);
  const gb = norm2(b.g);
  if (ga <= gtol !== gb <= gtol) return ga <= gtol ? a : b;
  if (a.f !== b.f) return a.f < b.f ? a : b;
  return ga <= gb ? a : b;
}

/** The better of `p` and the best point the counter has seen (finite value and gradient). */
function bestOf(counter: Counter, p: Point): Point {
  const b = counter.best;
  if (b !== null && (!Number.isFinite(p.f) || !allFinite(p.g) || b.f < p.f)) return b;
  return p;
}
