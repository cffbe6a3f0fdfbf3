import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CSV_HEADER,
  DEFAULT_PARAMS,
  createRng,
  generateExtracts,
  type GenerateOptions,
  type GenerateResult,
} from '../shared/demo/generate.js';

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

const tmpRoot = mkdtempSync(join(tmpdir(), 'gen-test-'));
let dirCounter = 0;
const freshDir = (): string => join(tmpRoot, `run-${dirCounter++}`);
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }));

function run(opts: Omit<GenerateOptions, 'dir'>): Promise<GenerateResult & { dir: string }> {
  const dir = freshDir();
  return generateExtracts({ ...opts, dir }).then((r) => ({ ...r, dir }));
}

function readText(file: string): string {
  const buf = readFileSync(file);
  return (file.endsWith('.gz') ? gunzipSync(buf) : buf).toString('latin1');
}

/** Minimal RFC 4180 field splitter (double-quoted fields, "" escapes). */
function splitCsv(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (line[i] === '"') {
      i++;
      for (;;) {
        const j = line.indexOf('"', i);
        if (j < 0) throw new Error(`unterminated quote: ${line}`);
        field += line.slice(i, j);
        i = j + 1;
        if (line[i] === '"') {
          field += '"';
          i++;
        } else break;
      }
    } else {
      const j = line.indexOf(',', i);
      field = j < 0 ? line.slice(i) : line.slice(i, j);
      i = j < 0 ? line.length : j;
    }
    out.push(field);
    if (i >= line.length) return out;
    i++; // skip comma
  }
}

interface Row {
  id: string;
  customer: string;
  orderedAt: string;
  amountCents: number;
  quantity: number;
  channel: string;
  currency: string;
  isReturn: boolean;
  file: string;
  line: string;
}

const TS_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/;
const AMOUNT_RE = /^-?\d+\.\d{2}$/;

function validTimestamp(s: string): boolean {
  if (!TS_RE.test(s)) return false;
  const d = new Date(`${s}Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 19) === s;
}

/** Classifies a data line: a malformed kind, or null when it is a valid row. */
function classify(fields: string[]): string | null {
  if (fields.length !== 8) return 'wrong_column_count';
  if (fields[1] === '') return 'missing_customer_id';
  if (!validTimestamp(fields[2]!)) return 'bad_date';
  if (!AMOUNT_RE.test(fields[3]!)) return 'non_numeric_amount';
  return null;
}

interface Parsed {
  rows: Row[];
  malformed: Record<string, number>;
  malformedIds: string[];
  headerOk: boolean;
}

function parseFiles(files: string[]): Parsed {
  const rows: Row[] = [];
  const malformed: Record<string, number> = {};
  const malformedIds: string[] = [];
  let headerOk = true;
  for (const file of files) {
    const text = readText(file);
    expect(text.endsWith('\n')).toBe(true);
    const lines = text.slice(0, -1).split('\n');
    if (lines[0] !== CSV_HEADER) headerOk = false;
    for (const line of lines.slice(1)) {
      const f = splitCsv(line);
      const kind = classify(f);
      if (kind !== null) {
        malformed[kind] = (malformed[kind] ?? 0) + 1;
        malformedIds.push(f[0]!);
        continue;
      }
      const [id, customer, orderedAt, amount, quantity, channel, currency, isReturn] = f as [
        string, string, string, string, string, string, string, string,
      ];
      rows.push({
        id,
        customer,
        orderedAt,
        amountCents: Math.round(Number(amount) * 100),
        quantity: Number(quantity),
        channel,
        currency,
        isReturn: isReturn === 'true' ? true : isReturn === 'false' ? false : (null as unknown as boolean),
        file,
        line,
      });
    }
  }
  return { rows, malformed, malformedIds, headerOk };
}

const mean = (xs: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i]!;
  return s / xs.length;
};
const variance = (xs: ArrayLike<number>): number => {
  const m = mean(xs);
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += (xs[i]! - m) ** 2;
  return s / (xs.length - 1);
};
const minOf = (xs: Float64Array): number => xs.reduce((m, x) => Math.min(m, x), Infinity);
const maxOf = (xs: Float64Array): number => xs.reduce((m, x) => Math.max(m, x), -Infinity);
const relErr = (x: number, target: number): number => Math.abs(x - target) / Math.abs(target);

/**
 * Closed-form expected number of orders per customer (first purchase
 * included) when the first purchase is uniform on [0, T] days and repeat
 * purchases follow the BG/NBD process with dropout possible after every
 * purchase (so also right after the first one):
 *
 *   E[X | λ, p, s] = (1−p)/p · (1 − e^{−λ p s})          (s = time left)
 *   E_λ[e^{−λ p s}] = (α/(α + p s))^r                      (λ ~ Gamma(r, α))
 *   (1/T)∫₀^T (α/(α+ps))^r ds = α·((1+pT/α)^{1−r} − 1)/((1−r) pT)
 *
 * and the expectation over p ~ Beta(a, b) by Simpson's rule after p = x⁵
 * (removes the p^{a−1} singularity at 0).
 */
function expectedOrdersUniformBirth(T: number, r: number, alpha: number, a: number, b: number): number {
  const g = (p: number): number => {
    const u = (p * T) / alpha;
    if (u < 1e-6) return (r * u) / 2;
    return 1 - Math.expm1((1 - r) * Math.log1p(u)) / ((1 - r) * u);
  };
  const n = 4000;
  let num = 0;
  let den = 0;
  for (let i = 0; i <= n; i++) {
    const x = i / n;
    const w = i === 0 || i === n ? 1 : i % 2 === 1 ? 4 : 2;
    const p = x ** 5;
    const dens = x === 0 ? 0 : 5 * x ** 4 * p ** (a - 1) * (1 - p) ** (b - 1);
    den += w * dens;
    const h = p === 0 ? (r * T) / (2 * alpha) : ((1 - p) / p) * g(p);
    num += w * dens * h;
  }
  return 1 + num / den;
}

// ---------------------------------------------------------------------------
// samplers
// ---------------------------------------------------------------------------

describe('createRng', () => {
  const N = 200_000;
  const sample = (f: () => number, n = N): Float64Array => {
    const xs = new Float64Array(n);
    for (let i = 0; i < n; i++) xs[i] = f();
    return xs;
  };

  it('is deterministic per seed and differs between seeds', () => {
    const a = createRng(7);
    const b = createRng(7);
    const c = createRng(8);
    const sa = Array.from({ length: 100 }, () => a.uint32());
    const sb = Array.from({ length: 100 }, () => b.uint32());
    const sc = Array.from({ length: 100 }, () => c.uint32());
    expect(sa).toEqual(sb);
    expect(sa).not.toEqual(sc);
    // Seeds differing only above 2^32 are different streams too.
    expect(createRng(1).uint32()).not.toBe(createRng(1 + 2 ** 32).uint32());
  });

  it('uniform is in [0,1) with mean 1/2 and variance 1/12', () => {
    const rng = createRng(1);
    const xs = sample(() => rng.uniform());
    expect(minOf(xs)).toBeGreaterThanOrEqual(0);
    expect(maxOf(xs)).toBeLessThan(1);
    expect(Math.abs(mean(xs) - 0.5)).toBeLessThan(0.003); // SE 0.00065
    expect(relErr(variance(xs), 1 / 12)).toBeLessThan(0.01); // SE 0.3 %
  });

  // Mean k/rate, variance k/rate². Relative SE of the sample variance is
  // sqrt((2 + 6/k)/N): 1.1 % for k = 0.25, 0.4 % for k = 6.
  it.each([
    [0.25, 10, 0.02, 0.06],
    [0.8, 1, 0.015, 0.03],
    [6, 2, 0.005, 0.02],
    [4, 15, 0.005, 0.02],
  ])('gamma(shape %d, rate %d) has mean k/rate and variance k/rate²', (k, rate, tolMean, tolVar) => {
    const rng = createRng(123);
    const xs = sample(() => rng.gamma(k, rate));
    expect(minOf(xs)).toBeGreaterThanOrEqual(0);
    expect(relErr(mean(xs), k / rate)).toBeLessThan(tolMean);
    expect(relErr(variance(xs), k / rate ** 2)).toBeLessThan(tolVar);
  });

  it('gamma has the right distribution, not just moments (chi-square and exponential CDF)', () => {
    const rng = createRng(5);
    // Gamma(1/2, rate 1/2) = χ²₁, so P(X ≤ 1) = P(|Z| ≤ 1) = 0.682689…
    const chi = sample(() => rng.gamma(0.5, 0.5));
    const pChi = chi.filter((x) => x <= 1).length / chi.length;
    expect(Math.abs(pChi - 0.6826894921)).toBeLessThan(0.005); // SE 0.001
    // Gamma(1, rate 2) = Exp(2): P(X ≤ 0.5) = 1 − e^{−1}
    const ex = sample(() => rng.gamma(1, 2));
    const pEx = ex.filter((x) => x <= 0.5).length / ex.length;
    expect(Math.abs(pEx - (1 - Math.exp(-1)))).toBeLessThan(0.005);
  });

  it('beta(a, b) has mean a/(a+b) and variance ab/((a+b)²(a+b+1))', () => {
    const rng = createRng(9);
    const [a, b] = [0.8, 2.5];
    const xs = sample(() => rng.beta(a, b));
    expect(minOf(xs)).toBeGreaterThanOrEqual(0);
    expect(maxOf(xs)).toBeLessThanOrEqual(1);
    expect(relErr(mean(xs), a / (a + b))).toBeLessThan(0.01);
    expect(relErr(variance(xs), (a * b) / ((a + b) ** 2 * (a + b + 1)))).toBeLessThan(0.02);
  });

  it('exponential and poisson have the right mean and variance', () => {
    const rng = createRng(11);
    const ex = sample(() => rng.exponential(0.25));
    expect(relErr(mean(ex), 4)).toBeLessThan(0.01);
    expect(relErr(variance(ex), 16)).toBeLessThan(0.03);
    const po = sample(() => rng.poisson(0.6));
    expect(relErr(mean(po), 0.6)).toBeLessThan(0.01);
    expect(relErr(variance(po), 0.6)).toBeLessThan(0.02);
    expect(po.every((x) => Number.isInteger(x) && x >= 0)).toBe(true);
  });
});

// ---------------------------------------------------------------------------
// files
// ---------------------------------------------------------------------------

describe('generateExtracts: layout and content', () => {
  const base = { from: '2024-02-25', to: '2024-03-05', customers: 4000, seed: 3, returnRate: 0.2 } as const;
  let res: GenerateResult & { dir: string };
  let parsed: Parsed;

  it('writes one daily extract per day with the exact header', async () => {
    res = await run(base);
    // 2024 is a leap year: 2024-02-25 … 2024-03-05 is 10 days.
    const days = ['02-25', '02-26', '02-27', '02-28', '02-29', '03-01', '03-02', '03-03', '03-04', '03-05'];
    const expected = days.map((d) => join(res.dir, 'transactions', `dt=2024-${d}`, 'part-00000.csv'));
    expect(res.files).toEqual(expected);
    const onDisk = readdirSync(join(res.dir, 'transactions')).flatMap((p) =>
      readdirSync(join(res.dir, 'transactions', p)).map((f) => join(res.dir, 'transactions', p, f)),
    );
    expect(onDisk.sort()).toEqual(expected);
    parsed = parseFiles(res.files);
    expect(parsed.headerOk).toBe(true);
    expect(res.customers).toBe(4000);
  });

  it('has exactly malformedRows malformed lines, classified as reported', () => {
    expect(Object.values(res.malformed).reduce((s, n) => s + n, 0)).toBe(25);
    expect(res.malformed).toEqual({ bad_date: 7, non_numeric_amount: 6, missing_customer_id: 6, wrong_column_count: 6 });
    expect(parsed.malformed).toEqual(res.malformed);
  });

  it('valid rows are well-formed and in the partition of their date', () => {
    const { rows } = parsed;
    expect(rows.length).toBe(res.transactions + res.returns);
    expect(res.returns).toBeGreaterThan(0);
    for (const row of rows) {
      expect(row.id).toMatch(/^T\d{9}(-R)?$/);
      expect(row.customer).toMatch(/^C\d{7}$/);
      const n = Number(row.customer.slice(1));
      expect(n >= 1 && n <= 4000).toBe(true);
      expect(validTimestamp(row.orderedAt)).toBe(true);
      expect(row.file.split(sep).at(-2)).toBe(`dt=${row.orderedAt.slice(0, 10)}`);
      expect(['online', 'store', 'app']).toContain(row.channel);
      expect(row.currency).toBe('EUR');
      expect(typeof row.isReturn).toBe('boolean');
      expect(row.line.split(',').length).toBe(8);
      if (!row.isReturn) {
        expect(row.amountCents).toBeGreaterThanOrEqual(1);
        expect(row.quantity >= 1 && row.quantity <= 10 && Number.isInteger(row.quantity)).toBe(true);
        expect(row.id.endsWith('-R')).toBe(false);
      }
    }
    expect(rows.filter((r) => !r.isReturn).length).toBe(res.transactions);
    // Within the period.
    expect(rows.every((r) => r.orderedAt >= '2024-02-25T00:00:00' && r.orderedAt <= '2024-03-05T23:59:59')).toBe(true);
  });

  it('transaction ids never repeat (malformed lines included)', () => {
    const ids = [...parsed.rows.map((r) => r.id), ...parsed.malformedIds];
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('returns refer to an earlier order of the same customer, within 30 days, and are negative', () => {
    const orders = new Map(parsed.rows.filter((r) => !r.isReturn).map((r) => [r.id, r]));
    const rets = parsed.rows.filter((r) => r.isReturn);
    expect(rets.length).toBe(res.returns);
    for (const ret of rets) {
      expect(ret.id.endsWith('-R')).toBe(true);
      const orig = orders.get(ret.id.slice(0, -2));
      expect(orig).toBeDefined();
      if (!orig) continue;
      expect(ret.customer).toBe(orig.customer);
      expect(ret.channel).toBe(orig.channel);
      expect(ret.amountCents).toBeLessThan(0);
      expect(-ret.amountCents).toBeLessThanOrEqual(orig.amountCents);
      expect(ret.quantity).toBeLessThan(0);
      expect(-ret.quantity).toBeLessThanOrEqual(orig.quantity);
      if (-ret.quantity === orig.quantity) expect(-ret.amountCents).toBe(orig.amountCents);
      const dt = Date.parse(`${ret.orderedAt}Z`) - Date.parse(`${orig.orderedAt}Z`);
      expect(dt).toBeGreaterThanOrEqual(0);
      expect(dt).toBeLessThanOrEqual(30 * 86_400_000);
    }
  });

  it('every order placed > 30 days before the end gets a return with probability returnRate', async () => {
    // Orders early enough always have their return inside the period, so the
    // fraction with a return is a plain binomial proportion.
    const r = await run({ from: '2024-01-01', to: '2024-06-30', customers: 20_000, seed: 4, returnRate: 0.2, malformedRows: 0, singleExtractDate: '2024-07-01' });
    const { rows } = parseFiles(r.files);
    const returned = new Set(rows.filter((x) => x.isReturn).map((x) => x.id.slice(0, -2)));
    const early = rows.filter((x) => !x.isReturn && x.orderedAt < '2024-05-31');
    expect(early.length).toBeGreaterThan(20_000);
    const frac = early.filter((x) => returned.has(x.id)).length / early.length;
    expect(Math.abs(frac - 0.2)).toBeLessThan(0.012); // SE ≈ 0.0028
    // Return delays of those orders are Uniform(0, 30) days: max ≤ 30, mean 15, variance 75.
    const byId = new Map(early.map((x) => [x.id, x]));
    const delays = rows
      .filter((x) => x.isReturn && byId.has(x.id.slice(0, -2)))
      .map((x) => (Date.parse(`${x.orderedAt}Z`) - Date.parse(`${byId.get(x.id.slice(0, -2))!.orderedAt}Z`)) / 86_400_000);
    const d = Float64Array.from(delays);
    expect(maxOf(d)).toBeLessThanOrEqual(30);
    expect(minOf(d)).toBeGreaterThanOrEqual(0);
    expect(Math.abs(mean(d) - 15)).toBeLessThan(0.5); // SE ≈ 0.12
    expect(relErr(variance(d), 75)).toBeLessThan(0.06);
  });
});

describe('generateExtracts: determinism and modes', () => {
  const opts = { from: '2024-01-01', to: '2024-01-20', customers: 3000, seed: 77 } as const;

  it('same options and seed give byte-identical files; another seed differs', async () => {
    const a = await run(opts);
    const b = await run(opts);
    const c = await run({ ...opts, seed: 78 });
    const rel = (r: { dir: string; files: string[] }): string[] => r.files.map((f) => relative(r.dir, f));
    expect(rel(a)).toEqual(rel(b));
    expect(rel(a)).toEqual(rel(c));
    for (let i = 0; i < a.files.length; i++) {
      expect(readFileSync(a.files[i]!).equals(readFileSync(b.files[i]!))).toBe(true);
    }
    const same = a.files.every((f, i) => readFileSync(f).equals(readFileSync(c.files[i]!)));
    expect(same).toBe(false);
  });

  it('singleExtractDate splits the same rows into filesPerExtract files of similar size', async () => {
    const perDay = await run({ ...opts, customers: 20_000, malformedRows: 0 });
    const single = await run({ ...opts, customers: 20_000, malformedRows: 0, singleExtractDate: '2024-01-21', filesPerExtract: 4 });
    expect(single.files).toEqual(
      [0, 1, 2, 3].map((i) => join(single.dir, 'transactions', 'dt=2024-01-21', `part-0000${i}.csv`)),
    );
    expect(single.transactions).toBe(perDay.transactions);
    expect(single.returns).toBe(perDay.returns);
    const lines = (files: string[]): string[] =>
      files.flatMap((f) => {
        const ls = readText(f).split('\n');
        expect(ls[0]).toBe(CSV_HEADER);
        return ls.slice(1).filter((l) => l !== '');
      });
    const a = lines(perDay.files).sort();
    const b = lines(single.files).sort();
    expect(b.length).toBe(single.transactions + single.returns);
    expect(b).toEqual(a);
    const sizes = single.files.map((f) => statSync(f).size);
    const avg = mean(sizes);
    for (const s of sizes) expect(relErr(s, avg)).toBeLessThan(0.2);
  });

  it('long periods (more daily files than are kept open at once) lose and duplicate nothing', async () => {
    const o = { from: '2023-01-01', to: '2023-06-30', customers: 3000, seed: 5, malformedRows: 10 } as const;
    const perDay = await run(o); // 181 days → written in two passes
    const single = await run({ ...o, singleExtractDate: '2023-07-01' });
    expect(perDay.files.length).toBe(181);
    expect(new Set(perDay.files.map((f) => f.split(sep).at(-2))).size).toBe(181);
    const a = parseFiles(perDay.files);
    const b = parseFiles(single.files);
    expect(a.headerOk).toBe(true);
    expect(a.malformed).toEqual(perDay.malformed);
    expect(Object.values(a.malformed).reduce((x, y) => x + y, 0)).toBe(10);
    expect(a.rows.length).toBe(perDay.transactions + perDay.returns);
    for (const row of a.rows) expect(row.file.split(sep).at(-2)).toBe(`dt=${row.orderedAt.slice(0, 10)}`);
    // Same population; only ids can differ (malformed lines sit elsewhere and take ids).
    const key = (r: Row): string => r.line.slice(r.line.indexOf(','));
    expect(a.rows.map(key).sort()).toEqual(b.rows.map(key).sort());
  });

  it('gzip output decompresses to exactly the plain output', async () => {
    const o = { ...opts, singleExtractDate: '2024-02-01', filesPerExtract: 2 };
    const plain = await run(o);
    const gz = await run({ ...o, gzip: true });
    expect(gz.files.map((f) => f.endsWith('.csv.gz'))).toEqual([true, true]);
    for (let i = 0; i < plain.files.length; i++) {
      expect(gunzipSync(readFileSync(gz.files[i]!)).equals(readFileSync(plain.files[i]!))).toBe(true);
    }
  });

  it('malformedRows 0 writes none; returnRate does not change the orders', async () => {
    const o = { ...opts, malformedRows: 0, singleExtractDate: '2024-02-01' };
    const withReturns = await run(o);
    const noReturns = await run({ ...o, returnRate: 0 });
    const p1 = parseFiles(withReturns.files);
    const p2 = parseFiles(noReturns.files);
    expect(p1.malformed).toEqual({});
    expect(withReturns.malformed).toEqual({ bad_date: 0, non_numeric_amount: 0, missing_customer_id: 0, wrong_column_count: 0 });
    expect(noReturns.returns).toBe(0);
    expect(p1.rows.filter((r) => !r.isReturn).map((r) => r.line)).toEqual(p2.rows.map((r) => r.line));
  });

  it('regenerating into the same dir replaces the part files', async () => {
    const dir = freshDir();
    await generateExtracts({ ...opts, dir, singleExtractDate: '2024-02-01', filesPerExtract: 3 });
    const second = await generateExtracts({ ...opts, dir, singleExtractDate: '2024-02-01', filesPerExtract: 2 });
    expect(readdirSync(join(dir, 'transactions', 'dt=2024-02-01')).sort()).toEqual(['part-00000.csv', 'part-00001.csv']);
    expect(second.files.length).toBe(2);
  });

  it('reports progress and validates options', async () => {
    const seen: { stage: string; rows: number }[] = [];
    const r = await run({ ...opts, onProgress: (p) => seen.push({ stage: p.stage, rows: p.rows }) });
    expect(seen.at(-1)).toEqual({ stage: 'done', rows: r.transactions + r.returns });
    await expect(run({ ...opts, from: '2024-02-30' })).rejects.toThrow(/from/);
    await expect(run({ ...opts, from: '2024-02-01', to: '2024-01-01' })).rejects.toThrow(/before/);
    await expect(run({ ...opts, filesPerExtract: 0 })).rejects.toThrow(/filesPerExtract/);
    await expect(run({ ...opts, params: { r: -1 } })).rejects.toThrow(/params\.r/);
    await expect(run({ ...opts, returnRate: 1.5 })).rejects.toThrow(/returnRate/);
  });
});

// ---------------------------------------------------------------------------
// the model against closed forms
// ---------------------------------------------------------------------------

describe('generateExtracts: BG/NBD timing and Gamma-Gamma spend', () => {
  it('with (nearly) fixed λ and p, orders per customer match 1 + (1−p)/p·(1 − (1−e^{−λpT})/(λpT))', async () => {
    // λ ~ Gamma(5000, rate 1e5): 0.05/day ± 1.4 %; p ~ Beta(2000, 8000): 0.2 ± 2 %.
    const lambda = 0.05;
    const p = 0.2;
    const T = 366; // 2024 is a leap year
    const r = await run({
      from: '2024-01-01',
      to: '2024-12-31',
      customers: 20_000,
      seed: 12,
      malformedRows: 0,
      returnRate: 0,
      singleExtractDate: '2025-01-01',
      params: { r: 5000, alpha: 1e5, a: 2000, b: 8000 },
    });
    const c = lambda * p * T;
    const expected = 1 + ((1 - p) / p) * (1 - (1 - Math.exp(-c)) / c);
    // expected ≈ 3.94; a BG/NBD without dropout after the first purchase
    // would give ≈ 4.67, a rate/scale mix-up something absurd.
    expect(relErr(r.transactions / r.customers, expected)).toBeLessThan(0.02); // SE ≈ 0.6 %
    // Gaps between consecutive orders of a customer are Exp(λ): mean 1/λ = 20 days.
    const { rows } = parseFiles(r.files);
    const gaps: number[] = [];
    for (let i = 1; i < rows.length; i++) {
      const prev = rows[i - 1]!;
      const cur = rows[i]!;
      if (prev.customer === cur.customer && prev.file === cur.file) {
        gaps.push((Date.parse(`${cur.orderedAt}Z`) - Date.parse(`${prev.orderedAt}Z`)) / 86_400_000);
      }
    }
    expect(gaps.length).toBeGreaterThan(30_000);
    expect(gaps.every((g) => g >= 0)).toBe(true);
    // Gaps are right-censored by the period end, so compare the survival
    // function on short gaps, where censoring is negligible: P(gap > 5) = e^{-0.25}.
    const pLong = gaps.filter((g) => g > 5).length / gaps.length;
    expect(Math.abs(pLong - Math.exp(-lambda * 5))).toBeLessThan(0.02);
  });

  it('with the default parameters, orders per customer and mean spend match the closed forms', async () => {
    const r = await run({
      from: '2023-01-01',
      to: '2023-12-31',
      customers: 100_000,
      seed: 2024,
      malformedRows: 0,
      singleExtractDate: '2024-01-01',
      filesPerExtract: 2,
    });
    const { r: rr, alpha, a, b, p, q, gamma } = DEFAULT_PARAMS;
    const expectedOrders = expectedOrdersUniformBirth(365, rr, alpha, a, b); // ≈ 2.55
    expect(expectedOrders).toBeGreaterThan(2.4);
    expect(expectedOrders).toBeLessThan(2.7);
    expect(relErr(r.transactions / r.customers, expectedOrders)).toBeLessThan(0.03); // SE ≈ 0.6 %

    // Gamma-Gamma population mean order value: p·γ/(q−1) = 30.
    const { rows } = parseFiles(r.files);
    const amounts = rows.filter((x) => !x.isReturn).map((x) => x.amountCents / 100);
    expect(amounts.length).toBe(r.transactions);
    expect(relErr(mean(amounts), (p * gamma) / (q - 1))).toBeLessThan(0.03); // SE ≈ 0.5 %
    // Quantity 1 + Poisson(0.6) capped at 10: mean ≈ 1.6, variance ≈ 0.6.
    const qty = Float64Array.from(rows.filter((x) => !x.isReturn).map((x) => x.quantity));
    expect(Math.abs(mean(qty) - 1.6)).toBeLessThan(0.01);
    expect(relErr(variance(qty), 0.6)).toBeLessThan(0.03);
    // Channel shares: preferred (online 50 %, store 30 %, app 20 % of customers)
    // on 70 % of orders, else one of the other two: online 0.35 + 0.5·0.15 = 0.425,
    // store 0.21 + 0.7·0.15 = 0.315, app 0.14 + 0.8·0.15 = 0.26.
    const orders = rows.filter((x) => !x.isReturn);
    const share = (ch: string): number => orders.filter((x) => x.channel === ch).length / orders.length;
    expect(Math.abs(share('online') - 0.425)).toBeLessThan(0.015);
    expect(Math.abs(share('store') - 0.315)).toBeLessThan(0.015);
    expect(Math.abs(share('app') - 0.26)).toBeLessThan(0.015);
    // Return share ≈ returnRate (slightly less: returns after the period end are dropped).
    const returnShare = r.returns / r.transactions;
    expect(returnShare).toBeGreaterThan(0.025);
    expect(returnShare).toBeLessThan(0.031);
  });
});
