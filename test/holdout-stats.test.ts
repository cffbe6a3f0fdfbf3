/**
 * Holdout-report statistics (shared/holdout/stats.ts) against published numbers:
 * - GrowthBook gbstats unit tests (github.com/growthbook/growthbook):
 *   packages/stats/tests/frequentist/test_tests.py (TwoSidedTTest, relative / absolute / binomial),
 *   packages/stats/tests/test_gbstats.py (`test_srm`),
 *   packages/shared/test/experiments.test.ts ("does BH procedure correctly");
 * - textbook distribution tables (Student t, χ², normal);
 * - the product's worked example (100 newcomers × EUR 1,000, split 95/5);
 * - seeded simulations of 95/5 holdouts for CI coverage, false-positive rate and CUPED.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRng, type Rng } from '../shared/demo/generate.js';
import {
  benjaminiHochberg,
  chiSquareCdf,
  chiSquareSf,
  conversion,
  cuped,
  minimumDetectableEffect,
  normalCdf,
  normalQuantile,
  sampleRatioMismatch,
  studentTCdf,
  studentTQuantile,
  welch,
  welchFromMoments,
  winsorize,
  type CupedGroupStats,
  type GroupStats,
} from '../shared/holdout/stats.js';

/** gbstats rounds to 5 decimals (DECIMALS = 5): agree to within half a unit of the 5th decimal. */
const GB5 = 5.01e-6;

describe('distribution functions (textbook tables)', () => {
  it('Student t: t_{0.975,10} = 2.228 (any t table, e.g. NIST/SEMATECH e-Handbook §1.3.6.7.2)', () => {
    expect(studentTCdf(2.228, 10)).toBeCloseTo(0.975, 4);
    expect(studentTQuantile(0.975, 10)).toBeCloseTo(2.228139, 6);
    expect(studentTQuantile(0.995, 5)).toBeCloseTo(4.032143, 6); // table: 4.032
    expect(studentTQuantile(0.025, 10)).toBeCloseTo(-2.228139, 6);
  });

  it('Student t with 1 df is Cauchy: F(t) = ½ + atan(t)/π (exact identity)', () => {
    for (const t of [-30, -1, -0.2, 0, 0.5, 1, 7]) {
      expect(studentTCdf(t, 1)).toBeCloseTo(0.5 + Math.atan(t) / Math.PI, 13);
    }
  });

  it('Student t with df = 2: F(t) = ½ + t / (2√(2 + t²)) (exact identity)', () => {
    for (const t of [-5, -1, 0.3, 2, 10]) {
      expect(studentTCdf(t, 2)).toBeCloseTo(0.5 + t / (2 * Math.sqrt(2 + t * t)), 13);
    }
  });

  it('chi-square: χ²_{0.95,1} = 3.841, χ²_{0.95,2} = 5.991, χ²_{0.99,10} = 23.209 (χ² tables)', () => {
    expect(chiSquareCdf(3.841, 1)).toBeCloseTo(0.95, 4);
    expect(chiSquareCdf(5.991, 2)).toBeCloseTo(0.95, 4);
    expect(chiSquareCdf(23.209, 10)).toBeCloseTo(0.99, 4);
    // 2 df is exponential: F(x) = 1 − e^{−x/2}
    expect(chiSquareSf(40, 2)).toBeCloseTo(Math.exp(-20), 20);
  });

  it('normal: Φ⁻¹(0.975) = 1.959964, Φ(1.96) = 0.9750021, Φ⁻¹(0.8) = 0.841621 ([AS] table 26.1/26.5)', () => {
    expect(normalQuantile(0.975)).toBeCloseTo(1.959964, 6);
    expect(normalCdf(1.96)).toBeCloseTo(0.9750021, 7);
    expect(normalQuantile(0.8)).toBeCloseTo(0.841621, 6);
    expect(normalQuantile(0.995)).toBeCloseTo(2.575829, 6);
    expect(normalCdf(-5)).toBeCloseTo(2.866516e-7, 12);
  });

  it('quantiles invert their CDFs (property)', () => {
    fc.assert(
      fc.property(fc.double({ min: 1e-9, max: 1 - 1e-9, noNaN: true }), fc.double({ min: 1, max: 500, noNaN: true }), (p, df) => {
        expect(normalCdf(normalQuantile(p))).toBeCloseTo(p, 12);
        expect(studentTCdf(studentTQuantile(p, df), df)).toBeCloseTo(p, 10);
      }),
    );
  });
});

describe('Welch test vs GrowthBook gbstats TwoSidedTTest (tests/frequentist/test_tests.py)', () => {
  // gbstats: stat_a (control) = SampleMeanStatistic(sum=1396.87, sum_squares=52377.9767, n=3407),
  //          stat_b (treatment) = SampleMeanStatistic(sum=2422.7, sum_squares=134698.29, n=3461).
  const control: GroupStats = { n: 3407, sum: 1396.87, sumSquares: 52377.9767 };
  const treatment: GroupStats = { n: 3461, sum: 2422.7, sumSquares: 134698.29 };
  const r = welch(treatment, control);

  it('absolute (test_two_sided_ttest_absolute): expected 0.29, ci [0.04538, 0.53462], sd 0.12478, p 0.02016', () => {
    expect(r.delta).toBeCloseTo(0.29, 12);
    expect(Math.abs(r.ci[0] - 0.04538)).toBeLessThan(GB5);
    expect(Math.abs(r.ci[1] - 0.53462)).toBeLessThan(GB5);
    expect(Math.abs(r.se - 0.12478)).toBeLessThan(GB5);
    expect(Math.abs(r.pValue - 0.02016)).toBeLessThan(GB5);
    expect(r.verdict).toBe('significant gain');
    expect(r.incremental).toBeCloseTo(0.29 * 3461, 9);
    expect(r.incrementalCi[0]).toBeCloseTo(r.ci[0] * 3461, 9);
    expect(r.incrementalCi[1]).toBeCloseTo(r.ci[1] * 3461, 9);
  });

  it('relative (test_two_sided_ttest, the default): expected 0.70732, ci [-0.03526, 1.44989], sd 0.37879, p 0.06191', () => {
    expect(Math.abs(r.relativeLift - 0.70732)).toBeLessThan(GB5);
    expect(Math.abs(r.relativeCi[0] - -0.03526)).toBeLessThan(GB5);
    expect(Math.abs(r.relativeCi[1] - 1.44989)).toBeLessThan(GB5);
    expect(Math.abs(r.relativeSe - 0.37879)).toBeLessThan(GB5);
    expect(Math.abs(r.relativePValue - 0.06191)).toBeLessThan(GB5);
  });

  it('binomial, relative (test_two_sided_ttest_binom): 14/28 vs 16/30 → ci [-0.47767, 0.61101], sd 0.2717, p 0.80707', () => {
    // gbstats' ProportionStatistic uses variance p(1 − p) and the same Welch machinery.
    const pT = 16 / 30;
    const b = welchFromMoments({ n: 30, mean: pT, variance: pT * (1 - pT) }, { n: 28, mean: 0.5, variance: 0.25 });
    expect(Math.abs(b.relativeLift - 0.06667)).toBeLessThan(GB5);
    expect(Math.abs(b.relativeCi[0] - -0.47767)).toBeLessThan(GB5);
    expect(Math.abs(b.relativeCi[1] - 0.61101)).toBeLessThan(GB5);
    expect(Math.abs(b.relativeSe - 0.2717)).toBeLessThan(GB5);
    expect(Math.abs(b.relativePValue - 0.80707)).toBeLessThan(GB5);
  });
});

describe('product worked example: 100 newcomers × EUR 1,000, split 95/5', () => {
  it('incremental revenue (95000/95 − 5000/5) × 95 = 0; SE = 0 → p = 1, inconclusive', () => {
    const r = welch({ n: 95, sum: 95_000, sumSquares: 95 * 1e6 }, { n: 5, sum: 5_000, sumSquares: 5 * 1e6 });
    expect(r.incremental).toBe(0);
    expect(r.incrementalCi).toEqual([0, 0]);
    expect(r.se).toBe(0);
    expect(r.pValue).toBe(1);
    expect(r.verdict).toBe('inconclusive');
  });

  it('zero variance but a real difference: p NaN, still inconclusive (documented convention)', () => {
    const r = welch({ n: 95, sum: 95 * 1100, sumSquares: 95 * 1100 ** 2 }, { n: 5, sum: 5000, sumSquares: 5e6 });
    expect(r.incremental).toBeCloseTo(100 * 95, 9);
    expect(r.pValue).toBeNaN();
    expect(r.verdict).toBe('inconclusive');
  });
});

describe('conversion (two-proportion z-test)', () => {
  it('z² equals Pearson χ² of the 2×2 table (identity) and p = 1 − F_χ²(z²; 1)', () => {
    const r = conversion({ n: 9500, conversions: 1140 }, { n: 500, conversions: 45 });
    // Pearson χ² from the 2×2 table directly.
    const obs = [
      [1140, 9500 - 1140],
      [45, 500 - 45],
    ];
    const rows = [9500, 500];
    const cols = [1185, 10000 - 1185];
    let chi = 0;
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 2; j++) {
        const e = ((rows[i] as number) * (cols[j] as number)) / 10000;
        chi += (((obs[i] as number[])[j] as number) - e) ** 2 / e;
      }
    expect(r.z * r.z).toBeCloseTo(chi, 9);
    expect(r.pValue).toBeCloseTo(chiSquareSf(chi, 1), 12);
    expect(r.difference).toBeCloseTo(0.12 - 0.09, 12);
    expect(r.verdict).toBe('significant gain');
    expect(r.incremental).toBeCloseTo(0.03 * 9500, 9);
    expect(r.ci[0]).toBeLessThan(0.03);
    expect(r.ci[1]).toBeGreaterThan(0.03);
  });
});

describe('sample ratio mismatch vs gbstats (tests/test_gbstats.py::test_srm)', () => {
  it('check_srm([1000, 1200], [0.5, 0.5]) = 0.000020079', () => {
    const r = sampleRatioMismatch(1200, 1000, 0.5);
    expect(Math.abs(r.pValue - 0.000020079)).toBeLessThan(5e-10);
    expect(r.mismatch).toBe(true);
  });

  it('a clean 95/5 split is not flagged', () => {
    const r = sampleRatioMismatch(9502, 498, 0.05);
    expect(r.mismatch).toBe(false);
    expect(r.pValue).toBeGreaterThan(0.5);
  });
});

describe('minimum detectable effect', () => {
  it('(z_{0.975} + z_{0.8}) = 2.8016 — the factor behind Lehr’s n = 16σ²/δ² rule (van Belle, Statistical Rules of Thumb §2.3)', () => {
    // σ = 1, n = 16 per group → MDE ≈ 2.8016 × √(2/16) ≈ 0.99 ≈ δ = 1.
    expect(minimumDetectableEffect(1, 1, 16, 16)).toBeCloseTo(2.801585 * Math.sqrt(2 / 16), 5);
    expect(minimumDetectableEffect(1, 1, 1, 1, 0.05, 0.5)).toBeCloseTo(1.959964 * Math.SQRT2, 5);
  });
});

describe('Benjamini–Hochberg vs GrowthBook (packages/shared/test/experiments.test.ts)', () => {
  it('[0.898, 0.138, 0.007, 0.964, 0.538, 0.006, 0.138] → [0.964, 0.2415, 0.0245, 0.964, 0.7532, 0.0245, 0.2415]', () => {
    const adj = benjaminiHochberg([0.898, 0.138, 0.007, 0.964, 0.538, 0.006, 0.138]);
    const expected = [0.964, 0.2415, 0.0245, 0.964, 0.7532, 0.0245, 0.2415];
    adj.forEach((q, i) => expect(q).toBeCloseTo(expected[i] as number, 8));
  });

  it('monotone, ≥ p, ≤ 1 (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 40 }), (ps) => {
        const q = benjaminiHochberg(ps);
        ps.forEach((p, i) => {
          const qi = q[i] as number;
          expect(qi).toBeGreaterThanOrEqual(p - 1e-15);
          expect(qi).toBeLessThanOrEqual(1);
          ps.forEach((p2, j) => {
            if (p <= p2) expect(qi).toBeLessThanOrEqual((q[j] as number) + 1e-15);
          });
        });
      }),
    );
  });
});

describe('winsorize', () => {
  it('caps at the pooled cap', () => {
    expect(winsorize(5000, 1200)).toBe(1200);
    expect(winsorize(300, 1200)).toBe(300);
  });
});

// ---------------------------------------------------------------------------------------------
// Simulations
// ---------------------------------------------------------------------------------------------

interface Sim {
  t: CupedGroupStats;
  c: CupedGroupStats;
}

const empty = (): CupedGroupStats => ({ n: 0, sum: 0, sumSquares: 0, sumX: 0, sumXSquares: 0, sumXY: 0 });

function add(g: CupedGroupStats, x: number, y: number): void {
  g.n += 1;
  g.sum += y;
  g.sumSquares += y * y;
  g.sumX += x;
  g.sumXSquares += x * x;
  g.sumXY += x * y;
}

/**
 * One 95/5 holdout of `n` customers: pre-period spend X ~ Gamma(2, rate 0.02) (mean 100, sd 70.7);
 * outcome Y = 0.7·X + 30 + noise (noise ~ Gamma(1.5) centred, sd ≈ 0.714·sd(X) so ρ(X, Y) ≈ 0.7);
 * treated customers get an additive effect `effect`.
 */
function simulate(rng: Rng, n: number, effect: number): Sim {
  const t = empty();
  const c = empty();
  const sdX = Math.sqrt(2) / 0.02;
  const sdNoise = Math.sqrt(0.51) * sdX;
  const shape = 1.5;
  const rate = Math.sqrt(shape) / sdNoise; // sd of Gamma(shape, rate) = √shape / rate
  for (let i = 0; i < n; i++) {
    const x = rng.gamma(2, 0.02);
    const noise = rng.gamma(shape, rate) - shape / rate;
    const inControl = rng.uniform() < 0.05;
    const y = 0.7 * x + 30 + noise + (inControl ? 0 : effect);
    add(inControl ? c : t, x, y);
  }
  return { t, c };
}

describe('simulation: 200 seeded 95/5 holdouts', () => {
  const runs = 200;
  const n = 4000;

  it('95 % CI of incremental revenue covers the truth in 91–99 % of runs; CUPED narrower and also covers', () => {
    const rng = createRng(20240601);
    const effect = 8;
    let covered = 0;
    let coveredCuped = 0;
    let widthRatio = 0;
    for (let k = 0; k < runs; k++) {
      const { t, c } = simulate(rng, n, effect);
      const truth = effect * t.n;
      const r = welch(t, c);
      if (r.incrementalCi[0] <= truth && truth <= r.incrementalCi[1]) covered++;
      const cu = cuped(t, c);
      if (cu.incrementalCi[0] <= truth && truth <= cu.incrementalCi[1]) coveredCuped++;
      widthRatio += (cu.ci[1] - cu.ci[0]) / (r.ci[1] - r.ci[0]) / runs;
      expect(cu.rho).toBeGreaterThan(0.6);
      expect(cu.rho).toBeLessThan(0.8);
    }
    expect(covered / runs).toBeGreaterThanOrEqual(0.91);
    expect(covered / runs).toBeLessThanOrEqual(0.99);
    expect(coveredCuped / runs).toBeGreaterThanOrEqual(0.91);
    expect(coveredCuped / runs).toBeLessThanOrEqual(0.99);
    // √(1 − ρ²) ≈ 0.714 for ρ = 0.7
    expect(widthRatio).toBeLessThan(0.8);
    expect(widthRatio).toBeGreaterThan(0.6);
  });

  it('with zero effect the false-positive rate is near 5 % (1–10 %), raw and CUPED', () => {
    const rng = createRng(7);
    let fp = 0;
    let fpCuped = 0;
    for (let k = 0; k < runs; k++) {
      const { t, c } = simulate(rng, n, 0);
      if (welch(t, c).verdict !== 'inconclusive') fp++;
      if (cuped(t, c).verdict !== 'inconclusive') fpCuped++;
    }
    expect(fp / runs).toBeGreaterThanOrEqual(0.01);
    expect(fp / runs).toBeLessThanOrEqual(0.1);
    expect(fpCuped / runs).toBeGreaterThanOrEqual(0.01);
    expect(fpCuped / runs).toBeLessThanOrEqual(0.1);
  });

  it('SRM is not flagged for honest 95/5 assignment and is flagged for a 94/6 leak', () => {
    const rng = createRng(99);
    let flagged = 0;
    for (let k = 0; k < runs; k++) {
      let nc = 0;
      for (let i = 0; i < n; i++) if (rng.uniform() < 0.05) nc++;
      if (sampleRatioMismatch(n - nc, nc, 0.05).mismatch) flagged++;
    }
    expect(flagged).toBeLessThanOrEqual(2);
    expect(sampleRatioMismatch(94_000, 6_000, 0.05).mismatch).toBe(true);
  });
});
