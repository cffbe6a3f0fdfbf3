/**
 * CLV in the nightly run: CDNOW's 1/10 sample, calibration period only (1997-01-01..1997-09-30),
 * from its raw file through ingest, summary, fits and scoring, in weeks. The fits must reproduce
 * the published estimates, and a fit that does not converge must not produce predictions.
 */
import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { bgNbdLogLikelihood, compressFrequency, conditionalExpectedPurchases, probabilityAlive, type BgNbdParams } from '../shared/clv/bgnbd.js';
import { betaMean } from './quadrature.js';
import { FREQUENCY_MODELS, type FrequencyModel } from '../shared/clv/models.js';
import { fitFirstConverging } from '../shared/clv/score-customers.js';
import { customerScores, modelFit, modelTracking, modelValidation, segmentForecast } from '../shared/tables/index.js';
import { cdnowSummary, CSV_HEADER, readTable, runLocal, tempDir, writeExtract } from './helpers.js';

const FIXTURE = new URL('./fixtures/cdnow/', import.meta.url);
const CALIBRATION_END = '1997-09-30';
/**
 * CLVTools' BG/NBD estimates on the unrounded CDNOW sample (tests/testthat/test_correctness_bgnbd.R),
 * which agree with Fader, Hardie & Lee (2005): r 0.243, α 4.414, a 0.793, b 2.426, LL −9582.4.
 */
const CLVTOOLS = { r: 0.2425945, alpha: 4.4136019, a: 0.7929199, b: 2.4258881, ll: -9582.429 };

describe('CLV in the nightly run on CDNOW', () => {
  let fits: Record<string, unknown>[];
  let scores: Record<string, unknown>[];
  let forecast: Record<string, unknown>[];

  beforeAll(async () => {
    const source = await tempDir('clv-src');
    const dest = await tempDir('clv-dest');
    const sample = await readFile(new URL('CDNOW_sample.txt', FIXTURE), 'utf8');
    const calibration = sample.split(/\r?\n/).filter((line) => {
      const date = line.trim().split(/\s+/)[2];
      return date !== undefined && date <= CALIBRATION_END.replaceAll('-', '');
    });
    await writeExtract(source, CALIBRATION_END, 'calibration.txt', calibration.join('\n'));
    const config = JSON.parse(await readFile(new URL('sample-config.json', FIXTURE), 'utf8'));
    const result = await runLocal(CALIBRATION_END, source, dest, { ...config, clv: { time_unit: 'week' } });
    expect(result.status).toBe('succeeded');
    fits = await readTable(dest, modelFit, CALIBRATION_END);
    scores = await readTable(dest, customerScores, CALIBRATION_END);
    forecast = await readTable(dest, segmentForecast, CALIBRATION_END);
  });

  it('fits BG/NBD to the published CDNOW estimates', () => {
    const bgnbd = fits.find((f) => f['model'] === 'bgnbd')!;
    expect(bgnbd).toMatchObject({ time_unit: 'week', converged: true });
    expect(Number(bgnbd['n_customers'])).toBe(2_357);
    const params = JSON.parse(bgnbd['params'] as string) as Record<string, number>;
    for (const name of ['r', 'alpha', 'a', 'b'] as const) {
      expect(Math.abs(params[name]! / CLVTOOLS[name] - 1)).toBeLessThan(1e-3);
    }
    expect(bgnbd['log_likelihood'] as number).toBeCloseTo(CLVTOOLS.ll, 1);
  });

  it('fits Gamma-Gamma to the published spend estimates', () => {
    const gg = fits.find((f) => f['model'] === 'gamma_gamma')!;
    expect(gg['converged']).toBe(true);
    expect(Number(gg['n_customers'])).toBe(946);
    // Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value": p 6.25, q 3.74, v 15.44.
    const params = JSON.parse(gg['params'] as string) as Record<string, number>;
    expect(params['p']).toBeCloseTo(6.25, 1);
    expect(params['q']).toBeCloseTo(3.74, 1);
    expect(params['v']).toBeCloseTo(15.44, 0);
  });

  it("scores customers with the published model's predictions", () => {
    expect(scores).toHaveLength(2_357);
    // Sample customer 1 (id 0001): x = 2, t_x = 213 days, T = 272 days (FHL 2005's worked example).
    const customer = scores.find((s) => s['customer_id'] === '0001')!;
    const [x, tx, T] = [2, 213 / 7, 272 / 7];
    expect(customer['p_alive'] as number).toBeCloseTo(probabilityAlive(CLVTOOLS, x, tx, T), 3);
    expect(customer['expected_purchases_365d'] as number).toBeCloseTo(conditionalExpectedPurchases(CLVTOOLS, 365 / 7, x, tx, T), 3);
    // 12-month CLV at 1 % a month, recomputed from the published parameters: Σ monthly expected
    // purchases discounted × Gamma-Gamma expected order value (p 6.25, q 3.74, v 15.44; z̄ = 22.345).
    const E = (weeks: number) => conditionalExpectedPurchases(CLVTOOLS, weeks, x, tx, T);
    let discounted = 0;
    for (let month = 1; month <= 12; month++) discounted += (E((30 * month) / 7) - E((30 * (month - 1)) / 7)) / 1.01 ** month;
    const orderValue = (6.25 * (15.44 + 2 * 22.345)) / (6.25 * 2 + 3.74 - 1);
    expect(Math.abs((customer['clv'] as number) / (discounted * orderValue) - 1)).toBeLessThan(0.01);
    for (const s of scores) {
      expect(s['clv'] as number).toBeGreaterThan(0);
      expect(s['p_alive'] as number).toBeGreaterThanOrEqual(0);
      expect(s['p_alive'] as number).toBeLessThanOrEqual(1);
      expect(s['expected_purchases_30d'] as number).toBeLessThanOrEqual(s['expected_purchases_90d'] as number);
      expect(s['expected_purchases_90d'] as number).toBeLessThanOrEqual(s['expected_purchases_365d'] as number);
      expect(s['expected_order_value'] as number).toBeGreaterThan(0);
    }
  });

  it('gives each customer P(a purchase in 30 days), and model_fit the value of a new customer, from the fitted model', async () => {
    const bgnbd = fits.find((f) => f['model'] === 'bgnbd')!;
    const params = JSON.parse(bgnbd['params'] as string) as BgNbdParams;
    // Independently: the likelihood ratio L(x, t_x, T + 30 days) / L(x, t_x, T) is P(no purchase).
    // The published summary of the same cohort at the same date (weeks, to 2 decimals), by id.
    const summary = (await readFile(new URL('cdnow_customers_summary.csv', FIXTURE), 'utf8')).trim().split(/\r?\n/).slice(1).map((l) => l.split(',').map(Number));
    const one = (x: number, tx: number, T: number) => ({ x: Float64Array.of(x), tx: Float64Array.of(tx), T: Float64Array.of(T), weight: Float64Array.of(1) });
    const byId = new Map(scores.map((s) => [String(s['customer_id']), s]));
    let checked = 0;
    for (const [id, x, tx, T] of summary.filter((_, i) => i % 25 === 0) as [number, number, number, number][]) {
      const none = Math.exp(bgNbdLogLikelihood(params, one(x, tx, T + 30 / 7)) - bgNbdLogLikelihood(params, one(x, tx, T)));
      expect(byId.get(String(id).padStart(4, '0'))!['p_purchase_30d'] as number, String(id)).toBeCloseTo(1 - none, 3);
      checked++;
    }
    expect(checked).toBeGreaterThan(90);
    for (const s of scores) expect(s['p_purchase_30d'] as number).toBeLessThanOrEqual((s['p_alive'] as number) + 1e-12);
    // E[X(t)] of a new customer by quadrature over the dropout probability (FHL 2005, eq. 7 mixed over λ).
    for (const d of [30, 90, 365]) {
      const t = d / 7;
      const { r, alpha, a, b } = params;
      const expected = betaMean((p) => (p === 0 ? (r * t) / alpha : -Math.expm1(-r * Math.log1p((p * t) / alpha)) / p), a, b, 20_000);
      expect(bgnbd[`expected_purchases_new_customer_${d}d`] as number).toBeCloseTo(expected, 4);
    }
    expect(fits.find((f) => f['model'] === 'gamma_gamma')!['expected_purchases_new_customer_30d']).toBeNull();
  });

  it('forecasts purchases and revenue per segment and grade as the sums over its customers', () => {
    const groups = new Map<string, Record<string, unknown>[]>();
    for (const s of scores) {
      const key = `${s['segment']}|${s['grade']}`;
      groups.set(key, [...(groups.get(key) ?? []), s]);
    }
    expect(forecast).toHaveLength(groups.size);
    const sum = (rows: Record<string, unknown>[], f: (r: Record<string, unknown>) => number) => rows.reduce((t, r) => t + f(r), 0);
    for (const row of forecast) {
      const members = groups.get(`${row['segment']}|${row['grade']}`)!;
      expect(Number(row['customers'])).toBe(members.length);
      for (const d of [30, 90, 365]) {
        const purchases = sum(members, (m) => m[`expected_purchases_${d}d`] as number);
        const revenue = sum(members, (m) => (m[`expected_purchases_${d}d`] as number) * (m['expected_order_value'] as number));
        expect(row[`expected_purchases_${d}d`] as number).toBeCloseTo(purchases, 6);
        expect(row[`expected_revenue_${d}d`] as number).toBeCloseTo(revenue, 4);
      }
      expect(row['clv_total'] as number).toBeCloseTo(sum(members, (m) => m['clv'] as number), 4);
    }
  });
});

describe('the fallback rule', () => {
  const { x, tx, T } = cdnowSummary();
  const data = compressFrequency(x, tx, T);
  const notConverging: FrequencyModel = {
    ...FREQUENCY_MODELS.bgnbd,
    fit: (frequency, options) => ({ ...FREQUENCY_MODELS.bgnbd.fit(frequency, options), converged: false, message: 'stopped' }),
  };

  it('uses the first model whose fit converges and records every attempt', () => {
    const registry = { ...FREQUENCY_MODELS, bgnbd: notConverging };
    const { fits, chosen } = fitFirstConverging(data, ['bgnbd', 'mbgnbd', 'pareto_nbd'], {}, 'day', registry);
    expect(fits.map((f) => [f.model, f.converged])).toEqual([
      ['bgnbd', false],
      ['mbgnbd', true],
    ]);
    expect(chosen?.model).toBe(FREQUENCY_MODELS.mbgnbd);
  });

  it('fits nothing while no customer has bought twice (the likelihood has no interior maximum)', () => {
    const firstDay = compressFrequency([0, 0, 0], [0, 0, 0], [1, 0, 1]);
    const { fits, chosen } = fitFirstConverging(firstDay, ['bgnbd', 'pareto_nbd'], {}, 'day');
    expect(chosen).toBeUndefined();
    expect(fits.map((f) => [f.model, f.converged, f.message])).toEqual([
      ['bgnbd', false, 'no repeat purchases in the history yet: purchase-timing models cannot be fitted'],
      ['pareto_nbd', false, 'no repeat purchases in the history yet: purchase-timing models cannot be fitted'],
    ]);
  });

  it('chooses nothing when no model converges', () => {
    const { fits, chosen } = fitFirstConverging(data, ['bgnbd'], {}, 'day', { bgnbd: notConverging });
    expect(fits).toHaveLength(1);
    expect(chosen).toBeUndefined();
  });
});

describe('CLV fits that do not converge', () => {
  it('are reported and leave predictions NULL', async () => {
    const source = await tempDir('clv-tiny-src');
    const dest = await tempDir('clv-tiny-dest');
    // One repeat customer: Gamma-Gamma has no optimum on a single spend row.
    await writeExtract(source, '2024-05-02', 'a.csv', [
      CSV_HEADER,
      't1,c1,2024-05-01T10:00:00,10.00,1,online,EUR,false',
      't2,c1,2024-05-02T10:00:00,12.00,1,online,EUR,false',
      't3,c2,2024-05-02T11:00:00,30.00,1,store,EUR,false',
    ].join('\n'));
    await runLocal('2024-05-02', source, dest);
    const fits = await readTable(dest, modelFit, '2024-05-02');
    const scores = await readTable(dest, customerScores, '2024-05-02');
    const converged = Object.fromEntries(fits.map((f) => [f['model'], f['converged']]));
    expect(converged['gamma_gamma']).toBe(false);
    expect(scores.every((s) => s['expected_order_value'] === null && s['clv'] === null)).toBe(true);
    expect(scores.every((s) => (s['p_alive'] === null) === !converged['bgnbd'])).toBe(true);
  });
});

describe('model validation (calibration and holdout)', () => {
  it("compares the model's holdout predictions with an independent count of what customers did", async () => {
    const source = await tempDir('val-src');
    const dest = await tempDir('val-dest');
    const sample = await readFile(new URL('CDNOW_sample.txt', FIXTURE), 'utf8');
    await writeExtract(source, '1998-06-30', 'CDNOW_sample.txt', sample);
    const config = JSON.parse(await readFile(new URL('sample-config.json', FIXTURE), 'utf8'));
    // FHL 2005's split: calibration to 1997-09-30, then a 39-week (273-day) holdout to 1998-06-30.
    await runLocal('1998-06-30', source, dest, { ...config, clv: { time_unit: 'week', validation: { holdout_days: 273 } } });
    const rows = await readTable(dest, modelValidation, '1998-06-30');

    // Independent fold over the raw file: purchase days per customer before and after the split.
    const days = new Map<string, Set<string>>();
    for (const line of sample.split(/\r?\n/)) {
      const [, id, date] = line.trim().split(/\s+/);
      if (!id || !date) continue;
      days.set(id, (days.get(id) ?? new Set()).add(date));
    }
    const buckets = new Map<string, { customers: number; actual: number; predicted: number }>();
    for (const [, set] of days) {
      const all = [...set].sort();
      const calibration = all.filter((d) => d <= '19970930');
      if (calibration.length === 0) continue;
      const holdout = all.length - calibration.length;
      const x = calibration.length - 1;
      const toDays = (d: string) => Date.parse(`${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}`) / 86_400_000;
      const tx = (toDays(calibration.at(-1)!) - toDays(calibration[0]!)) / 7;
      const T = (toDays('19970930') - toDays(calibration[0]!)) / 7;
      const predicted = conditionalExpectedPurchases(CLVTOOLS, 39, x, tx, T);
      for (const key of [x >= 7 ? '7+' : String(x), 'all']) {
        const b = buckets.get(key) ?? { customers: 0, actual: 0, predicted: 0 };
        buckets.set(key, { customers: b.customers + 1, actual: b.actual + holdout, predicted: b.predicted + predicted });
      }
    }
    expect(rows).toHaveLength(buckets.size);
    for (const row of rows) {
      const want = buckets.get(row['frequency_bucket'] as string)!;
      expect(row).toMatchObject({ model: 'bgnbd', holdout_days: 273 });
      expect(Number(row['customers'])).toBe(want.customers);
      expect(row['actual_mean'] as number).toBeCloseTo(want.actual / want.customers, 10);
      // Predictions from the published parameters; ours are within 1e-4 of them.
      expect(Math.abs((row['predicted_mean'] as number) / (want.predicted / want.customers) - 1)).toBeLessThan(1e-3);
    }
    const overall = rows.find((r) => r['frequency_bucket'] === 'all')!;
    expect((overall['calibration_end'] as Date).toISOString().slice(0, 10)).toBe('1997-09-30');
    expect(overall['drift']).toBe(Math.abs(overall['relative_bias'] as number) > 0.2);

    // model_tracking: per day, the cohort's repeat purchase days (counted here from the raw file)
    // and the sum of each customer's unconditional E[X(t)] since their first purchase, by
    // quadrature at the published parameters (CLVTools' tracking plot of CDNOW).
    const tracking = await readTable(dest, modelTracking, '1998-06-30');
    const iso = (v: unknown) => (v as Date).toISOString().slice(0, 10);
    const compact = (d: string) => d.replaceAll('-', '');
    expect(iso(tracking[0]!['day'])).toBe('1997-01-01');
    expect(iso(tracking.at(-1)!['day'])).toBe('1998-06-30');
    expect(tracking).toHaveLength(546);
    const cohort = [...days.values()].map((set) => [...set].sort()).filter((all) => all[0]! <= '19970930');
    const toDays = (d: string) => Date.parse(`${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}`) / 86_400_000;
    const { r, alpha, a, b } = CLVTOOLS;
    const byAge = new Map<number, number>();
    const newCustomer = (ageDays: number) => {
      const weeks = ageDays / 7;
      if (!byAge.has(ageDays)) byAge.set(ageDays, weeks <= 0 ? 0 : betaMean((p) => (p === 0 ? (r * weeks) / alpha : -Math.expm1(-r * Math.log1p((p * weeks) / alpha)) / p), a, b, 20_000));
      return byAge.get(ageDays)!;
    };
    let actualCumulative = 0;
    for (const [i, row] of tracking.entries()) {
      const day = compact(iso(row['day']));
      const actual = cohort.reduce((n, all) => n + (all.slice(1).includes(day) ? 1 : 0), 0);
      actualCumulative += actual;
      expect(Number(row['actual_repeat']), day).toBe(actual);
      expect(Number(row['actual_cumulative']), day).toBe(actualCumulative);
      expect(row['period']).toBe(day <= '19970930' ? 'calibration' : 'holdout');
      if (i % 30 !== 29) continue;
      const expected = cohort.reduce((sum, all) => sum + newCustomer(Math.round(toDays(day) - toDays(all[0]!))), 0);
      expect(Math.abs((row['expected_cumulative'] as number) / expected - 1), day).toBeLessThan(1e-3);
    }
    // The daily expectations add up to the cumulative curve.
    const sum = tracking.reduce((s, row) => s + (row['expected_repeat'] as number), 0);
    expect(sum).toBeCloseTo(tracking.at(-1)!['expected_cumulative'] as number, 6);
  });
});
