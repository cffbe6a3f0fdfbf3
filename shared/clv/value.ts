/**
 * Discounted customer lifetime value from a transaction model (BG/NBD, BG/BB, …) and a spend model
 * (Gamma-Gamma), following the scheme of lifetimes' `customer_lifetime_value`
 * (lifetimes/utils.py, `_customer_lifetime_value`): the horizon is cut into months, the expected
 * number of purchases in each month is the difference of the model's cumulative conditional
 * expectation at the month's end and start, and month i is discounted by (1 + d)^i:
 *
 *   DEP = Σ_{i=1}^{months} [E(i·h) − E((i−1)·h)] / (1 + d)^i,   h = daysPerMonth / unitDays,
 *   CLV = DEP × expected order value × margin.
 *
 * E(t) is the expected number of purchases in (T, T+t] in the model's time unit (so E(0) = 0; it is
 * never evaluated at 0). `unitDays` converts a month of `daysPerMonth` days to that unit: 1 for a
 * model fitted in days, 7 for weeks. Note that lifetimes' `freq` argument uses its own months
 * (30 days for "D", 4.345 weeks for "W" — i.e. 30.415 days; pass daysPerMonth = 30.415,
 * unitDays = 7 to reproduce "W"), and that its default `freq = "D"` applied to a model fitted in
 * weeks (as in its quickstart) amounts to daysPerMonth = 30, unitDays = 1: "months" of 30 weeks.
 *
 * Discounted expected residual transactions (DERT, Fader, Hardie & Lee 2005, "RFM and CLV",
 * JMR 42(4), eq. 2, continuous-time discounting of the Pareto/NBD) are not implemented yet: they
 * belong here, next to `discountedExpectedPurchases`, as `paretoNbdDert(params, discountRate, x,
 * t_x, T)` once the Pareto/NBD model exists (it needs the confluent hypergeometric function of the
 * second kind, Ψ(s, s; ·)).
 */

function checkScheme(months: number, monthlyDiscountRate: number, daysPerMonth: number, unitDays: number, where: string): number {
  if (!(Number.isInteger(months) && months >= 0)) throw new RangeError(`${where}: months must be a non-negative integer (got ${months})`);
  if (!(Number.isFinite(monthlyDiscountRate) && monthlyDiscountRate > -1)) {
    throw new RangeError(`${where}: monthlyDiscountRate must be finite and > −1 (got ${monthlyDiscountRate})`);
  }
  if (!(Number.isFinite(daysPerMonth) && daysPerMonth > 0)) throw new RangeError(`${where}: daysPerMonth must be finite and > 0 (got ${daysPerMonth})`);
  if (!(Number.isFinite(unitDays) && unitDays > 0)) throw new RangeError(`${where}: unitDays must be finite and > 0 (got ${unitDays})`);
  return daysPerMonth / unitDays;
}

/**
 * Discounted expected purchases over `months` months (see the module comment):
 * Σ_{i=1}^{months} [E(i·h) − E((i−1)·h)] / (1 + d)^i with h = daysPerMonth / unitDays model time
 * units and E(0) = 0. `expectedCumulative(t)` is the model's conditional expected number of
 * purchases in the next t time units (e.g. `t => conditionalExpectedPurchases(params, t, x, tx, T)`
 * for the BG/NBD). Calls it `months` times, at h, 2h, …, months·h. Returns 0 for months = 0.
 * Throws `RangeError` for a non-integer or negative `months`, d ≤ −1, or non-positive
 * `daysPerMonth`/`unitDays`; a non-finite E(t) propagates as NaN.
 */
export function discountedExpectedPurchases(
  expectedCumulative: (t: number) => number,
  months: number,
  monthlyDiscountRate: number,
  daysPerMonth = 30,
  unitDays = 1,
): number {
  const h = checkScheme(months, monthlyDiscountRate, daysPerMonth, unitDays, 'discountedExpectedPurchases');
  let total = 0;
  let prev = 0;
  let factor = 1;
  for (let i = 1; i <= months; i++) {
    const cur = expectedCumulative(i * h);
    factor /= 1 + monthlyDiscountRate;
    total += (cur - prev) * factor;
    prev = cur;
  }
  return total;
}

/**
 * Vectorised `discountedExpectedPurchases`: `expectedCumulative(t)` returns the expectations of all
 * customers for horizon t (e.g. `t => conditionalExpectedPurchases(params, t, xs, txs, Ts)`), so a
 * population costs `months` vectorised calls. Every call must return the same number of values
 * (`RangeError` otherwise). For months = 0 the function is never called and an empty array is
 * returned unless `size` is given (then zeros of that length).
 */
export function discountedExpectedPurchasesVector(
  expectedCumulative: (t: number) => ArrayLike<number>,
  months: number,
  monthlyDiscountRate: number,
  daysPerMonth = 30,
  unitDays = 1,
  size?: number,
): Float64Array {
  const where = 'discountedExpectedPurchasesVector';
  const h = checkScheme(months, monthlyDiscountRate, daysPerMonth, unitDays, where);
  if (size !== undefined && !(Number.isInteger(size) && size >= 0)) throw new RangeError(`${where}: size must be a non-negative integer (got ${size})`);
  let total: Float64Array | null = size !== undefined ? new Float64Array(size) : null;
  // E at the previous month's end, copied (the callback may reuse its output buffer).
  let prev: Float64Array | null = null;
  let factor = 1;
  for (let i = 1; i <= months; i++) {
    const cur = expectedCumulative(i * h);
    if (total === null) total = new Float64Array(cur.length);
    if (cur.length !== total.length) throw new RangeError(`${where}: horizon ${i * h} gave ${cur.length} values, expected ${total.length}`);
    factor /= 1 + monthlyDiscountRate;
    if (prev === null) {
      prev = new Float64Array(cur.length);
      for (let k = 0; k < cur.length; k++) {
        const c = cur[k]!;
        total[k] = total[k]! + c * factor;
        prev[k] = c;
      }
    } else {
      for (let k = 0; k < cur.length; k++) {
        const c = cur[k]!;
        total[k] = total[k]! + (c - prev[k]!) * factor;
        prev[k] = c;
      }
    }
  }
  return total ?? new Float64Array(0);
}

/**
 * CLV = discounted expected purchases × expected order value (e.g. Gamma-Gamma's
 * `expectedOrderValue`) × margin. Scalar, or element-wise over arrays (scalars broadcast; returns a
 * Float64Array; `RangeError` if array lengths differ).
 */
export function customerLifetimeValue(discountedPurchases: number, expectedOrderValue: number, margin?: number): number;
export function customerLifetimeValue(
  discountedPurchases: number | ArrayLike<number>,
  expectedOrderValue: number | ArrayLike<number>,
  margin?: number | ArrayLike<number>,
): Float64Array;
export function customerLifetimeValue(
  discountedPurchases: number | ArrayLike<number>,
  expectedOrderValue: number | ArrayLike<number>,
  margin: number | ArrayLike<number> = 1,
): number | Float64Array {
  if (typeof discountedPurchases === 'number' && typeof expectedOrderValue === 'number' && typeof margin === 'number') {
    return discountedPurchases * expectedOrderValue * margin;
  }
  const cols = [discountedPurchases, expectedOrderValue, margin];
  let len = -1;
  for (const c of cols) {
    if (typeof c === 'number') continue;
    if (len >= 0 && c.length !== len) throw new RangeError(`customerLifetimeValue: arrays have different lengths (${len} and ${c.length})`);
    len = c.length;
  }
  const at = (c: number | ArrayLike<number>, i: number): number => (typeof c === 'number' ? c : c[i]!);
  const out = new Float64Array(len);
  for (let i = 0; i < len; i++) out[i] = at(discountedPurchases, i) * at(expectedOrderValue, i) * at(margin, i);
  return out;
}
