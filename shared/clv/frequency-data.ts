/**
 * The frequency data the BG/NBD family (BG/NBD, MBG/NBD, Pareto/NBD) is fitted on: compression of
 * customers into weighted (x, t_x, T) rows, validation, and the start values all three use; plus
 * the grouping and hashing helpers the models share (distinct rows, distinct (x, T) pairs).
 */
import type { FrequencySummary } from './types.js';

// ---------------------------------------------------------------------------
// Hash index of numbers and pairs of numbers
// ---------------------------------------------------------------------------

const HASH_F64 = new Float64Array(2);
const HASH_U32 = new Uint32Array(HASH_F64.buffer);

/** 32-bit hash of one or two doubles (−0 as 0, every NaN alike: the keys compare by SameValueZero). */
function hashKey(a: number, b: number): number {
  HASH_F64[0] = a === 0 || a !== a ? (a === 0 ? 0 : NaN) : a;
  HASH_F64[1] = b === 0 || b !== b ? (b === 0 ? 0 : NaN) : b;
  let h = Math.imul(HASH_U32[0]! ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 15) ^ HASH_U32[1]!, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 13) ^ HASH_U32[2]!, 0x27d4eb2f);
  h = Math.imul(h ^ (h >>> 16) ^ HASH_U32[3]!, 0x165667b1);
  return (h ^ (h >>> 15)) >>> 0;
}

/** SameValueZero. */
function same(u: number, v: number): boolean {
  return u === v || (u !== u && v !== v);
}

/**
 * Open-addressing hash table from a key of one or two numbers (compared by SameValueZero, like a
 * `Map`) to a dense id 0, 1, 2, … in order of first appearance; `first`/`second` hold the keys by id.
 * Several times faster than nested `Map`s for the millions of lookups of a vectorised prediction.
 */
export class KeyIndex {
  size = 0;
  first: Float64Array;
  second: Float64Array;
  private slots: Int32Array;
  private mask: number;

  constructor(expected = 16) {
    let cap = 16;
    while (cap < 2 * expected) cap *= 2;
    this.slots = new Int32Array(cap).fill(-1);
    this.mask = cap - 1;
    const keys = Math.max(8, Math.min(expected, 1 << 16));
    this.first = new Float64Array(keys);
    this.second = new Float64Array(keys);
  }

  /** Id of the key (a, b), added if new. */
  id(a: number, b = 0): number {
    let slot = hashKey(a, b) & this.mask;
    for (;;) {
      const k = this.slots[slot]!;
      if (k < 0) break;
      if (same(this.first[k]!, a) && same(this.second[k]!, b)) return k;
      slot = (slot + 1) & this.mask;
    }
    const k = this.size++;
    if (k >= this.first.length) {
      const grow = (old: Float64Array): Float64Array => {
        const next = new Float64Array(old.length * 2);
        next.set(old);
        return next;
      };
      this.first = grow(this.first);
      this.second = grow(this.second);
    }
    this.first[k] = a;
    this.second[k] = b;
    this.slots[slot] = k;
    if (2 * this.size > this.slots.length) this.rehash();
    return k;
  }

  private rehash(): void {
    const cap = this.slots.length * 2;
    this.slots = new Int32Array(cap).fill(-1);
    this.mask = cap - 1;
    for (let k = 0; k < this.size; k++) {
      let slot = hashKey(this.first[k]!, this.second[k]!) & this.mask;
      while (this.slots[slot]! >= 0) slot = (slot + 1) & this.mask;
      this.slots[slot] = k;
    }
  }
}

/**
 * If every value of `v` is an integer in [0, limit], the largest of them; otherwise −1. Whole
 * numbers (days, purchase counts) let the helpers below use plain lookup tables instead of hashing.
 */
export function maxSmallInteger(v: ArrayLike<number>, limit: number): number {
  let max = 0;
  for (let i = 0; i < v.length; i++) {
    const u = v[i]!;
    // Integer in range (NaN fails both comparisons).
    if (!(u >= 0 && u <= limit && Math.floor(u) === u)) return -1;
    if (u > max) max = u;
  }
  return max;
}

/**
 * Distinct (a[i], b[i]) pairs (SameValueZero) and, per element, the id of its pair (ids in order of
 * first appearance). When both arrays hold small whole numbers (e.g. purchase counts and ages in
 * days) the pairs are found with a lookup table, otherwise with a hash table.
 */
export function indexPairs(a: ArrayLike<number>, b: ArrayLike<number>): { index: Uint32Array; first: Float64Array; second: Float64Array; size: number } {
  const n = a.length;
  const index = new Uint32Array(n);
  const maxA = maxSmallInteger(a, 1 << 20);
  const maxB = maxA >= 0 ? maxSmallInteger(b, 1 << 20) : -1;
  if (maxA >= 0 && maxB >= 0 && (maxA + 1) * (maxB + 1) <= Math.max(4 * n, 1 << 16)) {
    const stride = maxB + 1;
    const table = new Int32Array((maxA + 1) * stride).fill(-1);
    const first: number[] = [];
    const second: number[] = [];
    for (let i = 0; i < n; i++) {
      const u = a[i]! + 0; // −0 → 0
      const v = b[i]! + 0;
      const slot = u * stride + v;
      let k = table[slot]!;
      if (k < 0) {
        k = first.length;
        first.push(u);
        second.push(v);
        table[slot] = k;
      }
      index[i] = k;
    }
    return { index, first: Float64Array.from(first), second: Float64Array.from(second), size: first.length };
  }
  const table = new KeyIndex(Math.min(n, 1024));
  for (let i = 0; i < n; i++) index[i] = table.id(a[i]!, b[i]!);
  return { index, first: table.first, second: table.second, size: table.size };
}

// ---------------------------------------------------------------------------
// Grouping identical rows
// ---------------------------------------------------------------------------

/**
 * Per column, the rank of every value among the column's distinct values (ascending) and those
 * values. The column must be finite. Small whole numbers (counts, days) are ranked with a
 * presence table, anything else through a hash index and a sort of the distinct values.
 */
function rankColumn(col: ArrayLike<number>): { rank: Uint32Array; values: Float64Array } {
  const n = col.length;
  const rank = new Uint32Array(n);
  const max = maxSmallInteger(col, 4 * n + 4096);
  if (max >= 0) {
    const table = new Int32Array(max + 1);
    for (let i = 0; i < n; i++) table[col[i]!] = 1;
    const values: number[] = [];
    for (let v = 0; v <= max; v++) {
      if (table[v] !== 0) {
        table[v] = values.length;
        values.push(v);
      }
    }
    for (let i = 0; i < n; i++) rank[i] = table[col[i]!]!;
    return { rank, values: Float64Array.from(values) };
  }
  const table = new KeyIndex(Math.min(n, 1024));
  for (let i = 0; i < n; i++) rank[i] = table.id(col[i]!);
  const k = table.size;
  const keys = table.first;
  const values = keys.slice(0, k).sort();
  const rankOfId = new Uint32Array(k);
  for (let j = 0; j < k; j++) {
    // Binary search: the keys are distinct, so the value occurs exactly once.
    const v = keys[j]!;
    let lo = 0;
    let hi = k - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (values[mid]! < v) lo = mid + 1;
      else hi = mid;
    }
    rankOfId[j] = lo;
  }
  for (let i = 0; i < n; i++) rank[i] = rankOfId[rank[i]!]!;
  return { rank, values };
}

/** Stable counting sort of `order` by `key[order[i]]` (keys in [0, k)). */
function countingSort(order: Uint32Array, key: Uint32Array, k: number): Uint32Array<ArrayBuffer> {
  const count = new Uint32Array(k + 1);
  for (let i = 0; i < order.length; i++) count[key[order[i]!]! + 1]!++;
  for (let j = 0; j < k; j++) count[j + 1] = count[j + 1]! + count[j]!;
  const out = new Uint32Array(order.length);
  for (let i = 0; i < order.length; i++) {
    const o = order[i]!;
    out[count[key[o]!]!++] = o;
  }
  return out;
}

function allFinite(col: ArrayLike<number>): boolean {
  for (let i = 0; i < col.length; i++) if (!Number.isFinite(col[i]!)) return false;
  return true;
}

/**
 * Groups identical rows of the given columns (same length): the distinct rows in lexicographic
 * order of the columns (numeric, first column first) and the number of rows having each (weight).
 * Finite data: the leading columns are ranked and radix (LSD counting) sorted, then the last
 * column is sorted natively within each group of equal leading values and run-length counted —
 * O(n) plus typed-array sorts. With a non-finite value anywhere, a comparator sort (as before).
 */
export function groupRows(columns: readonly ArrayLike<number>[]): { columns: Float64Array[]; weight: Float64Array } {
  const n = columns[0]?.length ?? 0;
  const nc = columns.length;
  if (nc > 0 && columns.every(allFinite)) {
    const last = columns[nc - 1]!;
    const lead = columns.slice(0, nc - 1).map(rankColumn);
    let order: Uint32Array<ArrayBuffer> = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    for (let c = lead.length - 1; c >= 0; c--) {
      const r = lead[c]!;
      // Already in order when the column has a single distinct value.
      if (r.values.length > 1) order = countingSort(order, r.rank, r.values.length);
    }
    const outCols = columns.map(() => new Float64Array(n));
    const weight = new Float64Array(n);
    const scratch = new Float64Array(n);
    let out = 0;
    let start = 0;
    while (start < n) {
      // The group of rows with the same leading values: [start, end) of `order`.
      const first = order[start]!;
      let end = start + 1;
      for (; end < n; end++) {
        const i = order[end]!;
        let same = true;
        for (let c = 0; same && c < lead.length; c++) same = lead[c]!.rank[i] === lead[c]!.rank[first];
        if (!same) break;
      }
      for (let k = start; k < end; k++) scratch[k] = last[order[k]!]!;
      if (end - start > 1) scratch.subarray(start, end).sort();
      for (let k = start; k < end; k++) {
        const v = scratch[k]!;
        if (k > start && v === scratch[k - 1]) weight[out - 1] = weight[out - 1]! + 1;
        else {
          for (let c = 0; c < lead.length; c++) outCols[c]![out] = lead[c]!.values[lead[c]!.rank[first]!]!;
          outCols[nc - 1]![out] = v;
          weight[out] = 1;
          out++;
        }
      }
      start = end;
    }
    return { columns: outCols.map((col) => col.slice(0, out)), weight: weight.slice(0, out) };
  }
  // Non-finite values: the comparator sort (NaN compares as equal to everything, as it always did).
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((i, j) => {
    for (const col of columns) {
      const d = col[i]! - col[j]!;
      if (d) return d;
    }
    return 0;
  });
  const outCols = columns.map(() => new Float64Array(n));
  const weight = new Float64Array(n);
  let m = 0;
  for (let k = 0; k < n; k++) {
    const i = order[k]!;
    let same = m > 0;
    for (let c = 0; same && c < columns.length; c++) same = outCols[c]![m - 1] === columns[c]![i];
    if (same) weight[m - 1] = weight[m - 1]! + 1;
    else {
      for (let c = 0; c < columns.length; c++) outCols[c]![m] = columns[c]![i]!;
      weight[m] = 1;
      m++;
    }
  }
  return { columns: outCols.map((col) => col.slice(0, m)), weight: weight.slice(0, m) };
}

/**
 * Groups identical (x, t_x, T) triples: one row per distinct triple with the number of customers
 * having it as `weight`. Rows come out sorted by x, then t_x, then T.
 */
export function compressFrequency(x: ArrayLike<number>, tx: ArrayLike<number>, T: ArrayLike<number>): FrequencySummary {
  const n = x.length;
  if (tx.length !== n || T.length !== n) throw new RangeError(`compressFrequency: lengths differ (x ${n}, tx ${tx.length}, T ${T.length})`);
  const g = groupRows([x, tx, T]);
  return { x: g.columns[0]!, tx: g.columns[1]!, T: g.columns[2]!, weight: g.weight };
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
  const dx = data.x;
  const dtx = data.tx;
  const dT = data.T;
  const dw = data.weight;
  let kept = 0;
  let maxX = 0;
  for (let i = 0; i < n; i++) {
    const x = dx[i]!;
    const tx = dtx[i]!;
    const T = dT[i]!;
    const w = dw[i]!;
    if (!(Number.isFinite(w) && w >= 0)) throw new RangeError(`FrequencySummary row ${i}: weight must be finite and >= 0 (got ${w})`);
    if (w === 0) continue;
    if (!(Number.isInteger(x) && x >= 0)) throw new RangeError(`FrequencySummary row ${i}: x must be a non-negative integer (got ${x})`);
    if (!(Number.isFinite(T) && T >= 0)) throw new RangeError(`FrequencySummary row ${i}: T must be finite and >= 0 (got ${T})`);
    if (!(Number.isFinite(tx) && tx >= 0 && tx <= T)) throw new RangeError(`FrequencySummary row ${i}: need 0 <= tx <= T (got tx ${tx}, T ${T})`);
    kept++;
    if (x > maxX) maxX = x;
  }
  const k = kept;
  const x = new Float64Array(k);
  const tx = new Float64Array(k);
  const T = new Float64Array(k);
  const weight = new Float64Array(k);
  const xIndex = new Uint32Array(k);
  let totalWeight = 0;
  // Distinct x in order of first appearance: a direct lookup table when the x are small (always,
  // in practice), a hash index otherwise.
  const direct = maxX <= 4 * k + 1024 ? new Int32Array(maxX + 1).fill(-1) : null;
  const table = direct ? null : new KeyIndex(64);
  const xsList: number[] = [];
  let j = 0;
  for (let i = 0; i < n; i++) {
    const w = dw[i]!;
    if (w === 0) continue;
    const xi = dx[i]! + 0; // −0 → 0
    x[j] = xi;
    tx[j] = dtx[i]!;
    T[j] = dT[i]!;
    weight[j] = w;
    totalWeight += w;
    let idx: number;
    if (direct) {
      idx = direct[xi]!;
      if (idx < 0) {
        idx = xsList.length;
        xsList.push(xi);
        direct[xi] = idx;
      }
    } else {
      idx = (table as KeyIndex).id(xi);
      if (idx === xsList.length) xsList.push(xi);
    }
    xIndex[j] = idx;
    j++;
  }
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
