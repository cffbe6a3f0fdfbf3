/**
 * Do the holdout's intervals cover the truth? A CRM programme with a known effect on revenue and
 * on retention, read every night for 30 nights as the since_start row is: per experiment, 10,000
 * customers with the demo retailer's purchase process (business.ts: BG/NBD with rate
 * λ ~ Gamma(0.9, 60) a day, dropout p ~ Beta(1.2, 6) after each order, Gamma-Gamma spend), 5 % in
 * control; from the programme's start, treated customers buy at 1.3 λ and leave after an order
 * with probability 0.7 p. Each customer's value is margin × revenue since the start + CLV, with
 * CLV a score of what is observed (the BG/NBD P(alive) and conditional rate at the true
 * parameters, × mean spend × a year × margin), as customer_scores gives one.
 *
 * The truth is computed apart, on 100,000 customers in both worlds with common random numbers
 * (each order candidate of the treated world kept in the control world with probability 1/1.3,
 * dropout compared with the same uniform): τ_k = E[value with − value without] at night k, so the
 * true incremental value of an experiment is n_treatment × τ_k and its true ROI (n_T τ_k − C) / C.
 *
 * The statistics are holdout_results' own (holdoutReport on the groups' sums, returnOnCost), with
 * holdout.min_buyers at its default: a night is judged once each group has 30 buyers.
 */
import { describe, expect, it } from 'vitest';
import { createRng, type Rng } from '../shared/demo/generate.js';
import { holdoutReport, returnOnCost, type ResultRow, type StatRow } from '../shared/holdout/report.js';

const PURCHASE = { r: 0.9, alpha: 60, a: 1.2, b: 6 };
const SPEND = { p: 6, q: 5, gamma: 36 };
const EFFECT = { rate: 0.3, retention: 0.3 };
const [NIGHTS, MARGIN, CONTROL_SHARE] = [30, 0.4, 0.05];

interface Customer {
  birth: number;
  lambda: number;
  dropout: number;
  nu: number;
  /** Orders before the start: count, time of the last, spend. */
  orders: number;
  last: number;
  spend: number;
  aliveAtStart: boolean;
  /** Order candidates from the start at the treated rate, each with its uniforms and spend. */
  candidates: { t: number; keep: number; leave: number; amount: number }[];
}

function customer(rng: Rng): Customer {
  const birth = -365 * rng.uniform();
  const [lambda, dropout, nu] = [rng.gamma(PURCHASE.r, PURCHASE.alpha), rng.beta(PURCHASE.a, PURCHASE.b), rng.gamma(SPEND.q, SPEND.gamma)];
  const c: Customer = { birth, lambda, dropout, nu, orders: 0, last: birth, spend: 0, aliveAtStart: false, candidates: [] };
  for (let t = birth; ; ) {
    c.orders++;
    c.last = t;
    c.spend += rng.gamma(SPEND.p, nu);
    if (rng.uniform() < dropout) return c;
    t += rng.exponential(lambda);
    if (t >= 0) break;
  }
  c.aliveAtStart = true;
  // Memoryless: the candidates from 0 at the treated world's rate.
  for (let t = rng.exponential(lambda * (1 + EFFECT.rate)); t < NIGHTS; t += rng.exponential(lambda * (1 + EFFECT.rate))) {
    c.candidates.push({ t, keep: rng.uniform(), leave: rng.uniform(), amount: rng.gamma(SPEND.p, nu) });
  }
  return c;
}

/** CLV as scored from what is observed at time `at`: x repeat orders, the last at `last`. */
function clv(c: Customer, orders: number, last: number, spend: number, at: number): number {
  const [x, T, tx] = [orders - 1, at - c.birth, last - c.birth];
  const { r, alpha, a, b } = PURCHASE;
  const alive = x === 0 ? 1 : 1 / (1 + (a / (b + x - 1)) * ((alpha + T) / (alpha + tx)) ** (r + x));
  return MARGIN * (spend / orders) * 365 * ((r + x) / (alpha + T)) * alive;
}

/** The customer's value each night 1..NIGHTS (margin × revenue since the start + CLV), revenue, and CLV at the start. */
function outcomes(c: Customer, treated: boolean) {
  const value = new Float64Array(NIGHTS);
  const revenue = new Float64Array(NIGHTS);
  let [orders, last, spend, since, alive, next] = [c.orders, c.last, c.spend, 0, c.aliveAtStart, 0];
  for (let night = 1; night <= NIGHTS; night++) {
    for (; next < c.candidates.length && c.candidates[next]!.t < night; next++) {
      const k = c.candidates[next]!;
      if (!alive || (!treated && k.keep >= 1 / (1 + EFFECT.rate))) continue;
      [orders, last, spend, since] = [orders + 1, k.t, spend + k.amount, since + k.amount];
      if (k.leave < c.dropout * (treated ? 1 - EFFECT.retention : 1)) alive = false;
    }
    revenue[night - 1] = since;
    value[night - 1] = MARGIN * since + clv(c, orders, last, spend, night);
  }
  return { value, revenue, start: clv(c, c.orders, c.last, c.spend, 0) };
}

/** τ_k: the programme's effect on a customer's value by night k, on `n` customers in both worlds. */
function trueEffect(n: number, seed: number): Float64Array {
  const rng = createRng(seed);
  const tau = new Float64Array(NIGHTS);
  for (let i = 0; i < n; i++) {
    const c = customer(rng);
    const [treated, control] = [outcomes(c, true), outcomes(c, false)];
    for (let k = 0; k < NIGHTS; k++) tau[k]! += (treated.value[k]! - control.value[k]!) / n;
  }
  return tau;
}

const emptySums = (holdout_group: string): StatRow => ({
  holdout: 'global', window: 'since_start', segment: 'ALL', holdout_group, cap: Infinity, n: 0, revenue: 0, revenue_squares: 0, conversions: 0, pre: 0, pre_squares: 0, pre_revenue: 0,
  capped: 0, capped_squares: 0, clv_end: 0, clv_end_squares: 0, clv_start: 0, clv_start_squares: 0, clv_start_end: 0, revenue_clv_end: 0, clv_start_revenue: 0,
});

/** One experiment: the groups' sums of each night's since_start row. */
function experiment(rng: Rng, customers: number) {
  const nights = Array.from({ length: NIGHTS }, () => [emptySums('treatment'), emptySums('control')] as const);
  for (let i = 0; i < customers; i++) {
    const treated = rng.uniform() >= CONTROL_SHARE;
    const c = customer(rng);
    const o = outcomes(c, treated);
    for (let k = 0; k < NIGHTS; k++) {
      const s = nights[k]![treated ? 0 : 1];
      // The value's sums as holdoutStatsSql gives them: the revenue (× margin) and the CLV's apart.
      const [rev, end, start] = [o.revenue[k]!, o.value[k]! - MARGIN * o.revenue[k]!, o.start];
      s.n++;
      s.revenue += rev;
      s.revenue_squares += rev * rev;
      s.capped += rev;
      s.capped_squares += rev * rev;
      s.conversions += rev !== 0 ? 1 : 0;
      s.clv_end += end;
      s.clv_end_squares += end * end;
      s.clv_start += start;
      s.clv_start_squares += start * start;
      s.clv_start_end += start * end;
      s.revenue_clv_end += rev * end;
      s.clv_start_revenue += start * rev;
    }
  }
  return nights;
}

/** Each night's since_start row as holdout_results computes it from the sums, with holdout.min_buyers = `minBuyers`. */
const report = (nights: ReturnType<typeof experiment>, minBuyers: number) =>
  nights.map((groups) => holdoutReport(groups, { controlShare: () => CONTROL_SHARE, minGroupSize: 30, minBuyers, sequentialTuning: 5000, margin: MARGIN })[0]!);

describe('coverage of the holdout\'s intervals, with an effect on revenue and on retention', () => {
  it('200 experiments × 30 nights: the fixed interval covers the true value and ROI at ~95 % on a night, the sequence on every judged night at once', () => {
    const [experiments, customers] = [200, 10_000];
    const tau = trueEffect(100_000, 7);
    expect(tau[NIGHTS - 1]).toBeGreaterThan(0);
    // A cost that puts the true ROI near 2 after 30 nights.
    const cost = ((1 - CONTROL_SHARE) * customers * tau[NIGHTS - 1]!) / 3;
    const rng = createRng(20261203);
    const covered = { fixedLast: 0, sequentialLast: 0, roiLast: 0, fixedEveryNight: 0, sequentialEveryNight: 0, firstNightWithoutRule: 0 };
    for (let e = 0; e < experiments; e++) {
      const sums = experiment(rng, customers);
      const rows = report(sums, 30);
      const within = (k: number, row: ResultRow, [low, high]: ['value_ci_low', 'value_ci_high'] | ['value_seq_ci_low', 'value_seq_ci_high']) => {
        const truth = Number(row.n_treatment) * tau[k]!;
        return (row[low] as number) <= truth && truth <= (row[high] as number);
      };
      const fixed = ['value_ci_low', 'value_ci_high'] as ['value_ci_low', 'value_ci_high'];
      const sequential = ['value_seq_ci_low', 'value_seq_ci_high'] as ['value_seq_ci_low', 'value_seq_ci_high'];
      const last = rows[NIGHTS - 1]!;
      const roi = returnOnCost(last, cost);
      const trueRoi = (Number(last.n_treatment) * tau[NIGHTS - 1]! - cost) / cost;
      covered.fixedLast += within(NIGHTS - 1, last, fixed) ? 1 : 0;
      covered.sequentialLast += within(NIGHTS - 1, last, sequential) ? 1 : 0;
      covered.roiLast += roi.roi_ci_low! <= trueRoi && trueRoi <= roi.roi_ci_high! ? 1 : 0;
      // The nights the row is judged on: from the first with 30 buyers in each group.
      const judged = rows.map((row, k) => [row, k] as const).filter(([row]) => !String(row.verdict).startsWith('suppressed'));
      expect(judged.length).toBeGreaterThanOrEqual(NIGHTS / 3);
      covered.fixedEveryNight += judged.every(([row, k]) => within(k, row, fixed)) ? 1 : 0;
      covered.sequentialEveryNight += judged.every(([row, k]) => within(k, row, sequential)) ? 1 : 0;
      covered.firstNightWithoutRule += within(0, report(sums, 0)[0]!, fixed) ? 1 : 0;
    }
    const share = Object.fromEntries(Object.entries(covered).map(([k, v]) => [k, v / experiments])) as Record<keyof typeof covered, number>;
    console.log(`coverage of the true incremental value, ${experiments} experiments: ${Object.entries(share).map(([k, v]) => `${k} ${(100 * v).toFixed(1)} %`).join(', ')}`);
    // A single night: the fixed interval (and the ROI's, its rescaling by the known cost) at its nominal 95 %.
    expect(share.fixedLast).toBeGreaterThanOrEqual(0.91);
    expect(share.fixedLast).toBeLessThanOrEqual(0.99);
    expect(share.roiLast).toBeGreaterThanOrEqual(0.91);
    expect(share.roiLast).toBeLessThanOrEqual(0.99);
    // Every judged night at once: what the sequence promises (at least 95 %), and the fixed interval does not keep.
    expect(share.sequentialEveryNight).toBeGreaterThanOrEqual(0.91);
    expect(share.fixedEveryNight).toBeLessThan(0.85);
    // Why holdout.min_buyers: on the first night (~8 buyers in control) the normal approximation fails.
    expect(share.firstNightWithoutRule).toBeLessThan(0.9);
  }, 120_000);
});
