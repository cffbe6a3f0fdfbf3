import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compressFrequency, conditionalExpectedPurchases, fitBgNbd, type BgNbdParams } from '../shared/clv/bgnbd.js';
import { compressSpend, expectedOrderValue, expectedOrderValues, fitGammaGamma } from '../shared/clv/gamma-gamma.js';
import { customerLifetimeValue, discountedExpectedPurchases, discountedExpectedPurchasesVector } from '../shared/clv/value.js';

/** FHL 2005's CDNOW BG/NBD estimates (the PAPER constants of test/clv-bgnbd.test.ts). */
const PAPER: BgNbdParams = { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 };

/** CDNOW calibration summary with mean repeat spend (weeks; 2,357 customers). */
function cdnow(): { x: Float64Array; tx: Float64Array; T: Float64Array; zbar: Float64Array } {
  const path = fileURLToPath(new URL('./fixtures/cdnow/cdnow_customers_summary_with_transactions.csv', import.meta.url));
  const lines = readFileSync(path, 'utf8').trim().split(/\r?\n/);
  expect(lines[0]).toBe('ID,x,t_x,T,zbar');
  const rows = lines.slice(1).map((l) => l.split(',').map(Number));
  return {
    x: Float64Array.from(rows, (r) => r[1]!),
    tx: Float64Array.from(rows, (r) => r[2]!),
    T: Float64Array.from(rows, (r) => r[3]!),
    zbar: Float64Array.from(rows, (r) => r[4]!),
  };
}

describe('discountedExpectedPurchases', () => {
  it('E(t) = λt gives the geometric series λh (1 − (1+d)^−M) / d', () => {
    const lambda = 0.37;
    const E = (t: number): number => lambda * t;
    for (const [months, d, daysPerMonth, unitDays] of [
      [12, 0.01, 30, 1],
      [36, 0.05, 30, 7],
      [1, 0.2, 30.415, 7],
      [120, 0.003, 30, 1],
    ] as const) {
      const h = daysPerMonth / unitDays;
      const closed = (lambda * h * (1 - (1 + d) ** -months)) / d;
      expect(Math.abs(discountedExpectedPurchases(E, months, d, daysPerMonth, unitDays) / closed - 1)).toBeLessThan(1e-13);
    }
    // Defaults: 30-day months, model in days.
    expect(discountedExpectedPurchases(E, 12, 0.01)).toBeCloseTo((lambda * 30 * (1 - 1.01 ** -12)) / 0.01, 10);
  });

  it('is 0 at months = 0 and E(months·h) at d = 0; evaluates E only at h, 2h, …', () => {
    const calls: number[] = [];
    const E = (t: number): number => {
      calls.push(t);
      return Math.sqrt(t);
    };
    expect(discountedExpectedPurchases(E, 0, 0.01)).toBe(0);
    expect(calls).toEqual([]);
    expect(discountedExpectedPurchases(E, 6, 0, 30, 7)).toBeCloseTo(Math.sqrt((6 * 30) / 7), 12);
    expect(calls).toEqual([1, 2, 3, 4, 5, 6].map((i) => (i * 30) / 7));
  });

  it('property: non-decreasing in months, decreasing in d, bounded by the undiscounted total', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.01, max: 5, noNaN: true }),
        fc.double({ min: 0.1, max: 2, noNaN: true }),
        fc.integer({ min: 0, max: 60 }),
        fc.double({ min: 0, max: 0.2, noNaN: true }),
        (scale, power, months, d) => {
          const E = (t: number): number => scale * t ** power * 1e-2;
          const v = discountedExpectedPurchases(E, months, d, 30, 7);
          expect(discountedExpectedPurchases(E, months + 1, d, 30, 7)).toBeGreaterThanOrEqual(v);
          expect(discountedExpectedPurchases(E, months, d + 0.01, 30, 7)).toBeLessThanOrEqual(v * (1 + 1e-12));
          expect(v).toBeLessThanOrEqual(E((months * 30) / 7) * (1 + 1e-12) + 1e-300);
        },
      ),
      { numRuns: 200, seed: 7 },
    );
  });

  it('rejects bad schemes', () => {
    const E = (t: number): number => t;
    expect(() => discountedExpectedPurchases(E, 1.5, 0.01)).toThrow(RangeError);
    expect(() => discountedExpectedPurchases(E, -1, 0.01)).toThrow(RangeError);
    expect(() => discountedExpectedPurchases(E, 12, -1)).toThrow(/monthlyDiscountRate/);
    expect(() => discountedExpectedPurchases(E, 12, 0.01, 0)).toThrow(/daysPerMonth/);
    expect(() => discountedExpectedPurchases(E, 12, 0.01, 30, -7)).toThrow(/unitDays/);
    expect(() => discountedExpectedPurchasesVector(() => [1], 12, Number.NaN)).toThrow(RangeError);
    let k = 0;
    expect(() => discountedExpectedPurchasesVector(() => new Float64Array(++k), 3, 0.01)).toThrow(/values, expected/);
  });
});

describe('CLV on CDNOW (lifetimes customer_lifetime_value scheme)', () => {
  const data = cdnow();

  it('recomputes one customer by hand with the paper BG/NBD parameters', () => {
    // Customer 1: x = 2, t_x = 30.43, T = 38.86 weeks; 12 months of 30 days = 30/7 weeks, d = 1 %.
    const [x, tx, T] = [2, 30.43, 38.86];
    const h = 30 / 7;
    let byHand = 0;
    for (let i = 1; i <= 12; i++) {
      const inMonth = conditionalExpectedPurchases(PAPER, i * h, x, tx, T) - conditionalExpectedPurchases(PAPER, (i - 1) * h, x, tx, T);
      byHand += inMonth / 1.01 ** i;
    }
    const dep = discountedExpectedPurchases((t) => conditionalExpectedPurchases(PAPER, t, x, tx, T), 12, 0.01, 30, 7);
    expect(dep).toBeCloseTo(byHand, 12);
    // Sanity: a year is 52.14 weeks; the discounted count is a bit below the undiscounted one.
    const undiscounted = conditionalExpectedPurchases(PAPER, (12 * 30) / 7, x, tx, T);
    expect(dep).toBeLessThan(undiscounted);
    expect(dep).toBeGreaterThan(undiscounted / 1.01 ** 12);
    const gg = { p: 6.25, q: 3.74, v: 15.44 };
    expect(customerLifetimeValue(dep, expectedOrderValue(gg, x, 22.35))).toBeCloseTo(dep * expectedOrderValue(gg, x, 22.35), 12);
    expect(customerLifetimeValue(dep, 10, 0.3)).toBeCloseTo(dep * 3, 12);
  });

  it("reproduces lifetimes' quickstart CLVs (140.096218, 18.943466, 38.180575)", () => {
    // lifetimes docs, Quickstart "Estimating customer lifetime value using the Gamma-Gamma model":
    // ggf.customer_lifetime_value(bgf, …, time=12, discount_rate=0.01) on this CDNOW summary gives
    // 140.096218, 18.943466, 38.180575 for customers 1, 2, 3. It uses the default freq="D" with a
    // model fitted in weeks, i.e. "months" of 30 model units: daysPerMonth = 30, unitDays = 1.
    const bg = fitBgNbd(compressFrequency(data.x, data.tx, data.T)).params;
    const rx: number[] = [];
    const rz: number[] = [];
    data.x.forEach((xi, i) => {
      if (xi > 0) {
        rx.push(xi);
        rz.push(data.zbar[i]!);
      }
    });
    const gg = fitGammaGamma(compressSpend(rx, rz)).params;
    const t0 = performance.now();
    const dep = discountedExpectedPurchasesVector((t) => conditionalExpectedPurchases(bg, t, data.x, data.tx, data.T), 12, 0.01, 30, 1);
    const clv = customerLifetimeValue(dep, expectedOrderValues(gg, data.x, data.zbar));
    const ms = performance.now() - t0;
    expect(clv).toHaveLength(2357);
    // Measured 140.09616, 18.94344, 38.18060 (fits agree with lifetimes' to ~1e-4).
    expect(Math.abs(clv[0]! / 140.096218 - 1)).toBeLessThan(1e-5);
    expect(Math.abs(clv[1]! / 18.943466 - 1)).toBeLessThan(1e-5);
    expect(Math.abs(clv[2]! / 38.180575 - 1)).toBeLessThan(1e-5);
    expect(ms).toBeLessThan(2000);
    // The vectorised variant agrees with the scalar one.
    for (const i of [0, 1, 2, 100, 2356]) {
      const one = discountedExpectedPurchases((t) => conditionalExpectedPurchases(bg, t, data.x[i]!, data.tx[i]!, data.T[i]!), 12, 0.01, 30, 1);
      expect(dep[i]).toBeCloseTo(one, 12);
    }
  });

  it('vectorised variant: months = 0 gives zeros of the requested size without calling E', () => {
    let called = false;
    const E = (): Float64Array => {
      called = true;
      return new Float64Array(3);
    };
    expect(Array.from(discountedExpectedPurchasesVector(E, 0, 0.01, 30, 1, 3))).toEqual([0, 0, 0]);
    expect(discountedExpectedPurchasesVector(E, 0, 0.01)).toHaveLength(0);
    expect(called).toBe(false);
  });

  it('customerLifetimeValue broadcasts scalars over arrays', () => {
    expect(Array.from(customerLifetimeValue(Float64Array.of(1, 2), 10, 0.5))).toEqual([5, 10]);
    expect(Array.from(customerLifetimeValue(2, Float64Array.of(1, 3)))).toEqual([2, 6]);
    expect(() => customerLifetimeValue(Float64Array.of(1, 2), Float64Array.of(1))).toThrow(RangeError);
  });
});
