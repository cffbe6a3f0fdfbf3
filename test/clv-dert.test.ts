import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { conditionalExpectedPurchases as bgConditional, type BgNbdParams } from '../shared/clv/bgnbd.js';
import {
  bgNbdDert,
  gaussLegendre,
  logTricomiUss,
  logUpperIncompleteGamma,
  paretoNbdCustomerLogLikelihood,
  paretoNbdDert,
  upperIncompleteGamma,
} from '../shared/clv/dert.js';
import {
  conditionalExpectedPurchases as pnbdConditional,
  paretoNbdLogLikelihood,
  probabilityAlive as pnbdAlive,
  type ParetoNbdParams,
} from '../shared/clv/pareto-nbd.js';
import { cdnowSummary } from './helpers.js';
import { simpson } from './quadrature.js';

/** CDNOW Pareto/NBD fit (weeks; FHL 2005 / CLVTools). */
const PNBD: ParetoNbdParams = { r: 0.5533, alpha: 10.5776, s: 0.6062, beta: 11.6679 };
/** CDNOW BG/NBD fit (FHL 2005, Marketing Science, p. 279). */
const BGNBD: BgNbdParams = { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 };
/** 15 % a year, continuously compounded, per week. */
const DELTA = Math.log(1.15) / 52;

const rel = (a: number, b: number): number => Math.abs(a / b - 1);

/**
 * ∫₀^∞ δ e^{−δt} E(t) dt by composite Simpson in w = ln(1 + t/c) (c = 1 week: a different map from the
 * implementation's t = (α+T)(e^v − 1)), truncated where δt > 60.
 */
function discountedIntegral(E: (t: number) => number, delta: number, steps: number): number {
  const c = 1;
  const hi = Math.log1p(60 / (delta * c));
  return simpson(
    (w) => {
      const t = c * Math.expm1(w);
      return t === 0 ? 0 : delta * Math.exp(-delta * t) * E(t) * c * Math.exp(w);
    },
    0,
    hi,
    steps,
  );
}

describe('upper incomplete gamma Γ(a, z)', () => {
  it('Γ(½, z) = √π erfc(√z), Γ(0, z) = E₁(z), Γ(1, z) = e^−z', () => {
    // √π erfc(√z) from mpmath (30 digits).
    const half: [number, number][] = [
      [1e-6, 1.7704538515721826],
      [0.3, 0.7773593112498081],
      [1, 0.27880558528066196],
      [5, 0.0027746032604128094],
      [100, 3.7017478604082786e-45],
    ];
    // (exp of a log of size ~100 costs a few ulps: 3e-14.)
    for (const [z, v] of half) expect(rel(upperIncompleteGamma(0.5, z), v)).toBeLessThan(3e-14);
    expect(rel(upperIncompleteGamma(0, 1), 0.21938393439552)).toBeLessThan(1e-13);
    // E₁(0.01) = 4.037929576538113 (A&S table 5.1 / mpmath), E₁(10) = 4.156968929685324e-06.
    expect(rel(upperIncompleteGamma(0, 0.01), 4.037929576538113)).toBeLessThan(1e-14);
    expect(rel(upperIncompleteGamma(0, 10), 4.156968929685324e-06)).toBeLessThan(1e-14);
    for (const z of [1e-6, 0.01, 0.5, 0.999, 1, 2, 50, 700]) expect(rel(upperIncompleteGamma(1, z), Math.exp(-z))).toBeLessThan(1e-14);
    // Far tails, in logs: ln Γ(1, 1000) = −1000, Γ(½, 1000) ≈ e^−1000/√1000 (1 − 1/2000 + …).
    expect(Math.abs(logUpperIncompleteGamma(1, 1000) + 1000)).toBeLessThan(1e-12);
    expect(Number.isFinite(logUpperIncompleteGamma(0.5, 1000))).toBe(true);
  });

  it('negative a and the a → 0 limit match mpmath', () => {
    const cases: [number, number, number][] = [
      [-9, 1e-6, 1.1111098611118254e+53],
      [-3.7, 0.5, 1.8158909651444077],
      [-0.2, 2, 0.04020494192600091],
      [-1e-9, 0.01, 4.0379295862087785],
      [0.7, 1e-3, 1.2867124574856184],
      [-6.5, 40, 3.463650984064408e-30],
      [-4, 0.9, 0.12137576817185472],
    ];
    for (const [a, z, v] of cases) expect(rel(upperIncompleteGamma(a, z), v)).toBeLessThan(1e-13);
    // Continuity through a = 0 (s = 1) and through the integers (s = 2, 3, …).
    for (const k of [0, -1, -2, -5]) {
      for (const z of [1e-4, 0.7, 3]) {
        const at = upperIncompleteGamma(k, z);
        expect(rel(upperIncompleteGamma(k + 1e-9, z), at)).toBeLessThan(1e-7);
        expect(rel(upperIncompleteGamma(k - 1e-9, z), at)).toBeLessThan(1e-7);
      }
    }
  });

  it('satisfies Γ(a+1, z) = a Γ(a, z) + z^a e^−z (property)', () => {
    fc.assert(
      fc.property(fc.double({ min: -9, max: 0.99, noNaN: true }), fc.double({ min: -6, max: 3, noNaN: true }), (a, lz) => {
        const z = 10 ** lz;
        const lhs = logUpperIncompleteGamma(a + 1, z);
        // a Γ(a, z) + z^a e^−z in logs (a Γ(a,z) < 0 when a < 0, the sum stays positive).
        const g = Math.exp(logUpperIncompleteGamma(a, z) - lhs);
        const p = Math.exp(a * Math.log(z) - z - lhs);
        expect(Math.abs(a * g + p - 1)).toBeLessThan(1e-11 * Math.max(1, Math.abs(a * g), p));
      }),
      { numRuns: 300 },
    );
  });

  it('U(s, s; z) = e^z Γ(1−s, z): U(1, 1; 1) = e·E₁(1), U ~ z^−s for large z', () => {
    expect(rel(Math.exp(logTricomiUss(1, 1)), Math.E * 0.21938393439552)).toBeLessThan(1e-13);
    // U(a, b; z) = z^−a (1 − a(a−b+1)/z + …) with b = a: z^−s (1 − s/z + …).
    expect(rel(Math.exp(logTricomiUss(2.5, 1e3) + 2.5 * Math.log(1e3)), 1 - 2.5 / 1e3 + (2.5 * 3.5) / 1e6 - (2.5 * 3.5 * 4.5) / 1e9 + (2.5 * 3.5 * 4.5 * 5.5) / 1e12)).toBeLessThan(3e-12);
  });
});

describe('Pareto/NBD DERT', () => {
  const data = cdnowSummary();
  const customers: [number, number, number][] = [
    [0, 0, 38.86],
    [2, 30.43, 38.86],
    [1, 2, 39],
    [26, 30.86, 31],
    [10, 20, 38],
    [5, 38, 38],
  ];

  it('the per-customer log-likelihood equals paretoNbdLogLikelihood on a one-row summary', () => {
    for (const [x, tx, T] of customers) {
      const ll = paretoNbdLogLikelihood(PNBD, { x: Float64Array.of(x), tx: Float64Array.of(tx), T: Float64Array.of(T), weight: Float64Array.of(1) });
      expect(Math.abs(paretoNbdCustomerLogLikelihood(PNBD, x, tx, T) - ll)).toBeLessThan(1e-12 * Math.abs(ll));
    }
  });

  it('equals ∫ δ e^−δt E[Y(t) | x, t_x, T] dt (Simpson, independent) to 1e-6 on CDNOW customers', () => {
    const picks = [0, 1, 2, 3, 17, 100, 1000, 2356].map((i) => [data.x[i]!, data.tx[i]!, data.T[i]!] as [number, number, number]);
    for (const [x, tx, T] of [...customers, ...picks]) {
      const pAlive = pnbdAlive(PNBD, x, tx, T);
      // E[Y(t)] = P(alive) · E[Y(t) | alive]: take the alive part once, P(alive) outside.
      const ref = discountedIntegral((t) => pnbdConditional(PNBD, t, x, tx, T) / pAlive, DELTA, 20_000) * pAlive;
      expect(rel(paretoNbdDert(PNBD, DELTA, x, tx, T), ref)).toBeLessThan(1e-6);
    }
  });

  it('matches mpmath references (P(alive)·(r+x)/(α+T)·E[1/(μ+δ)] by direct quadrature, 30 digits)', () => {
    const ref: [number, number, number, number][] = [
      [0, 0, 38.86, 0.4782848458501944],
      [2, 30.43, 38.86, 6.500398291069945],
      [1, 2, 39, 0.7912434660190707],
      [26, 30.86, 31, 86.26598605067733],
      [10, 20, 38, 3.092598688242554],
    ];
    for (const [x, tx, T, v] of ref) expect(rel(paretoNbdDert(PNBD, DELTA, x, tx, T), v)).toBeLessThan(1e-12);
  });

  it('tends to the undiscounted lifetime purchases P(alive)(r+x)(β+T)/((α+T)(s−1)) as δ → 0 when s > 1', () => {
    const p = { ...PNBD, s: 2.5 };
    for (const [x, tx, T] of customers) {
      const limit = (pnbdAlive(p, x, tx, T) * (p.r + x) * (p.beta + T)) / ((p.alpha + T) * (p.s - 1));
      expect(rel(paretoNbdDert(p, 1e-9, x, tx, T), limit)).toBeLessThan(1e-6);
    }
  });

  it('vectorised equals scalar on all of CDNOW', () => {
    const v = paretoNbdDert(PNBD, DELTA, data.x, data.tx, data.T);
    for (let i = 0; i < data.x.length; i += 7) expect(v[i]).toBe(paretoNbdDert(PNBD, DELTA, data.x[i]!, data.tx[i]!, data.T[i]!));
    expect(paretoNbdDert(PNBD, DELTA, 2, 30.43, [38.86, 40])[0]).toBe(paretoNbdDert(PNBD, DELTA, 2, 30.43, 38.86));
  });

  it('rejects δ ≤ 0 and bad parameters', () => {
    expect(() => paretoNbdDert(PNBD, 0, 1, 1, 2)).toThrow(RangeError);
    expect(() => paretoNbdDert({ ...PNBD, s: -1 }, DELTA, 1, 1, 2)).toThrow(RangeError);
  });
});

describe('BG/NBD DERT', () => {
  const data = cdnowSummary();

  it('Gauss–Legendre nodes integrate polynomials exactly', () => {
    const g = gaussLegendre(64);
    let s0 = 0;
    let s2 = 0;
    let s126 = 0;
    for (let k = 0; k < 64; k++) {
      s0 += g.weights[k]!;
      s2 += g.weights[k]! * g.nodes[k]! ** 2;
      s126 += g.weights[k]! * g.nodes[k]! ** 126;
    }
    expect(Math.abs(s0 - 2)).toBeLessThan(1e-14);
    expect(Math.abs(s2 - 2 / 3)).toBeLessThan(1e-14);
    expect(Math.abs(s126 - 2 / 127)).toBeLessThan(1e-14);
    expect(gaussLegendre(5).nodes[2]).toBe(0);
  });

  it('quadrature equals an independent fine-grid integral, and 32 / 64 / 128 nodes agree', () => {
    const picks = [0, 1, 2, 3, 17, 100, 1000, 2356].map((i) => [data.x[i]!, data.tx[i]!, data.T[i]!] as [number, number, number]);
    const cases: [number, number, number][] = [[0, 0, 38], [2, 30.43, 38.86], [10, 35, 38], [100, 37, 38], [0, 0, 1], ...picks];
    for (const [x, tx, T] of cases) {
      const d64 = bgNbdDert(BGNBD, DELTA, x, tx, T);
      expect(rel(bgNbdDert(BGNBD, DELTA, x, tx, T, { nodes: 128 }), d64)).toBeLessThan(1e-12);
      expect(rel(bgNbdDert(BGNBD, DELTA, x, tx, T, { nodes: 32 }), d64)).toBeLessThan(1e-10);
      const ref = discountedIntegral((t) => bgConditional(BGNBD, t, x, tx, T), DELTA, 4000);
      expect(rel(d64, ref)).toBeLessThan(1e-7);
    }
  });

  it('nodes converge for other discount rates and a > 1', () => {
    const p = { ...BGNBD, a: 2.2 };
    for (const delta of [1e-6, 1e-3, 0.1, 2]) {
      for (const [x, tx, T] of [[0, 0, 10], [4, 8, 20], [50, 19, 20]] as const) {
        const d64 = bgNbdDert(p, delta, x, tx, T);
        expect(rel(bgNbdDert(p, delta, x, tx, T, { nodes: 128 }), d64)).toBeLessThan(1e-10);
      }
    }
    // a > 1: E[Y(∞) | alive] is finite, so DERT → that as δ → 0 (check the trend only).
    const far = bgConditional(p, 1e9, 4, 8, 20);
    expect(rel(bgNbdDert(p, 1e-7, 4, 8, 20), far)).toBeLessThan(1e-3);
  });

  it('vectorised equals scalar (to rounding) on all of CDNOW', () => {
    const v = bgNbdDert(BGNBD, DELTA, data.x, data.tx, data.T);
    for (let i = 0; i < data.x.length; i += 11) expect(rel(v[i]!, bgNbdDert(BGNBD, DELTA, data.x[i]!, data.tx[i]!, data.T[i]!))).toBeLessThan(1e-13);
  });
});

describe('DERT properties (both models)', () => {
  const deltas = [1e-5, 1e-3, DELTA, 0.01, 0.1, 1];
  const edge: [number, number, number][] = [
    [0, 0, 38],
    [0, 0, 0.5],
    [1, 10, 10],
    [1000, 38, 38],
    [1000, 20, 38],
    [7, 30, 30],
  ];

  it('finite, ≥ 0 and decreasing in δ at the edges (x = 0, x = 1000, t_x = T)', () => {
    for (const [x, tx, T] of edge) {
      let prevP = Infinity;
      let prevB = Infinity;
      for (const delta of deltas) {
        const p = paretoNbdDert(PNBD, delta, x, tx, T);
        const b = bgNbdDert(BGNBD, delta, x, tx, T);
        for (const v of [p, b]) {
          expect(Number.isFinite(v)).toBe(true);
          expect(v).toBeGreaterThanOrEqual(0);
        }
        expect(p).toBeLessThan(prevP);
        expect(b).toBeLessThan(prevB);
        prevP = p;
        prevB = b;
      }
    }
  });

  it('finite, ≥ 0 and decreasing in δ over random customers and parameters (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 300 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0.1, max: 200, noNaN: true }),
        fc.double({ min: 0.05, max: 9.9, noNaN: true }),
        fc.double({ min: -5, max: 0, noNaN: true }),
        (x, f, T, s, ld) => {
          const tx = x === 0 ? 0 : f * T;
          const delta = 10 ** ld;
          const p = { ...PNBD, s };
          const d1 = paretoNbdDert(p, delta, x, tx, T);
          const d2 = paretoNbdDert(p, delta * 1.5, x, tx, T);
          expect(Number.isFinite(d1) && d1 >= 0).toBe(true);
          // Strictly decreasing unless P(alive) underflows (e.g. x = 196 purchases all at t = 0, T = 198).
          expect(d2).toBeLessThanOrEqual(d1);
          if (d1 > 1e-250) expect(d2).toBeLessThan(d1);
          const b = { ...BGNBD, a: s };
          const b1 = bgNbdDert(b, delta, x, tx, T, { nodes: 32 });
          const b2 = bgNbdDert(b, delta * 1.5, x, tx, T, { nodes: 32 });
          expect(Number.isFinite(b1) && b1 >= 0).toBe(true);
          expect(b2).toBeLessThanOrEqual(b1);
          if (b1 > 1e-250) expect(b2).toBeLessThan(b1);
        },
      ),
      { numRuns: 150 },
    );
  });
});
