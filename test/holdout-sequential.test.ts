/**
 * The anytime-valid interval of the holdout (shared/holdout/sequential.ts): the formula against
 * GrowthBook's gbstats, its duality with the p-value, and what it is for — an A/A programme read
 * every night for 30 nights is declared significant at some look in at most 5 % of experiments,
 * where the fixed-horizon test, read the same way, is wrong far more often.
 */
import { describe, expect, it } from 'vitest';
import { createRng } from '../shared/demo/generate.js';
import { holdoutReport, returnOnCost } from '../shared/holdout/report.js';
import { sequentialHalfWidth, sequentialPValue, sequentialRho, sequentialWelch } from '../shared/holdout/sequential.js';
import { normalQuantile, welch, type GroupStats } from '../shared/holdout/stats.js';

describe('the confidence sequence (Waudby-Smith et al. 2023, eq. 9 and 161)', () => {
  it('ρ and the half-width as written in the paper, computed here from the formula', () => {
    const [alpha, tuning, n, variance] = [0.05, 5000, 12_000, 0.04];
    const rho2 = (-2 * Math.log(alpha) + Math.log(-2 * Math.log(alpha) + 1)) / tuning;
    expect(sequentialRho(alpha, tuning) ** 2).toBeCloseTo(rho2, 15);
    const sigma = Math.sqrt(variance * n);
    const expected = sigma * Math.sqrt(((2 * (n * rho2 + 1)) / (n * n * rho2)) * Math.log(Math.sqrt(n * rho2 + 1) / alpha));
    expect(sequentialHalfWidth(variance, n, alpha, tuning)).toBeCloseTo(expected, 12);
    // Wider than the fixed-horizon interval it replaces, at the tuning point as far beyond it.
    for (const units of [500, 5000, 50_000, 500_000]) {
      const perUnit = 4;
      expect(sequentialHalfWidth(perUnit / units, units, alpha, tuning)).toBeGreaterThan(normalQuantile(0.975) * Math.sqrt(perUnit / units));
    }
  });

  it("equals GrowthBook's sequential interval on its own test case (gbstats tests/frequentist/test_tests.py, TestSequentialTTest.test_sequential_test_runs)", () => {
    // SampleMeanStatistic(sum=1396.87, sum_squares=52377.9767, n=3000) vs (sum=2422.7, sum_squares=134698.29, n=3461),
    // SequentialConfig(sequential_tuning_parameter=1000), relative difference: expected 0.50336,
    // ci (-0.55844, 1.56516), uplift stddev 0.33341, p-value 1. The relative lift's delta-method
    // variance with the sequence's half-width over both groups' 6,461 units:
    const group = (sum: number, squares: number, n: number) => ({ n, mean: sum / n, variance: (squares - (sum * sum) / n) / (n - 1) });
    const [a, b] = [group(1396.87, 52377.9767, 3000), group(2422.7, 134698.29, 3461)];
    const lift = (b.mean - a.mean) / a.mean;
    const variance = b.variance / (a.mean ** 2 * b.n) + (a.variance * b.mean ** 2) / (a.mean ** 4 * a.n);
    const half = sequentialHalfWidth(variance, a.n + b.n, 0.05, 1000);
    expect(lift).toBeCloseTo(0.50336, 5);
    expect(Math.sqrt(variance)).toBeCloseTo(0.33341, 5);
    expect(lift - half).toBeCloseTo(-0.55844, 5);
    expect(lift + half).toBeCloseTo(1.56516, 5);
    expect(sequentialPValue(lift, variance, a.n + b.n, 0.05, 1000)).toBe(1);
  });

  it("equals gbstats on its other cases: proportions, the tuning fixtures, a dimension (p-values below 1 included)", () => {
    // The relative lift with its delta-method variance, as gbstats' frequentist_variance.
    const relative = (a: { n: number; mean: number; variance: number }, b: typeof a) => ({
      lift: (b.mean - a.mean) / a.mean,
      variance: b.variance / (a.mean ** 2 * b.n) + (a.variance * b.mean ** 2) / (a.mean ** 4 * a.n),
      n: a.n + b.n,
    });
    const mean = (sum: number, squares: number, n: number) => ({ n, mean: sum / n, variance: (squares - (sum * sum) / n) / (n - 1) });
    const proportion = (sum: number, n: number) => ({ n, mean: sum / n, variance: (sum / n) * (1 - sum / n) });
    const check = (r: ReturnType<typeof relative>, tuning: number, expected: { ci?: [number, number]; p: number }) => {
      const half = sequentialHalfWidth(r.variance, r.n, 0.05, tuning);
      if (expected.ci) {
        expect(r.lift - half).toBeCloseTo(expected.ci[0], 5);
        expect(r.lift + half).toBeCloseTo(expected.ci[1], 5);
      }
      expect(sequentialPValue(r.lift, r.variance, r.n, 0.05, tuning)).toBeCloseTo(expected.p, 5);
    };
    // test_tests.py, TestSequentialTTest.test_sequential_test_runs_prop (default N* = 5000).
    check(relative(proportion(1396, 3000), proportion(2422, 3461)), 5000, { ci: [0.40098, 0.60675], p: 0 });
    // tsgbstats fixtures of test_sequential_test_tuning_as_expected.
    const ab = relative(mean(1396.87, 52377.9767, 3000), mean(2422.7, 134698.29, 3461));
    check(ab, 10, { ci: [-0.76785, 1.77457], p: 1 });
    check(ab, 6461, { ci: [-0.50861, 1.51534], p: 1 });
    check(ab, 10_000, { ci: [-0.51485, 1.52157], p: 0.95385 });
    // test_gbstats.py, TestAnalyzeMetricDfSequential, dimension "one" (N* = 600): p 0.892332229, ci low −0.233322085.
    const one = relative(mean(270, 848.79, 100), mean(300, 869, 120));
    expect(one.lift).toBeCloseTo(-0.074074074, 8);
    expect(one.lift - sequentialHalfWidth(one.variance, one.n, 0.05, 600)).toBeCloseTo(-0.233322085, 8);
    expect(sequentialPValue(one.lift, one.variance, one.n, 0.05, 600)).toBeCloseTo(0.892332229, 8);
  });

  it('the always-valid p-value is below α exactly when the sequence excludes 0 (random cases)', () => {
    const rng = createRng(7);
    for (let i = 0; i < 2000; i++) {
      const n = 50 + Math.floor(rng.uniform() * 100_000);
      const variance = 10 ** (rng.uniform() * 4 - 3);
      const estimate = (rng.uniform() - 0.5) * 8 * Math.sqrt(variance);
      const alpha = [0.01, 0.05, 0.1][i % 3]!;
      const tuning = [1000, 5000, 20_000][i % 3]!;
      const excludes = Math.abs(estimate) > sequentialHalfWidth(variance, n, alpha, tuning);
      expect(sequentialPValue(estimate, variance, n, alpha, tuning) < alpha, `case ${i}`).toBe(excludes);
    }
  });

  it('no spread: no difference is p = 1, any other undefined (as the fixed test)', () => {
    expect(sequentialPValue(0, 0, 100, 0.05, 5000)).toBe(1);
    expect(sequentialPValue(3, 0, 100, 0.05, 5000)).toBeNaN();
  });
});

describe('holdout_results rows', () => {
  const stat = (window: string, group: string, n: number, revenue: number, squares: number) => ({
    holdout: 'global', window, segment: 'ALL', holdout_group: group, cap: 100, n, revenue, revenue_squares: squares, conversions: n / 2, pre: 0, pre_squares: 0, pre_revenue: 0, capped: revenue, capped_squares: squares,
    clv_end: 0, clv_end_squares: 0, clv_start: 0, clv_start_squares: 0, clv_start_end: 0, revenue_clv_end: 0, clv_start_revenue: 0,
  });
  // The same groups in both windows: treated 9,500 customers spending 21 on average (sd ≈ 30), control 500 spending 18.
  const rows = ['last_30_days', 'since_start'].flatMap((w) => [stat(w, 'treatment', 9500, 9500 * 21, 9500 * (21 ** 2 + 900)), stat(w, 'control', 500, 500 * 18, 500 * (18 ** 2 + 900))]);
  const report = holdoutReport(rows, { controlShare: () => 0.05, minGroupSize: 30, minBuyers: 30, sequentialTuning: 5000, margin: 1 });

  it('carry the confidence sequence of the Welch estimate, scaled to incremental revenue; since_start judges by it', () => {
    const fixed = welch({ n: 9500, sum: 9500 * 21, sumSquares: 9500 * (21 ** 2 + 900) }, { n: 500, sum: 500 * 18, sumSquares: 500 * (18 ** 2 + 900) });
    const half = sequentialHalfWidth(fixed.se ** 2, 10_000, 0.05, 5000) * 9500;
    for (const row of report) {
      expect(row.seq_ci_low).toBeCloseTo(fixed.incremental - half, 6);
      expect(row.seq_ci_high).toBeCloseTo(fixed.incremental + half, 6);
    }
    // The fixed test finds a gain (p ≈ 0.03), the sequence does not exclude 0: the watched window stays inconclusive.
    const [rolling, sinceStart] = [report.find((r) => r.window === 'last_30_days')!, report.find((r) => r.window === 'since_start')!];
    expect(rolling.p_value!).toBeLessThan(0.05);
    expect(rolling.verdict).toBe('significant gain');
    expect(sinceStart.seq_p_value!).toBeGreaterThan(0.05);
    expect(sinceStart.seq_ci_low!).toBeLessThan(0);
    expect(sinceStart.verdict).toBe('inconclusive');
  });

  it('are suppressed below holdout.min_buyers buyers in a group: the statistics left out, the reason given', () => {
    // The control's 500 customers with 29 buyers, then 30.
    const buyers = (conversions: number) => rows.map((r) => (r.holdout_group === 'control' ? { ...r, conversions } : r));
    const options = { controlShare: () => 0.05, minGroupSize: 30, minBuyers: 30, sequentialTuning: 5000, margin: 1 };
    for (const row of holdoutReport(buyers(29), options)) {
      expect(row.verdict).toBe('suppressed: fewer than 30 buyers in a group');
      expect([row.incremental_revenue, row.ci_low, row.seq_ci_low, row.incremental_value]).toEqual([undefined, undefined, undefined, undefined]);
      expect(row.n_control).toBe(500);
    }
    expect(holdoutReport(buyers(30), options).every((r) => typeof r.ci_low === 'number')).toBe(true);
    // Fewer customers than min_group_size is the reason named first.
    expect(holdoutReport(buyers(29), { ...options, minGroupSize: 501 })[0]!.verdict).toBe('suppressed: fewer than 501 customers in a group');
  });
});

/**
 * An A/A holdout as the product sees it: 50,000 customers at the start and 500 new ones a night,
 * 5 % of them in control; every customer buys on a night with probability 3 % a lognormal basket
 * (median EUR 20, heavy right tail); the since-start revenue per customer is tested every night.
 * Only the buyers are visited (geometric gaps), the groups' sums updated as they buy.
 */
function aaExperiments(experiments: number, nights: number, seed: number) {
  const rng = createRng(seed);
  const [base, arrivals, buying] = [50_000, 500, 0.03];
  const gap = () => Math.floor(Math.log(1 - rng.uniform()) / Math.log(1 - buying));
  let fixedAny = 0;
  let sequentialAny = 0;
  for (let e = 0; e < experiments; e++) {
    const revenue = new Float64Array(base + arrivals * nights);
    const group = new Uint8Array(revenue.length);
    const groups: [GroupStats, GroupStats] = [{ n: 0, sum: 0, sumSquares: 0 }, { n: 0, sum: 0, sumSquares: 0 }];
    let customers = 0;
    const join = (count: number) => {
      for (let i = 0; i < count; i++) groups[(group[customers++] = rng.uniform() < 0.05 ? 1 : 0)]!.n++;
    };
    let [fixedHit, sequentialHit] = [false, false];
    join(base);
    for (let night = 0; night < nights; night++) {
      join(arrivals);
      for (let c = gap(); c < customers; c += 1 + gap()) {
        const [before, basket] = [revenue[c]!, Math.exp(3 + rng.normal())];
        const g = groups[group[c]!]!;
        g.sum += basket;
        g.sumSquares += (before + basket) ** 2 - before ** 2;
        revenue[c] = before + basket;
      }
      const fixed = welch(groups[0], groups[1]);
      fixedHit ||= fixed.pValue < 0.05;
      sequentialHit ||= sequentialWelch(fixed, 0.05, 5000).pValue < 0.05;
    }
    fixedAny += fixedHit ? 1 : 0;
    sequentialAny += sequentialHit ? 1 : 0;
  }
  return { fixed: fixedAny / experiments, sequential: sequentialAny / experiments };
}

describe('an A/A holdout read every night', () => {
  it('2,000 experiments × 30 looks at a 95/5 split: any look significant in ≤ 5 % with the sequential verdict, far more with the fixed one', () => {
    const share = aaExperiments(2000, 30, 20261203);
    console.log(`A/A, 2,000 experiments × 30 nightly looks: any look significant — fixed-horizon ${(share.fixed * 100).toFixed(1)} %, sequential ${(share.sequential * 100).toFixed(1)} %`);
    expect(share.sequential).toBeLessThanOrEqual(0.05);
    expect(share.fixed).toBeGreaterThan(0.15);
  }, 120_000);
});

describe('the return on the programme\'s cost', () => {
  it('(value − cost) / cost with the CI carried over; no cost is NULL, not ∞', () => {
    const value = { incremental_value: 4100, value_ci_low: 1400, value_ci_high: 6800, value_seq_ci_low: -900, value_seq_ci_high: 9100 };
    expect(returnOnCost(value, 1000)).toEqual({ roi: 3.1, roi_ci_low: 0.4, roi_ci_high: 5.8, roi_seq_ci_low: -1.9, roi_seq_ci_high: 8.1 });
    expect(returnOnCost(value, 0)).toEqual({ roi: null, roi_ci_low: null, roi_ci_high: null, roi_seq_ci_low: null, roi_seq_ci_high: null });
  });
});
