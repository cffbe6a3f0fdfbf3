/**
 * Statistics of a CRM holdout report (typically a 95/5 treatment/control split), computed from
 * per-group *sufficient statistics* only (n, Σy, Σy², conversions; for CUPED also Σx, Σx², Σxy), so
 * the warehouse can aggregate in SQL and nothing per customer has to leave it.
 *
 * Contents: distribution functions (normal, Student t, chi-square), Welch's t-test on revenue per
 * customer with the product's *incremental revenue* (Δ × n_T), relative lift with a delta-method CI,
 * two-proportion conversion test, CUPED variance reduction, winsorization rule, sample-ratio-mismatch
 * check, minimum detectable effect, and Benjamini–Hochberg adjusted p-values.
 *
 * References:
 * - [NR] W. H. Press et al., *Numerical Recipes*, 3rd ed. (2007), §6.2 (incomplete gamma: series and
 *   Lentz continued fraction), §6.4 (incomplete beta, `betacf`), §6.14 (Student t via I_x).
 * - [AS] M. Abramowitz, I. Stegun, *Handbook of Mathematical Functions* (1964): 26.2.30 (erfc via Γ(½, x²)),
 *   26.7.1 (t CDF via I_x), 26.4.19 (χ² CDF = P(k/2, x/2)).
 * - [Acklam] P. J. Acklam, "An algorithm for computing the inverse normal cumulative distribution
 *   function" (2003), with one Halley refinement step.
 * - [Welch] B. L. Welch, Biometrika 34 (1947) 28–35; F. E. Satterthwaite, Biometrics Bulletin 2 (1946) 110.
 * - [GB] GrowthBook `gbstats` (packages/stats/gbstats/frequentist/tests.py): TwoSidedTTest with
 *   Welch–Satterthwaite df and the delta-method variance of the relative lift.
 * - [Kohavi] R. Kohavi, D. Tang, Y. Xu, *Trustworthy Online Controlled Experiments* (2020),
 *   ch. 18 (variance of ratios / relative lift via the delta method), ch. 21 (SRM), ch. 22 (CUPED).
 * - [Deng] A. Deng, Y. Xu, R. Kohavi, T. Walker, "Improving the Sensitivity of Online Controlled
 *   Experiments by Utilizing Pre-Experiment Data", WSDM 2013 (CUPED).
 * - [BH] Y. Benjamini, Y. Hochberg, J. R. Stat. Soc. B 57 (1995) 289–300.
 *
 * @module
 */
import { lbeta, lgamma, scaledUpperGammaCF } from '../clv/special.js';

const EPS = 1e-15;
const FPMIN = 1e-300;
const MAX_ITER = 10_000;
const SQRT2PI = 2.5066282746310002;

// ---------------------------------------------------------------------------------------------
// Incomplete gamma and beta
// ---------------------------------------------------------------------------------------------

/**
 * Regularized lower incomplete gamma P(a, x) = γ(a, x)/Γ(a), and its complement Q = 1 − P.
 *
 * [NR] §6.2: the series γ(a,x) = e^{−x} x^a Σ_n x^n / (a(a+1)…(a+n)) for x < a + 1, otherwise the
 * continued fraction for Γ(a, x) evaluated by the modified Lentz method. Prefactor in logs
 * (−x + a ln x − ln Γ(a)). Both P and Q are returned so that tails keep their relative accuracy.
 */
function incompleteGamma(a: number, x: number): { p: number; q: number } {
  if (Number.isNaN(a) || Number.isNaN(x) || a <= 0 || x < 0) return { p: NaN, q: NaN };
  if (x === 0) return { p: 0, q: 1 };
  if (x === Infinity) return { p: 1, q: 0 };
  const logPrefactor = -x + a * Math.log(x) - lgamma(a);
  if (x < a + 1) {
    let ap = a;
    let del = 1 / a;
    let sum = del;
    for (let i = 0; i < MAX_ITER; i++) {
      ap += 1;
      del *= x / ap;
      sum += del;
      if (Math.abs(del) < Math.abs(sum) * EPS) break;
    }
    const p = Math.min(1, sum * Math.exp(logPrefactor));
    return { p, q: 1 - p };
  }
  // x ≥ a + 1: the continued fraction for e^x x^−a Γ(a, x).
  const q = Math.min(1, Math.exp(logPrefactor) * scaledUpperGammaCF(a, x, EPS, MAX_ITER));
  return { p: 1 - q, q };
}

/**
 * Continued fraction for the incomplete beta function ([NR] §6.4 `betacf`, modified Lentz):
 * I_x(a,b) = x^a (1−x)^b / (a B(a,b)) · 1/(1+ d1/(1+ d2/(1+ …))) with
 * d_{2m+1} = −(a+m)(a+b+m)x / ((a+2m)(a+2m+1)), d_{2m} = m(b−m)x / ((a+2m−1)(a+2m)).
 */
function betacf(a: number, b: number, x: number): number {
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < FPMIN) d = FPMIN;
  d = 1 / d;
  let h = d;
  for (let m = 1; m < MAX_ITER; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < FPMIN) d = FPMIN;
    c = 1 + aa / c;
    if (Math.abs(c) < FPMIN) c = FPMIN;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < FPMIN) d = FPMIN;
    c = 1 + aa / c;
    if (Math.abs(c) < FPMIN) c = FPMIN;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < EPS) break;
  }
  return h;
}

/**
 * Regularized incomplete beta I_x(a, b) ([NR] §6.4): the front factor x^a (1−x)^b / B(a,b) in logs
 * (with {@link lbeta}), the continued fraction used directly for x < (a+1)/(a+b+2) and through the
 * symmetry I_x(a,b) = 1 − I_{1−x}(b,a) otherwise (where it converges fast).
 */
export function regularizedBeta(x: number, a: number, b: number): number {
  if (Number.isNaN(x) || Number.isNaN(a) || Number.isNaN(b) || a <= 0 || b <= 0) return NaN;
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const logFront = a * Math.log(x) + b * Math.log1p(-x) - lbeta(a, b);
  if (x < (a + 1) / (a + b + 2)) return (Math.exp(logFront) * betacf(a, b, x)) / a;
  return 1 - (Math.exp(logFront) * betacf(b, a, 1 - x)) / b;
}

// ---------------------------------------------------------------------------------------------
// Distributions
// ---------------------------------------------------------------------------------------------

/**
 * Standard normal CDF Φ(z). Uses erfc(u) = Q(½, u²) ([AS] 6.5.17 / 7.1.2), so
 * Φ(z) = ½ Q(½, z²/2) for z < 0 and 1 − ½ Q(½, z²/2) for z ≥ 0 (lower tail keeps relative accuracy).
 */
export function normalCdf(z: number): number {
  if (Number.isNaN(z)) return NaN;
  if (z === -Infinity) return 0;
  if (z === Infinity) return 1;
  const half = 0.5 * incompleteGamma(0.5, 0.5 * z * z).q;
  return z < 0 ? half : 1 - half;
}

/** Upper tail 1 − Φ(z) without cancellation (½ Q(½, z²/2) for z > 0). */
export function normalSf(z: number): number {
  return normalCdf(-z);
}

/** Standard normal density φ(z) = e^{−z²/2}/√(2π). */
export function normalPdf(z: number): number {
  return Math.exp(-0.5 * z * z) / SQRT2PI;
}

const ACKLAM_A = [
  -3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1,
  2.506628277459239,
] as const;
const ACKLAM_B = [
  -5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1,
] as const;
const ACKLAM_C = [
  -7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968,
  2.938163982698783,
] as const;
const ACKLAM_D = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416] as const;

/**
 * Standard normal quantile Φ⁻¹(p) — [Acklam]'s rational approximation (relative error < 1.15e-9)
 * followed by one Halley step on Φ(x) − p (full double precision where Φ is accurate).
 * Returns −∞ / +∞ at p = 0 / 1, NaN outside [0, 1].
 */
export function normalQuantile(p: number): number {
  if (Number.isNaN(p) || p < 0 || p > 1) return NaN;
  if (p === 0) return -Infinity;
  if (p === 1) return Infinity;
  const [a1, a2, a3, a4, a5, a6] = ACKLAM_A;
  const [b1, b2, b3, b4, b5] = ACKLAM_B;
  const [c1, c2, c3, c4, c5, c6] = ACKLAM_C;
  const [d1, d2, d3, d4] = ACKLAM_D;
  const pLow = 0.02425;
  let x: number;
  if (p < pLow) {
    const q = Math.sqrt(-2 * Math.log(p));
    x = (((((c1 * q + c2) * q + c3) * q + c4) * q + c5) * q + c6) / ((((d1 * q + d2) * q + d3) * q + d4) * q + 1);
  } else if (p <= 1 - pLow) {
    const q = p - 0.5;
    const r = q * q;
    x =
      ((((((a1 * r + a2) * r + a3) * r + a4) * r + a5) * r + a6) * q) /
      (((((b1 * r + b2) * r + b3) * r + b4) * r + b5) * r + 1);
  } else {
    const q = Math.sqrt(-2 * Math.log1p(-p));
    x = -(((((c1 * q + c2) * q + c3) * q + c4) * q + c5) * q + c6) / ((((d1 * q + d2) * q + d3) * q + d4) * q + 1);
  }
  // Halley refinement on the tail that is computed accurately.
  const e = x < 0 ? normalCdf(x) - p : 1 - p - normalSf(x);
  const sign = x < 0 ? 1 : -1;
  const u = sign * e * SQRT2PI * Math.exp(0.5 * x * x);
  return x < 0 ? x - u / (1 + (x * u) / 2) : x + u / (1 - (x * u) / 2);
}

/**
 * Two-sided tail of Student's t: P(|T_df| ≥ |t|) = I_{df/(df+t²)}(df/2, ½) ([AS] 26.7.1, [NR] §6.14).
 * Computed directly (not as 1 − CDF) so small p-values keep their relative accuracy. df = ∞ → normal.
 */
export function studentTTwoSidedP(t: number, df: number): number {
  if (Number.isNaN(t) || Number.isNaN(df) || df <= 0) return NaN;
  if (!Number.isFinite(t)) return 0;
  if (df === Infinity) return 2 * normalSf(Math.abs(t));
  return regularizedBeta(df / (df + t * t), df / 2, 0.5);
}

/**
 * Student t CDF F(t; df) = 1 − ½ I_{df/(df+t²)}(df/2, ½) for t ≥ 0 and ½ I_{…} for t < 0
 * ([AS] 26.7.1 via the regularized incomplete beta, [NR] §6.14). df may be fractional (Welch).
 */
export function studentTCdf(t: number, df: number): number {
  if (Number.isNaN(t) || Number.isNaN(df) || df <= 0) return NaN;
  if (t === Infinity) return 1;
  if (t === -Infinity) return 0;
  const tail = 0.5 * studentTTwoSidedP(t, df);
  return t < 0 ? tail : 1 - tail;
}

/** Student t density, Γ((ν+1)/2)/(√(νπ) Γ(ν/2)) (1 + t²/ν)^{−(ν+1)/2}, in logs. */
export function studentTPdf(t: number, df: number): number {
  if (df === Infinity) return normalPdf(t);
  return Math.exp(
    lgamma((df + 1) / 2) - lgamma(df / 2) - 0.5 * Math.log(df * Math.PI) - ((df + 1) / 2) * Math.log1p((t * t) / df),
  );
}

/**
 * Student t quantile F⁻¹(p; df): safeguarded Newton on {@link studentTCdf} (bisection whenever a Newton
 * step leaves the current bracket), started at the normal quantile; symmetric, F⁻¹(1−p) = −F⁻¹(p).
 * Converges to ~1e-12 relative.
 */
export function studentTQuantile(p: number, df: number): number {
  if (Number.isNaN(p) || Number.isNaN(df) || df <= 0 || p < 0 || p > 1) return NaN;
  if (p === 0) return -Infinity;
  if (p === 1) return Infinity;
  if (p === 0.5) return 0;
  if (df === Infinity) return normalQuantile(p);
  if (p < 0.5) return -studentTQuantile(1 - p, df);
  // Upper half: find t > 0 with upper tail ½ I(df/(df+t²)) = 1 − p.
  const target = 1 - p;
  const f = (t: number): number => target - 0.5 * studentTTwoSidedP(t, df); // increasing in t
  let lo = 0;
  let hi = Math.max(1, normalQuantile(p));
  while (f(hi) < 0) {
    lo = hi;
    hi *= 2;
    if (hi > 1e300) return Infinity;
  }
  let t = Math.min(Math.max(normalQuantile(p), lo), hi);
  for (let i = 0; i < 200; i++) {
    const ft = f(t);
    if (ft === 0) return t;
    if (ft < 0) lo = t;
    else hi = t;
    let next = t - ft / studentTPdf(t, df);
    if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
    if (Math.abs(next - t) <= 1e-13 * Math.max(1, Math.abs(t))) return next;
    t = next;
  }
  return t;
}

/**
 * Chi-square CDF with k degrees of freedom: F(x; k) = P(k/2, x/2), the regularized lower incomplete
 * gamma ([AS] 26.4.19), series + continued fraction ([NR] §6.2).
 */
export function chiSquareCdf(x: number, k: number): number {
  if (Number.isNaN(x) || Number.isNaN(k) || k <= 0) return NaN;
  if (x <= 0) return 0;
  return incompleteGamma(k / 2, x / 2).p;
}

/** Chi-square upper tail 1 − F(x; k) = Q(k/2, x/2), accurate for tiny p-values. */
export function chiSquareSf(x: number, k: number): number {
  if (Number.isNaN(x) || Number.isNaN(k) || k <= 0) return NaN;
  if (x <= 0) return 1;
  return incompleteGamma(k / 2, x / 2).q;
}

// ---------------------------------------------------------------------------------------------
// Group statistics
// ---------------------------------------------------------------------------------------------

/** Per-group sufficient statistics of a per-customer metric y (e.g. revenue in the window). */
export interface GroupStats {
  /** Number of customers in the group. */
  n: number;
  /** Σ y. */
  sum: number;
  /** Σ y². */
  sumSquares: number;
}

/** Per-group sufficient statistics with a pre-period covariate x (for CUPED). */
export interface CupedGroupStats extends GroupStats {
  /** Σ x. */
  sumX: number;
  /** Σ x². */
  sumXSquares: number;
  /** Σ x·y. */
  sumXY: number;
}

/** Per-group conversion counts. */
export interface ProportionStats {
  n: number;
  /** Customers with at least one purchase. */
  conversions: number;
}

/** A group reduced to its mean and (unbiased) variance of the per-customer metric. */
export interface Moments {
  n: number;
  mean: number;
  /** Per-customer variance (n − 1 denominator unless stated otherwise). */
  variance: number;
}

/**
 * Mean and unbiased variance from sufficient statistics: ȳ = Σy/n,
 * s² = (Σy² − (Σy)²/n)/(n − 1), clamped at 0 (rounding can make it slightly negative). s² = NaN for n < 2.
 */
export function moments(s: GroupStats): Moments {
  const mean = s.n > 0 ? s.sum / s.n : NaN;
  const variance = s.n > 1 ? Math.max(0, (s.sumSquares - (s.sum * s.sum) / s.n) / (s.n - 1)) : NaN;
  return { n: s.n, mean, variance };
}

export type Verdict = 'significant gain' | 'significant loss' | 'inconclusive';

/**
 * Verdict from a two-sided p-value: 'significant gain' / 'significant loss' when p < α (sign of the
 * effect), 'inconclusive' otherwise — including a NaN p-value. A non-significant result is never
 * reported as "no effect": absence of evidence is not evidence of absence.
 */
export function verdictOf(effect: number, pValue: number, alpha: number): Verdict {
  if (!(pValue < alpha) || effect === 0 || Number.isNaN(effect)) return 'inconclusive';
  return effect > 0 ? 'significant gain' : 'significant loss';
}

/** Result of {@link welch} / {@link welchFromMoments}. All CIs are two-sided at level 1 − α. */
export interface WelchResult {
  treatment: Moments;
  control: Moments;
  /** Δ = ȳ_T − ȳ_C (per-customer absolute difference). */
  delta: number;
  /** SE(Δ) = √(s²_T/n_T + s²_C/n_C). */
  se: number;
  /** Welch–Satterthwaite degrees of freedom. */
  df: number;
  /** t = Δ / SE. */
  t: number;
  /** Two-sided p-value of H0: Δ = 0 (see {@link welchFromMoments} for SE = 0). */
  pValue: number;
  /** CI of Δ: Δ ± t_{1−α/2, df} · SE. */
  ci: [number, number];
  /** Incremental revenue Δ · n_T = (Σy_T/n_T − Σy_C/n_C) · n_T (the product's definition). */
  incremental: number;
  /** n_T · CI(Δ). */
  incrementalCi: [number, number];
  /** Relative lift Δ / ȳ_C (NaN when ȳ_C = 0). */
  relativeLift: number;
  /** Delta-method SE of the relative lift. */
  relativeSe: number;
  /** Relative lift ± t_{1−α/2, df} · relativeSe. */
  relativeCi: [number, number];
  /** Two-sided p-value of the relative lift's own t statistic (as reported by gbstats). */
  relativePValue: number;
  verdict: Verdict;
}

/**
 * Welch's unequal-variance t-test on per-group moments ([Welch]).
 *
 * - Δ = ȳ_T − ȳ_C, SE = √(s²_T/n_T + s²_C/n_C);
 * - df = SE⁴ / [ (s²_T/n_T)²/(n_T−1) + (s²_C/n_C)²/(n_C−1) ] (Welch–Satterthwaite);
 * - p = P(|T_df| ≥ |Δ/SE|), CI = Δ ± t_{1−α/2,df} SE;
 * - incremental revenue = n_T Δ with CI n_T · CI(Δ);
 * - relative lift r = Δ/ȳ_C with the delta-method variance of a ratio of independent means
 *   Var(r) ≈ s²_T/(n_T ȳ_C²) + ȳ_T² s²_C/(n_C ȳ_C⁴) ([Kohavi] §18, [GB] `frequentist_variance`),
 *   CI r ± t_{1−α/2,df} √Var(r) and its own p-value, as in gbstats' TwoSidedTTest.
 *
 * Degenerate case SE = 0 (both groups have zero variance, e.g. everyone spent exactly EUR 1,000):
 * there is no sampling variability to test against, so df = NaN, the CI collapses to [Δ, Δ],
 * pValue = 1 when Δ = 0 (the data show no difference at all) and NaN when Δ ≠ 0 (the test is
 * undefined); the verdict is 'inconclusive' in both cases — a report should then show the raw numbers.
 * Groups with n < 2 give NaN statistics and 'inconclusive'.
 */
export function welchFromMoments(treatment: Moments, control: Moments, alpha = 0.05): WelchResult {
  const nT = treatment.n;
  const nC = control.n;
  const delta = treatment.mean - control.mean;
  const vT = treatment.variance / nT;
  const vC = control.variance / nC;
  const se2 = vT + vC;
  const se = Math.sqrt(se2);
  const relativeLift = control.mean !== 0 ? delta / control.mean : NaN;
  const relVar =
    treatment.variance / (nT * control.mean ** 2) + (treatment.mean ** 2 * control.variance) / (nC * control.mean ** 4);
  const relativeSe = control.mean !== 0 ? Math.sqrt(relVar) : NaN;
  let df: number;
  let t: number;
  let pValue: number;
  let q: number;
  if (se === 0) {
    df = NaN;
    t = NaN;
    pValue = delta === 0 ? 1 : NaN;
    q = 0;
  } else {
    df = (se2 * se2) / ((vT * vT) / (nT - 1) + (vC * vC) / (nC - 1));
    t = delta / se;
    pValue = studentTTwoSidedP(t, df);
    q = studentTQuantile(1 - alpha / 2, df);
  }
  const ci: [number, number] = se === 0 ? [delta, delta] : [delta - q * se, delta + q * se];
  const relQ = se === 0 ? 0 : q;
  const relativeCi: [number, number] = [relativeLift - relQ * relativeSe, relativeLift + relQ * relativeSe];
  const relativePValue =
    relativeSe > 0 && Number.isFinite(df) ? studentTTwoSidedP(relativeLift / relativeSe, df) : se === 0 ? pValue : NaN;
  return {
    treatment,
    control,
    delta,
    se,
    df,
    t,
    pValue,
    ci,
    incremental: delta * nT,
    incrementalCi: [ci[0] * nT, ci[1] * nT],
    relativeLift,
    relativeSe,
    relativeCi,
    relativePValue,
    verdict: verdictOf(delta, pValue, alpha),
  };
}

/**
 * Welch test of revenue per customer from sufficient statistics (n, Σy, Σy²); see
 * {@link welchFromMoments} for the formulas, incremental revenue and the SE = 0 convention.
 *
 * @example
 * // 100 newcomers buying EUR 1,000 each, split 95/5: incremental = (95000/95 − 5000/5)·95 = 0
 * welch({ n: 95, sum: 95000, sumSquares: 95e6 }, { n: 5, sum: 5000, sumSquares: 5e6 }).incremental // 0
 */
export function welch(treatment: GroupStats, control: GroupStats, alpha = 0.05): WelchResult {
  return welchFromMoments(moments(treatment), moments(control), alpha);
}

// ---------------------------------------------------------------------------------------------
// Conversion
// ---------------------------------------------------------------------------------------------

export interface ConversionResult {
  rateTreatment: number;
  rateControl: number;
  /** p_T − p_C. */
  difference: number;
  /** z = (p_T − p_C) / SE₀ with the pooled SE₀ = √(p̄(1−p̄)(1/n_T + 1/n_C)). */
  z: number;
  /** Two-sided p-value 2(1 − Φ(|z|)). */
  pValue: number;
  /** Unpooled (Wald) SE √(p_T(1−p_T)/n_T + p_C(1−p_C)/n_C) used for the CI. */
  se: number;
  /** (p_T − p_C) ± z_{1−α/2} · SE. */
  ci: [number, number];
  /** Incremental converters (p_T − p_C) · n_T, with CI n_T · CI. */
  incremental: number;
  incrementalCi: [number, number];
  verdict: Verdict;
}

/**
 * Two-proportion comparison of conversion rates: the pooled z-test (equivalent to Pearson's χ² test of
 * the 2×2 table without continuity correction, z² = χ²) for the p-value and the unpooled Wald interval
 * for the CI (e.g. [Kohavi] §17; Agresti, *Categorical Data Analysis*, §3.1). Both rates 0 or 1 →
 * SE = 0 → pValue 1 (Δ = 0) / NaN, verdict 'inconclusive'.
 */
export function conversion(treatment: ProportionStats, control: ProportionStats, alpha = 0.05): ConversionResult {
  const pT = treatment.conversions / treatment.n;
  const pC = control.conversions / control.n;
  const diff = pT - pC;
  const pooled = (treatment.conversions + control.conversions) / (treatment.n + control.n);
  const se0 = Math.sqrt(pooled * (1 - pooled) * (1 / treatment.n + 1 / control.n));
  const se = Math.sqrt((pT * (1 - pT)) / treatment.n + (pC * (1 - pC)) / control.n);
  const z = se0 > 0 ? diff / se0 : NaN;
  const pValue = se0 > 0 ? 2 * normalSf(Math.abs(z)) : diff === 0 ? 1 : NaN;
  const q = normalQuantile(1 - alpha / 2);
  const ci: [number, number] = [diff - q * se, diff + q * se];
  return {
    rateTreatment: pT,
    rateControl: pC,
    difference: diff,
    z,
    pValue,
    se,
    ci,
    incremental: diff * treatment.n,
    incrementalCi: [ci[0] * treatment.n, ci[1] * treatment.n],
    verdict: verdictOf(diff, pValue, alpha),
  };
}

// ---------------------------------------------------------------------------------------------
// CUPED
// ---------------------------------------------------------------------------------------------

export interface CupedResult extends WelchResult {
  /** θ = Cov(X, Y)/Var(X) pooled over both groups. */
  theta: number;
  /** Pooled correlation ρ(X, Y). */
  rho: number;
  /** Pooled covariate mean X̄. */
  meanX: number;
  /** The raw (unadjusted) Welch result for comparison. */
  raw: WelchResult;
}

/**
 * CUPED ([Deng] 2013, [Kohavi] §22): Y_cv = Y − θ(X − X̄) with θ = Cov(X, Y)/Var(X) estimated on the
 * pooled sample (both groups together, as [Deng] recommends — it keeps the estimator unbiased because
 * X is pre-period and independent of assignment).
 *
 * Per group g: adjusted mean Ȳ_g − θ(X̄_g − X̄_pooled); adjusted variance
 * Var(Y_g) − 2θ Cov_g(X, Y) + θ² Var_g(X), which equals Var(Y)(1 − ρ²) when θ is the within-group
 * optimum ([Deng] eq. 4). The adjusted moments then go through the same Welch machinery
 * ({@link welchFromMoments}), so incremental revenue, relative lift and verdict are defined as for the
 * raw metric (the relative lift is relative to the adjusted control mean). `givenTheta` adjusts
 * with another metric's θ (a sum of parts adjusted as one of them).
 */
export function cuped(treatment: CupedGroupStats, control: CupedGroupStats, alpha = 0.05, givenTheta?: number): CupedResult {
  const n = treatment.n + control.n;
  const sx = treatment.sumX + control.sumX;
  const sy = treatment.sum + control.sum;
  const sxx = treatment.sumXSquares + control.sumXSquares;
  const syy = treatment.sumSquares + control.sumSquares;
  const sxy = treatment.sumXY + control.sumXY;
  const varX = (sxx - (sx * sx) / n) / (n - 1);
  const varY = (syy - (sy * sy) / n) / (n - 1);
  const covXY = (sxy - (sx * sy) / n) / (n - 1);
  const theta = givenTheta ?? (varX > 0 ? covXY / varX : 0);
  const rho = varX > 0 && varY > 0 ? covXY / Math.sqrt(varX * varY) : 0;
  const meanX = sx / n;
  const adjust = (g: CupedGroupStats): Moments => {
    const m = moments(g);
    const mx = g.sumX / g.n;
    const vx = (g.sumXSquares - (g.sumX * g.sumX) / g.n) / (g.n - 1);
    const cxy = (g.sumXY - (g.sumX * g.sum) / g.n) / (g.n - 1);
    return {
      n: g.n,
      mean: m.mean - theta * (mx - meanX),
      variance: Math.max(0, m.variance - 2 * theta * cxy + theta * theta * vx),
    };
  };
  const adjusted = welchFromMoments(adjust(treatment), adjust(control), alpha);
  return { ...adjusted, theta, rho, meanX, raw: welch(treatment, control, alpha) };
}

// ---------------------------------------------------------------------------------------------
// Winsorization
// ---------------------------------------------------------------------------------------------

/**
 * Winsorization rule for heavy-tailed revenue ([Kohavi] §22, "capping"): every customer's value is
 * replaced by min(y, cap), where `cap` is a high percentile (e.g. the 99th) of the *pooled* per-customer
 * values of both groups — one cap for T and C, computed in SQL before aggregating, so the rule does not
 * depend on assignment and the comparison stays unbiased for the capped metric. Then Σy, Σy² are the
 * sums of the capped values. Note the estimand changes (the effect on capped revenue); report it as such.
 */
export function winsorize(value: number, cap: number): number {
  return Math.min(value, cap);
}

// ---------------------------------------------------------------------------------------------
// Sample ratio mismatch, MDE, multiple testing
// ---------------------------------------------------------------------------------------------

export interface SrmResult {
  chiSquare: number;
  pValue: number;
  /** Observed control share n_C/(n_T + n_C). */
  observedControlShare: number;
  /** p < 0.001 (the customary SRM threshold, [Kohavi] §21). */
  mismatch: boolean;
}

/**
 * Sample-ratio-mismatch check ([Kohavi] §21; same test as gbstats `check_srm`): Pearson χ² goodness of
 * fit of (n_T, n_C) to the planned shares, χ² = Σ (O − E)²/E with E_C = N·share, E_T = N·(1 − share),
 * 1 degree of freedom, p = 1 − F_χ²(χ²; 1). Flagged when p < 0.001.
 */
export function sampleRatioMismatch(nT: number, nC: number, expectedControlShare: number): SrmResult {
  const total = nT + nC;
  const eC = total * expectedControlShare;
  const eT = total - eC;
  const chiSquare = (nC - eC) ** 2 / eC + (nT - eT) ** 2 / eT;
  const pValue = chiSquareSf(chiSquare, 1);
  return { chiSquare, pValue, observedControlShare: nC / total, mismatch: pValue < 0.001 };
}

/**
 * Minimum detectable (absolute, per-customer) effect of a two-sided level-α test with the given power:
 * MDE = (z_{1−α/2} + z_{power}) · √(var_T/n_T + var_C/n_C) (normal approximation; e.g. [Kohavi] §17,
 * van Belle, *Statistical Rules of Thumb*, §2.3). Multiply by n_T for the MDE of incremental revenue.
 */
export function minimumDetectableEffect(
  varT: number,
  varC: number,
  nT: number,
  nC: number,
  alpha = 0.05,
  power = 0.8,
): number {
  return (normalQuantile(1 - alpha / 2) + normalQuantile(power)) * Math.sqrt(varT / nT + varC / nC);
}

/**
 * Benjamini–Hochberg adjusted p-values ([BH] 1995; R's `p.adjust(method = "BH")`): with p_(1) ≤ … ≤ p_(m),
 * q_(i) = min_{j ≥ i} min(1, m · p_(j) / j); returned in the input order. Monotone in p and ≥ p.
 * NaN inputs stay NaN and are not counted in m.
 */
export function benjaminiHochberg(pValues: readonly number[]): number[] {
  const out = pValues.map(() => NaN);
  const idx = pValues.map((_, i) => i).filter((i) => !Number.isNaN(pValues[i] as number));
  idx.sort((a, b) => (pValues[a] as number) - (pValues[b] as number));
  const m = idx.length;
  let running = 1;
  for (let r = m - 1; r >= 0; r--) {
    const i = idx[r] as number;
    running = Math.min(running, ((pValues[i] as number) * m) / (r + 1));
    out[i] = running;
  }
  return out;
}
