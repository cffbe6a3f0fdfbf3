import { describe, expect, it } from 'vitest';
import { addL2Penalty, minimize, withL2Penalty, type Objective } from '../shared/clv/optimize.js';

/** Chained Rosenbrock Σ 100 (x_{i+1} − x_i²)² + (1 − x_i)², minimum 0 at (1, …, 1). */
const rosenbrock: Objective = (x, g) => {
  let f = 0;
  if (g) g.fill(0);
  for (let i = 0; i + 1 < x.length; i++) {
    const xi = x[i]!;
    const a = x[i + 1]! - xi * xi;
    const b = 1 - xi;
    f += 100 * a * a + b * b;
    if (g) {
      g[i] = g[i]! - 400 * a * xi - 2 * b;
      g[i + 1] = g[i + 1]! + 200 * a;
    }
  }
  return f;
};

/** Finite-difference gradient (central). */
function numericGradient(f: Objective, x: number[], h = 1e-6): number[] {
  return x.map((_, i) => {
    const up = Float64Array.from(x);
    const dn = Float64Array.from(x);
    up[i] = up[i]! + h;
    dn[i] = dn[i]! - h;
    return (f(up) - f(dn)) / (2 * h);
  });
}

describe('minimize', () => {
  it('solves 2-D Rosenbrock from the standard start (−1.2, 1)', () => {
    const r = minimize(rosenbrock, [-1.2, 1]);
    expect(r.converged).toBe(true);
    expect(r.method).toBe('bfgs');
    expect(r.gradientNorm).toBeLessThanOrEqual(1e-6);
    expect(r.x[0]).toBeCloseTo(1, 6);
    expect(r.x[1]).toBeCloseTo(1, 6);
    expect(r.value).toBeLessThan(1e-12);
    expect(r.iterations).toBeLessThan(100);
  });

  it('solves 4-D chained Rosenbrock from (−1.2, 1, −1.2, 1) and from (−3, −4, −3, −4)', () => {
    for (const x0 of [
      [-1.2, 1, -1.2, 1],
      [-3, -4, -3, -4],
    ]) {
      const r = minimize(rosenbrock, x0);
      expect(r.converged).toBe(true);
      for (const xi of r.x) expect(xi).toBeCloseTo(1, 5);
    }
  });

  it('finds the known minimum of a correlated quadratic', () => {
    // f(x) = ½ (x − m)ᵀ A (x − m) + 3 with A SPD (eigenvalues ≈ 0.70, 3.9, 11.4).
    const A = [
      [10, 3, 0],
      [3, 5, 1],
      [0, 1, 1],
    ];
    const m = [1, -2, 0.5];
    const f: Objective = (x, g) => {
      const d = m.map((mi, i) => x[i]! - mi);
      let v = 3;
      for (let i = 0; i < 3; i++) {
        let Ad = 0;
        for (let j = 0; j < 3; j++) Ad += A[i]![j]! * d[j]!;
        v += 0.5 * d[i]! * Ad;
        if (g) g[i] = Ad;
      }
      return v;
    };
    const r = minimize(f, [0, 0, 0], { gradientTolerance: 1e-8 });
    expect(r.converged).toBe(true);
    expect(r.method).toBe('bfgs');
    expect(r.value).toBeCloseTo(3, 12);
    r.x.forEach((xi, i) => expect(xi).toBeCloseTo(m[i]!, 8));
  });

  it('backtracks out of a NaN region and still converges to an interior minimum', () => {
    // Minimum at (2, −1); NaN for x₀ > 3. From (−10, 5) a unit step along −g would land in the NaN region.
    const f: Objective = (x, g) => {
      if (x[0]! > 3) return NaN;
      if (g) {
        g[0] = 2 * (x[0]! - 2);
        g[1] = 2 * (x[1]! + 1);
      }
      return (x[0]! - 2) ** 2 + (x[1]! + 1) ** 2;
    };
    const r = minimize(f, [-10, 5]);
    expect(r.converged).toBe(true);
    expect(r.x[0]).toBeCloseTo(2, 8);
    expect(r.x[1]).toBeCloseTo(-1, 8);
  });

  it('does not report convergence when the minimum lies beyond a NaN boundary', () => {
    // Unconstrained minimum at (5, −1) but the function is NaN for x₀ > 3: the best finite point
    // is on the boundary, where the gradient is not zero.
    const f: Objective = (x, g) => {
      if (x[0]! > 3) return NaN;
      if (g) {
        g[0] = 2 * (x[0]! - 5);
        g[1] = 2 * (x[1]! + 1);
      }
      return (x[0]! - 5) ** 2 + (x[1]! + 1) ** 2;
    };
    const r = minimize(f, [-10, 5]);
    expect(r.converged).toBe(false);
    expect(Number.isFinite(r.value)).toBe(true);
    expect(r.x[0]).toBeLessThanOrEqual(3);
    expect(r.x[0]).toBeGreaterThan(2.9);
    expect(r.gradientNorm).toBeGreaterThan(1);
    expect(r.method).not.toBe('bfgs'); // BFGS fails, Nelder–Mead fallback is reported
    expect(r.message).toMatch(/Nelder–Mead/);
  });

  it('never reports convergence at NaN (objective NaN everywhere but the start, or throwing)', () => {
    const start = [1, 1];
    const f: Objective = (x, g) => {
      if (x[0] === 1 && x[1] === 1) {
        if (g) g.fill(1);
        return 0;
      }
      return NaN;
    };
    const r = minimize(f, start);
    expect(r.converged).toBe(false);
    expect(r.value).toBe(0);
    expect(Array.from(r.x)).toEqual(start);

    const throwing: Objective = () => {
      throw new Error('boom');
    };
    const t = minimize(throwing, [0, 0]);
    expect(t.converged).toBe(false);
    expect(Number.isNaN(t.value)).toBe(true);

    // NaN gradient with a finite value.
    const badGrad: Objective = (x, g) => {
      if (g) g.fill(NaN);
      return x[0]! ** 2;
    };
    const b = minimize(badGrad, [3]);
    expect(b.converged).toBe(false);
  });

  it('counts a stop at the precision floor as converged only with a gradient near the tolerance', () => {
    // f = 10 + 50 x² + δ|x|: the minimum at 0 is a kink where the gradient is ±δ, never 0, so BFGS
    // ends when f stops changing within double precision, with |∇f| ≈ δ.
    const kink = (delta: number): Objective => (x, g) => {
      const v = x[0]!;
      if (g) g[0] = 100 * v + delta * Math.sign(v || 1);
      return 10 + 50 * v * v + delta * Math.abs(v);
    };
    const floor = minimize(kink(5e-6), [3], { fallback: false });
    expect(floor.converged).toBe(true);
    expect(floor.message).toMatch(/precision floor/);
    expect(Math.abs(floor.x[0]!)).toBeLessThan(1e-6);
    const rough = minimize(kink(5e-2), [3], { fallback: false });
    expect(rough.converged).toBe(false);
  });

  it('reports converged = false when it runs out of iterations', () => {
    const r = minimize(rosenbrock, [-1.2, 1], { maxIterations: 5 });
    expect(r.converged).toBe(false);
    expect(r.iterations).toBe(5);
    expect(r.method).toBe('bfgs');
    expect(r.message).toMatch(/maximum of 5 iterations/);
    expect(r.gradientNorm).toBeGreaterThan(1e-6);
  });

  it('the L2 penalty adds penalizer · Σ x² and its gradient', () => {
    const g = new Float64Array([1, 1, 1]);
    expect(addL2Penalty([1, -2, 3], 0.5, g)).toBeCloseTo(0.5 * 14, 14);
    expect(Array.from(g)).toEqual([2, -1, 4]);
    expect(addL2Penalty([1, 2], 0, g)).toBe(0);

    const penalised = withL2Penalty(rosenbrock, 0.3);
    const x = [0.7, -0.4, 1.3];
    const grad = new Float64Array(3);
    const v = penalised(Float64Array.from(x), grad);
    expect(v).toBeCloseTo(rosenbrock(Float64Array.from(x)) + 0.3 * (0.49 + 0.16 + 1.69), 12);
    const fd = numericGradient(penalised, x);
    grad.forEach((gi, i) => expect(gi).toBeCloseTo(fd[i]!, 5));

    // The penalised minimum of Σ (x − 1)² + λ Σ x² is 1 / (1 + λ) per coordinate.
    const quad: Objective = (y, gr) => {
      let s = 0;
      for (let i = 0; i < y.length; i++) {
        s += (y[i]! - 1) ** 2;
        if (gr) gr[i] = 2 * (y[i]! - 1);
      }
      return s;
    };
    const r = minimize(withL2Penalty(quad, 0.25), [5, -5]);
    expect(r.converged).toBe(true);
    for (const xi of r.x) expect(xi).toBeCloseTo(1 / 1.25, 9);
  });
});
