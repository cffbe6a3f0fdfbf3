/**
 * Anytime-valid inference for a holdout read every morning. A fixed-horizon 95 % interval is right
 * for one look; a team that reads the "since start" row every night and acts on the first
 * significant one is wrong far more often than 5 % of the time. An asymptotic confidence sequence
 * is valid at every look at once: Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas (2023),
 * "Time-uniform central limit theory and asymptotic confidence sequences" (arXiv:2103.06476),
 * eq. (9), with ρ tuned by eq. (161) to be tightest near N* observations. GrowthBook's sequential
 * testing (gbstats `SequentialTwoSidedTTest`) uses the same interval, with N* = 5,000 by default.
 *
 * For an estimate of a difference in means over n units in all (both groups) with variance
 * `variance` (s²_T/n_T + s²_C/n_C), the per-unit spread is σ̂ = √(variance · n) and
 *
 *   half-width = σ̂ · √( 2(nρ² + 1) / (n²ρ²) · ln(√(nρ² + 1) / α) ),   ρ² = (−2 ln α + ln(−2 ln α + 1)) / N*.
 */
import { verdictOf, type Verdict, type WelchResult } from './stats.js';

/** ρ of the confidence sequence for level α, tightest near `tuning` (N*) observations (eq. 161). */
export function sequentialRho(alpha: number, tuning: number): number {
  const twoLogAlpha = -2 * Math.log(alpha);
  return Math.sqrt((twoLogAlpha + Math.log(twoLogAlpha + 1)) / tuning);
}

/** The confidence sequence's half-width at `n` units for an estimate of variance `variance` (eq. 9). */
export function sequentialHalfWidth(variance: number, n: number, alpha: number, tuning: number): number {
  const rho2 = sequentialRho(alpha, tuning) ** 2;
  const spread2 = variance * n;
  return Math.sqrt(spread2 * ((2 * (n * rho2 + 1)) / (n * n * rho2)) * Math.log(Math.sqrt(n * rho2 + 1) / alpha));
}

/**
 * The always-valid p-value of `estimate` against 0: the smallest level whose sequence (with ρ
 * tuned for `alpha`, as the interval) excludes 0, so that p < α exactly when the sequential
 * interval excludes 0. Solving half-width(p) = |estimate| for p:
 * p = √(nρ² + 1) · exp(−estimate² n²ρ² / (2 σ̂² (nρ² + 1))), at most 1.
 */
export function sequentialPValue(estimate: number, variance: number, n: number, alpha: number, tuning: number): number {
  // No spread to test against (as the fixed test): no difference is p = 1, any other undefined.
  if (!(variance > 0)) return estimate === 0 ? 1 : NaN;
  const rho2 = sequentialRho(alpha, tuning) ** 2;
  const spread2 = variance * n;
  const p = Math.sqrt(n * rho2 + 1) * Math.exp(-(estimate * estimate * n * n * rho2) / (2 * spread2 * (n * rho2 + 1)));
  return Math.min(1, p);
}

/** The sequential counterpart of a Welch result: the incremental revenue's interval, the p-value, the verdict. */
export interface SequentialResult {
  /** n_T · (Δ ± half-width). */
  incrementalCi: [number, number];
  pValue: number;
  verdict: Verdict;
}

/** The confidence sequence for Δ of `welch` (its n_T + n_C customers), scaled to incremental revenue as the fixed interval. */
export function sequentialWelch(welch: WelchResult, alpha: number, tuning: number): SequentialResult {
  const n = welch.treatment.n + welch.control.n;
  const variance = welch.se ** 2;
  const halfWidth = sequentialHalfWidth(variance, n, alpha, tuning);
  const pValue = sequentialPValue(welch.delta, variance, n, alpha, tuning);
  const nT = welch.treatment.n;
  return { incrementalCi: [(welch.delta - halfWidth) * nT, (welch.delta + halfWidth) * nT], pValue, verdict: verdictOf(welch.delta, pValue, alpha) };
}
