/**
 * The frequency data the BG/NBD family (BG/NBD, MBG/NBD, Pareto/NBD) is fitted on: compression of
 * customers into weighted (x, t_x, T) rows, validation, and the start values all three use.
 */
import type { FrequencySummary } from './types.js';

/**
 * Groups identical (x, t_x, T) triples: one row per distinct triple with the number of customers
 * having it as `weight`. Rows come out sorted by x, then t_x, then T.
 */
export function compressFrequency(x: ArrayLike<number>, tx: ArrayLike<number>, T: ArrayLike<number>): FrequencySummary {
  const n = x.length;
  if (tx.length !== n || T.length !== n) throw new RangeError(`compressFrequency: lengths differ (x ${n}, tx ${tx.length}, T ${T.length})`);
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((i, j) => x[i]! - x[j]! || tx[i]! - tx[j]! || T[i]! - T[j]!);
  const ox = new Float64Array(n);
  const otx = new Float64Array(n);
  const oT = new Float64Array(n);
  const ow = new Float64Array(n);
  let m = 0;
  for (let k = 0; k < n; k++) {
    const i = order[k]!;
    const xi = x[i]!;
    const ti = tx[i]!;
    const Ti = T[i]!;
    if (m > 0 && ox[m - 1] === xi && otx[m - 1] === ti && oT[m - 1] === Ti) ow[m - 1] = ow[m - 1]! + 1;
    else {
      ox[m] = xi;
      otx[m] = ti;
      oT[m] = Ti;
      ow[m] = 1;
      m++;
    }
  }
  return { x: ox.slice(0, m), tx: otx.slice(0, m), T: oT.slice(0, m), weight: ow.slice(0, m) };
}

export interface PreparedFrequency {
  n: number;
  x: Float64Array;
  tx: Float64Array;
  T: Float64Array;
  weight: Float64Array;
  totalWeight: number;
  /** Distinct x values and, per row, the index into them. */
  xs: Float64Array;
  xIndex: Uint32Array;
}

export function prepareFrequency(data: FrequencySummary): PreparedFrequency {
  const n = data.x.length;
  if (data.tx.length !== n || data.T.length !== n || data.weight.length !== n) {
    throw new RangeError('FrequencySummary: x, tx, T and weight must have the same length');
  }
  const keep: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = data.x[i]!;
    const tx = data.tx[i]!;
    const T = data.T[i]!;
    const w = data.weight[i]!;
    if (!(Number.isFinite(w) && w >= 0)) throw new RangeError(`FrequencySummary row ${i}: weight must be finite and >= 0 (got ${w})`);
    if (w === 0) continue;
    if (!(Number.isInteger(x) && x >= 0)) throw new RangeError(`FrequencySummary row ${i}: x must be a non-negative integer (got ${x})`);
    if (!(Number.isFinite(T) && T >= 0)) throw new RangeError(`FrequencySummary row ${i}: T must be finite and >= 0 (got ${T})`);
    if (!(Number.isFinite(tx) && tx >= 0 && tx <= T)) throw new RangeError(`FrequencySummary row ${i}: need 0 <= tx <= T (got tx ${tx}, T ${T})`);
    keep.push(i);
  }
  const k = keep.length;
  const x = new Float64Array(k);
  const tx = new Float64Array(k);
  const T = new Float64Array(k);
  const weight = new Float64Array(k);
  let totalWeight = 0;
  const map = new Map<number, number>();
  const xsList: number[] = [];
  const xIndex = new Uint32Array(k);
  keep.forEach((i, j) => {
    x[j] = data.x[i]!;
    tx[j] = data.tx[i]!;
    T[j] = data.T[i]!;
    weight[j] = data.weight[i]!;
    totalWeight += weight[j]!;
    let idx = map.get(x[j]!);
    if (idx === undefined) {
      idx = xsList.length;
      xsList.push(x[j]!);
      map.set(x[j]!, idx);
    }
    xIndex[j] = idx;
  });
  return { n: k, x, tx, T, weight, totalWeight, xs: Float64Array.from(xsList), xIndex };
}

/**
 * Weighted means of x and T: the start of every fit puts α (the rate's scale) at mean T / mean x,
 * the rate the data shows.
 */
export function startingAlpha(d: PreparedFrequency): number {
  let meanX = 0;
  let meanT = 0;
  for (let i = 0; i < d.n; i++) {
    meanX += d.weight[i]! * d.x[i]!;
    meanT += d.weight[i]! * d.T[i]!;
  }
  return Math.max(meanT / d.totalWeight, 1e-3) / Math.max(meanX / d.totalWeight, 0.01);
}

/** Per-customer inputs of a prediction as equally long arrays; a number stands for every customer. */
export function broadcast(
  model: string,
  x: number | ArrayLike<number>,
  tx: number | ArrayLike<number>,
  T: number | ArrayLike<number>,
): [ArrayLike<number>, ArrayLike<number>, ArrayLike<number>] {
  const n = typeof x !== 'number' ? x.length : typeof tx !== 'number' ? tx.length : typeof T !== 'number' ? T.length : 1;
  const arr = (v: number | ArrayLike<number>, name: string): ArrayLike<number> => {
    if (typeof v === 'number') return new Float64Array(n).fill(v);
    if (v.length !== n) throw new RangeError(`${model} prediction: ${name} has ${v.length} values, expected ${n}`);
    return v;
  };
  return [arr(x, 'x'), arr(tx, 'tx'), arr(T, 'T')];
}
