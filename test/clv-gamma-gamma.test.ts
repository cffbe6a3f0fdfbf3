import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  compressSpend,
  expectedOrderValue,
  expectedOrderValues,
  fitGammaGamma,
  gammaGammaLogLikelihood,
  type GammaGammaParams,
} from '../shared/clv/gamma-gamma.js';
import { createRng } from '../shared/demo/generate.js';
import { expectLogGradientMatches, expectPenalizerShrinks } from './model-checks.js';

const PARAMS = ['p', 'q', 'v'] as const;

/** Reads a small numeric CSV (header row, CRLF or LF) into columns keyed by header name. */
function readCsv(name: string): Record<string, number[]> {
  const path = fileURLToPath(new URL(`./fixtures/cdnow/${name}`, import.meta.url));
  const lines = readFileSync(path, 'utf8').trim().split(/\r?\n/);
  const header = lines[0]!.split(',');
  const cols: Record<string, number[]> = Object.fromEntries(header.map((h) => [h, [] as number[]]));
  for (const line of lines.slice(1)) {
    line.split(',').forEach((v, i) => cols[header[i]!]!.push(Number(v)));
  }
  return cols;
}

/** CDNOW repeat customers (x > 0): x and zbar (mean value of the repeat purchases, dollars). */
function cdnowRepeatCustomers(): { x: number[]; zbar: number[] } {
  const cols = readCsv('cdnow_customers_summary_with_transactions.csv');
  const x: number[] = [];
  const zbar: number[] = [];
  cols['x']!.forEach((xi, i) => {
    if (xi > 0) {
      x.push(xi);
      zbar.push(cols['zbar']![i]!);
    }
  });
  return { x, zbar };
}

const sig3 = (v: number): number => Number(v.toPrecision(3));

describe('Gamma-Gamma model', () => {
  const { x, zbar } = cdnowRepeatCustomers();

  it('reproduces the published CDNOW fit', () => {
    // Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value" (brucehardie.com/notes/025),
    // on the 946 CDNOW repeat customers: p = 6.25, q = 3.74, v = 15.44. CLVTools'
    // tests/testthat/test_correctness_gg.R checks those coefficients with LL = −4055.9177; the
    // lifetimes docs (Gamma-Gamma section) report p 6.25, q 3.74, v 15.45 on this very file. Our
    // zbar column is rounded to cents, hence LL −4055.923 here vs −4055.918 there.
    expect(x.length).toBe(946);
    const fit = fitGammaGamma(compressSpend(x, zbar));
    expect(fit.converged).toBe(true);
    expect(fit.nCustomers).toBe(946);
    expect(sig3(fit.params.p)).toBe(6.25);
    expect(sig3(fit.params.q)).toBe(3.74);
    expect(fit.params.v).toBeGreaterThan(15.4);
    expect(fit.params.v).toBeLessThan(15.5);
    expect(sig3(fit.logLikelihood)).toBe(-4060); // −4055.92 to 3 significant figures
    expect(fit.logLikelihood).toBeCloseTo(-4055.92, 1);
  });

  it('compressed and uncompressed data give the same fit', () => {
    const compressed = compressSpend(x, zbar);
    expect(compressed.x.length).toBeLessThan(x.length);
    expect(compressed.weight.reduce((s, w) => s + w, 0)).toBe(946);
    const raw = { x: Float64Array.from(x), meanSpend: Float64Array.from(zbar), weight: new Float64Array(x.length).fill(1) };
    const a = fitGammaGamma(compressed);
    const b = fitGammaGamma(raw);
    expect(b.converged).toBe(true);
    expect(a.nDistinctRows).toBe(compressed.x.length);
    expect(b.nDistinctRows).toBe(946);
    expect(b.params.p).toBeCloseTo(a.params.p, 5);
    expect(b.params.q).toBeCloseTo(a.params.q, 5);
    expect(b.params.v).toBeCloseTo(a.params.v, 4);
    expect(b.logLikelihood).toBeCloseTo(a.logLikelihood, 6);
  });

  it('analytic gradient matches finite differences', () => {
    const data = compressSpend(x, zbar);
    const params: GammaGammaParams = { p: 4.2, q: 2.7, v: 21 };
    expectLogGradientMatches((p, g) => gammaGammaLogLikelihood(p, data, g), PARAMS, [params]);
  });

  it('expected order value matches the closed form p (v + x z̄) / (p x + q − 1)', () => {
    // FHL 2005 ("RFM and CLV"), eq. 3.
    const params = { p: 6.25, q: 3.74, v: 15.44 };
    const cases: [number, number][] = [
      [1, 10],
      [2, 22.35],
      [5, 47.9],
      [30, 3.5],
    ];
    for (const [xi, z] of cases) {
      const byHand = (6.25 * (15.44 + xi * z)) / (6.25 * xi + 3.74 - 1);
      expect(expectedOrderValue(params, xi, z)).toBeCloseTo(byHand, 10);
    }
    // x = 0: the population mean p v / (q − 1).
    expect(expectedOrderValue(params, 0, 0)).toBeCloseTo((6.25 * 15.44) / 2.74, 10);
    // Shrinkage: between the population mean and the customer's own mean.
    const own = 100;
    const e = expectedOrderValue(params, 3, own);
    expect(e).toBeGreaterThan((6.25 * 15.44) / 2.74);
    expect(e).toBeLessThan(own);
    // Vectorised form agrees with the scalar one.
    const vec = expectedOrderValues(params, [1, 2, 0], [10, 22.35, 0]);
    expect(vec[1]).toBeCloseTo(expectedOrderValue(params, 2, 22.35), 12);
    expect(vec[2]).toBeCloseTo((6.25 * 15.44) / 2.74, 10);
    // q ≤ 1: the population mean does not exist.
    expect(expectedOrderValue({ p: 1, q: 0.8, v: 1 }, 0, 0)).toBeNaN();
  });

  it('recovers known parameters from 20,000 simulated customers', () => {
    // Transaction values z ~ Gamma(shape p, rate ν), ν ~ Gamma(shape q, rate v); x = 1 + Poisson(3).
    const truth = { p: 6, q: 4, v: 15 };
    const rng = createRng(1);
    const n = 20_000;
    const xs = new Float64Array(n);
    const means = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const nu = rng.gamma(truth.q, truth.v);
      const xi = 1 + rng.poisson(3);
      let s = 0;
      for (let j = 0; j < xi; j++) s += rng.gamma(truth.p, nu);
      xs[i] = xi;
      means[i] = s / xi;
    }
    const fit = fitGammaGamma(compressSpend(xs, means));
    expect(fit.converged).toBe(true);
    // Over seeds 1–6 the estimates scatter by about ±7 % (p, v) and ±3 % (q): p and v are strongly
    // correlated. Tolerance: 15 % on p and v, 8 % on q, 3 % on the population mean p v / (q − 1).
    expect(Math.abs(fit.params.p / truth.p - 1)).toBeLessThan(0.15);
    expect(Math.abs(fit.params.q / truth.q - 1)).toBeLessThan(0.08);
    expect(Math.abs(fit.params.v / truth.v - 1)).toBeLessThan(0.15);
    const popMean = (fit.params.p * fit.params.v) / (fit.params.q - 1);
    expect(Math.abs(popMean / 30 - 1)).toBeLessThan(0.03);
  });

  it('compressSpend groups identical pairs and validates input', () => {
    const s = compressSpend([2, 1, 2, 2, 1], [5, 3, 5, 6, 3]);
    expect(Array.from(s.x)).toEqual([1, 2, 2]);
    expect(Array.from(s.meanSpend)).toEqual([3, 5, 6]);
    expect(Array.from(s.weight)).toEqual([2, 2, 1]);
    expect(() => compressSpend([1, 2], [3])).toThrow(RangeError);
    const bad = { x: Float64Array.of(0), meanSpend: Float64Array.of(3), weight: Float64Array.of(1) };
    expect(() => fitGammaGamma(bad)).toThrow(/x must be > 0/);
    const empty = { x: new Float64Array(0), meanSpend: new Float64Array(0), weight: new Float64Array(0) };
    expect(() => fitGammaGamma(empty)).toThrow(/no customers/);
  });

  it('a penalizer shrinks the log-parameters towards 0', () => {
    const data = compressSpend(x, zbar);
    expectPenalizerShrinks((options) => fitGammaGamma(data, options), PARAMS, 0.1);
  });
});
