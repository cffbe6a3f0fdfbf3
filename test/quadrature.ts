/**
 * Numerical integration the model tests use as an independent reference (never the models' own
 * special functions).
 */

/** ∫_lo^hi f by Simpson's rule with `steps` (even) intervals. */
export function simpson(f: (u: number) => number, lo: number, hi: number, steps: number): number {
  const dx = (hi - lo) / steps;
  let s = f(lo) + f(hi);
  for (let k = 1; k < steps; k++) s += (k % 2 === 1 ? 4 : 2) * f(lo + k * dx);
  return (s * dx) / 3;
}

/**
 * ∫₀¹ h(p) p^(a−1) (1−p)^(b−1) dp by Simpson's rule on [0, ½] and [½, 1], with p = u^m near 0 and
 * 1 − p = v^n near 1 (m = ⌈2/a⌉, n = ⌈2/b⌉) so the endpoint singularities become smooth enough.
 */
export function betaIntegral(h: (p: number) => number, a: number, b: number, steps = 20_000): number {
  const m = Math.ceil(2 / a);
  const n = Math.ceil(2 / b);
  // m·a − 1 ≥ 1 and n·b − 1 ≥ 1: the integrands vanish at u = 0 and v = 0.
  const left = (u: number): number => (u === 0 ? 0 : h(u ** m) * m * u ** (m * a - 1) * (1 - u ** m) ** (b - 1));
  const right = (v: number): number => (v === 0 ? 0 : h(1 - v ** n) * n * v ** (n * b - 1) * (1 - v ** n) ** (a - 1));
  return simpson(left, 0, 0.5 ** (1 / m), steps) + simpson(right, 0, 0.5 ** (1 / n), steps);
}

/** E_p[h(p)] for p ~ Beta(a, b), normalised by the same rule applied to h ≡ 1. */
export function betaMean(h: (p: number) => number, a: number, b: number, steps = 20_000): number {
  return betaIntegral(h, a, b, steps) / betaIntegral(() => 1, a, b, steps);
}
