/**
 * Deterministic, seeded generator of synthetic CRM transaction extracts.
 *
 * Purchase timing follows the BG/NBD story (Fader, Hardie & Lee 2005) in the
 * variant where a customer may also drop out right after the first purchase
 * (the "MBG/NBD" variant of Batislam et al. 2007); order values follow the
 * Gamma-Gamma spend model (Fader, Hardie & Lee 2005b / Colombo & Jiang 1999).
 *
 * Per customer:
 * - first purchase ("birth") uniformly in `[from 00:00, to 24:00)` UTC;
 * - transaction rate `λ ~ Gamma(shape r, rate alpha)` (per day), dropout
 *   probability `p ~ Beta(a, b)`;
 * - after every purchase (the first one included) the customer becomes
 *   inactive with probability `p`; while active, the next purchase follows
 *   after an `Exponential(λ)` gap; anything at or after the end of `to` is cut;
 * - spend: `ν ~ Gamma(shape q, rate gamma)` per customer, every order value
 *   `z ~ Gamma(shape p, rate ν)`, rounded to cents (minimum 0.01), so the
 *   population mean order value is `p·gamma/(q−1)` (30 EUR with the defaults);
 * - quantity `1 + Poisson(0.6)` capped at 10; channel: the customer's preferred
 *   channel (online 50 % / store 30 % / app 20 % of customers) on 70 % of the
 *   orders, otherwise one of the two others; currency `EUR`;
 * - with probability `returnRate` an order gets a return 0–30 days later
 *   (dropped if that falls after `to`): id `<order id>-R`, same customer,
 *   `k ~ Uniform{1..quantity}` items returned, **quantity = −k** (negative),
 *   amount = −(order amount · k / quantity) rounded to cents (the full amount
 *   when `k = quantity`, at least 0.01), `is_return = true`.
 *
 * Output: `<dir>/transactions/dt=YYYY-MM-DD/part-NNNNN.csv[.gz]` with header
 * `transaction_id,customer_id,ordered_at,amount,quantity,channel,currency,is_return`.
 * Without `singleExtractDate` there is one extract (one file `part-00000`) per
 * day of `[from, to]` — also for days without rows (header only) — holding the
 * rows whose `ordered_at` falls on that day. With `singleExtractDate` all rows
 * go to that one partition, split over `filesPerExtract` files; customers are
 * dealt round-robin to files, so files are of roughly equal size and all rows
 * of a customer (including returns) are in the same file. Within a file, rows
 * are in generation order (customer by customer, each customer's orders in
 * time order, a return right after its order) — i.e. not sorted by time.
 * At most 128 daily files are open at once; longer periods are written in
 * several passes, each re-simulating the whole population (same seed) and
 * keeping only the rows of its days. Rows are formatted straight into 64 KB–2 MB
 * byte chunks handed to `fs` write streams (or gzip streams), with backpressure.
 *
 * Malformed lines (`malformedRows`, default 25) are *extra* lines, inserted at
 * pseudo-random positions of pseudo-random files, cycling through the kinds
 * `bad_date` (`ordered_at` = `2024-13-45T…`), `non_numeric_amount`
 * (`"12,3x"` quoted, or `abc`), `missing_customer_id` (empty field) and
 * `wrong_column_count` (the channel field dropped: 7 fields). They consume
 * transaction ids from the same counter, so ids stay unique over all lines.
 * Malformed lines are drawn from their own random stream: changing
 * `malformedRows` does not change any valid value except transaction ids.
 *
 * Same options (minus `onProgress`) ⇒ byte-identical files. Existing
 * `part-*.csv` / `part-*.csv.gz` files in the partitions being written are
 * removed first; other partitions under `<dir>/transactions` are left alone.
 *
 * @module
 */
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { createGzip, type ZlibOptions } from 'node:zlib';

// ---------------------------------------------------------------------------
// Random numbers
// ---------------------------------------------------------------------------

/** A seedable pseudo-random number generator (sfc32 seeded through splitmix32). */
export interface Rng {
  /** Uniform 32-bit unsigned integer. */
  uint32(): number;
  /** Uniform in `[0, 1)` (32-bit resolution). */
  uniform(): number;
  /** Standard normal (Box–Muller, the spare value is cached). */
  normal(): number;
  /** Exponential with the given rate (mean `1/rate`); `Infinity` when rate is 0. */
  exponential(rate: number): number;
  /** Gamma with shape `k > 0` and *rate* `rate` (mean `k/rate`, variance `k/rate²`). */
  gamma(shape: number, rate: number): number;
  /** Beta(a, b) as `X/(X+Y)` with `X ~ Gamma(a)`, `Y ~ Gamma(b)`. */
  beta(a: number, b: number): number;
  /** Poisson with the given (small) mean, by Knuth's multiplication method. */
  poisson(mean: number): number;
}

const TWO_POW_32 = 4294967296;

/**
 * Creates a fast, seedable PRNG: sfc32 whose 128-bit state is filled by
 * splitmix32 from the seed. Any finite number is a valid seed (the integer
 * part is used, high and low 32-bit halves both matter).
 *
 * Samplers: Gamma by Marsaglia–Tsang (2000) with the `U^(1/k)` boost for
 * `k < 1`; Beta from two Gammas; Exponential by inversion; Poisson by Knuth.
 *
 * @example
 * const rng = createRng(42);
 * const lambda = rng.gamma(0.25, 10); // mean 0.025
 * const p = rng.beta(0.8, 2.5);       // mean 0.242…
 */
export function createRng(seed: number): Rng {
  const s = Number.isFinite(seed) ? Math.trunc(seed) : 0;
  const lo = s >>> 0;
  const hi = Math.floor(s / TWO_POW_32) >>> 0;
  let sm = (lo ^ Math.imul(hi, 0x27d4eb2d)) | 0;
  const splitmix32 = (): number => {
    sm = (sm + 0x9e3779b9) | 0;
    let z = sm;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) | 0;
  };
  let a = splitmix32();
  let b = splitmix32();
  let c = splitmix32();
  let d = splitmix32();

  const uint32 = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 16; i++) uint32();

  const uniform = (): number => uint32() / TWO_POW_32;

  let spare = 0;
  let hasSpare = false;
  const normal = (): number => {
    if (hasSpare) {
      hasSpare = false;
      return spare;
    }
    const u1 = 1 - uniform(); // (0, 1]
    const u2 = uniform();
    const rad = Math.sqrt(-2 * Math.log(u1));
    const th = 2 * Math.PI * u2;
    spare = rad * Math.sin(th);
    hasSpare = true;
    return rad * Math.cos(th);
  };

  const exponential = (rate: number): number => -Math.log(1 - uniform()) / rate;

  // Marsaglia & Tsang, "A simple method for generating gamma variables" (2000).
  const gammaUnit = (k: number): number => {
    if (k < 1) {
      // Gamma(k) = Gamma(k + 1) · U^(1/k)
      const g = gammaUnit(k + 1);
      return g * Math.pow(uniform(), 1 / k);
    }
    const dd = k - 1 / 3;
    const cc = 1 / Math.sqrt(9 * dd);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = normal();
        v = 1 + cc * x;
      } while (v <= 0);
      v = v * v * v;
      const u = uniform();
      const x2 = x * x;
      if (u < 1 - 0.0331 * x2 * x2) return dd * v;
      if (Math.log(u) < 0.5 * x2 + dd * (1 - v + Math.log(v))) return dd * v;
    }
  };

  const gamma = (shape: number, rate: number): number => gammaUnit(shape) / rate;

  const beta = (alpha: number, bb: number): number => {
    const x = gammaUnit(alpha);
    const y = gammaUnit(bb);
    const sum = x + y;
    // Both can underflow to 0 for tiny shapes: fall back to the Bernoulli limit.
    if (sum > 0) return x / sum;
    return uniform() < alpha / (alpha + bb) ? 1 : 0;
  };

  const poisson = (mean: number): number => {
    const limit = Math.exp(-mean);
    let k = 0;
    let prod = uniform();
    while (prod > limit) {
      k++;
      prod *= uniform();
    }
    return k;
  };

  return { uint32, uniform, normal, exponential, gamma, beta, poisson };
}

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

/** Model parameters; see {@link DEFAULT_PARAMS}. */
export interface ModelParams {
  /** Gamma shape of the transaction rate λ. */
  r: number;
  /** Gamma rate of λ, in days (mean λ = r/alpha per day). */
  alpha: number;
  /** Beta `a` of the dropout probability. */
  a: number;
  /** Beta `b` of the dropout probability. */
  b: number;
  /** Gamma shape of an order value (the Gamma-Gamma `p`). */
  p: number;
  /** Gamma shape of the per-customer spend rate ν. */
  q: number;
  /** Gamma rate of ν (the Gamma-Gamma `γ`). */
  gamma: number;
}

/**
 * Default model parameters.
 *
 * - `r = 0.25`, `alpha = 10` (days): mean λ = 0.025 purchases/day, i.e. ~9
 *   a year for a customer who stays active, strongly heterogeneous (shape < 1);
 * - `a = 0.8`, `b = 2.5`: mean dropout probability ≈ 0.24 per purchase;
 * - `p = 6`, `q = 4`, `gamma = 15`: mean order value `p·gamma/(q−1)` = 30 EUR.
 *
 * Expected purchases per customer (first one included, closed form, see the
 * tests): a customer observed for a full year makes ≈ 3.5 purchases (≈ 4.7 in
 * two years). As generated, with first purchases spread uniformly over the
 * window, the average is ≈ 2.55 orders per customer for a one-year window,
 * ≈ 3.34 for two years and ≈ 1.2 for 30 days — so 1M customers over two years
 * give ≈ 3.45M rows (returns included) and ≈ 2.9M customers give ≈ 10M rows.
 */
export const DEFAULT_PARAMS: Readonly<ModelParams> = Object.freeze({
  r: 0.25,
  alpha: 10,
  a: 0.8,
  b: 2.5,
  p: 6,
  q: 4,
  gamma: 15,
});

/** Options of {@link generateExtracts}. */
export interface GenerateOptions {
  /** Output root; files go to `<dir>/transactions/dt=YYYY-MM-DD/`. */
  dir: string;
  /** First day of the simulated period, `YYYY-MM-DD` (inclusive). */
  from: string;
  /** Last day of the simulated period, `YYYY-MM-DD` (inclusive, up to 24:00 UTC). */
  to: string;
  /** Number of customers (default 300 000). */
  customers?: number;
  /** PRNG seed (default 42). */
  seed?: number;
  /** Number of extra malformed lines (default 25; 0 allowed). */
  malformedRows?: number;
  /** Probability that an order gets a return (default 0.03). */
  returnRate?: number;
  /** Write `.csv.gz` instead of `.csv` (default false). */
  gzip?: boolean;
  /** Put all rows into the one partition `dt=<singleExtractDate>`. */
  singleExtractDate?: string;
  /** Files per extract with `singleExtractDate` (default 1; ignored otherwise). */
  filesPerExtract?: number;
  /** Model parameters overriding {@link DEFAULT_PARAMS}; `p` is the Gamma-Gamma spend shape. */
  params?: Partial<{ r: number; alpha: number; a: number; b: number; p: number; q: number; gamma: number }>;
  /** Called roughly every million rows (stage `generate`) and once at the end (stage `done`). */
  onProgress?: (p: { stage: string; rows: number; elapsedMs: number }) => void;
}

/** What {@link generateExtracts} wrote. */
export interface GenerateResult {
  /** Paths of all files written (`path.join(dir, …)`), sorted. */
  files: string[];
  /** Number of valid order rows (returns and malformed lines excluded). */
  transactions: number;
  /** Number of valid return rows. */
  returns: number;
  /** Number of customers simulated. */
  customers: number;
  /** Number of malformed lines per kind (`bad_date`, `non_numeric_amount`, `missing_customer_id`, `wrong_column_count`). */
  malformed: Record<string, number>;
}

/** CSV header line (without the newline). */
export const CSV_HEADER = 'transaction_id,customer_id,ordered_at,amount,quantity,channel,currency,is_return';

/** Kinds of malformed lines, in the order they are cycled through. */
export const MALFORMED_KINDS = ['bad_date', 'non_numeric_amount', 'missing_customer_id', 'wrong_column_count'] as const;

const CHANNELS = ['online', 'store', 'app'] as const;
const CHANNEL_BYTES: Uint8Array[] = CHANNELS.map((c) => Buffer.from(c, 'latin1'));
const QUANTITY_EXTRA_MEAN = 0.6;
const PREFERRED_CHANNEL_SHARE = 0.7;
const RETURN_WINDOW_DAYS = 30;
/** Max simultaneously open daily files; more days are written in several passes. */
const MAX_OPEN_DAY_FILES = 128;
const PROGRESS_EVERY = 1_000_000;
const DAY_MS = 86_400_000;

function parseDay(s: string, name: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) throw new Error(`${name} must be a date YYYY-MM-DD, got ${JSON.stringify(s)}`);
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  if (!Number.isFinite(ms) || new Date(ms).toISOString().slice(0, 10) !== s) {
    throw new Error(`${name} is not a valid calendar date: ${s}`);
  }
  return ms / DAY_MS;
}

function dayString(epochDay: number): string {
  return new Date(epochDay * DAY_MS).toISOString().slice(0, 10);
}

let timeTable: string[] | undefined;
/** `HH:MM:SS` for every second of the day. */
function times(): string[] {
  if (timeTable) return timeTable;
  const two: string[] = [];
  for (let i = 0; i < 60; i++) two.push(i < 10 ? `0${i}` : `${i}`);
  const t: string[] = new Array<string>(86400);
  let i = 0;
  for (let h = 0; h < 24; h++) {
    for (let m = 0; m < 60; m++) {
      for (let s = 0; s < 60; s++) t[i++] = `${two[h]}:${two[m]}:${two[s]}`;
    }
  }
  timeTable = t;
  return t;
}

const CENTS: string[] = Array.from({ length: 100 }, (_, i) => (i < 10 ? `0${i}` : `${i}`));

function formatCents(cents: number): string {
  // cents is a positive integer
  return `${Math.floor(cents / 100)}.${CENTS[cents % 100]}`;
}

function padId(prefix: string, n: number, width: number): string {
  const s = String(n);
  return s.length >= width ? prefix + s : prefix + '0'.repeat(width - s.length) + s;
}

function transactionId(n: number): string {
  return n < 1e9 ? 'T' + String(1e9 + n).slice(1) : 'T' + String(n);
}

function customerId(n: number): string {
  return n < 1e7 ? 'C' + String(1e7 + n).slice(1) : 'C' + String(n);
}

function positive(v: number, name: string): number {
  if (!(Number.isFinite(v) && v > 0)) throw new Error(`${name} must be a positive finite number, got ${v}`);
  return v;
}

function nonNegativeInt(v: number, name: string): number {
  if (!(Number.isSafeInteger(v) && v >= 0)) throw new Error(`${name} must be a non-negative integer, got ${v}`);
  return v;
}

// ---------------------------------------------------------------------------
// Output sinks
// ---------------------------------------------------------------------------

interface Sink {
  path: string;
  stream: Writable;
  done: Promise<void>;
  /** Current chunk being filled; handed to the stream when full, then replaced. */
  buf: Buffer;
  pos: number;
}

/** Room after `chunkSize` for the last row(s) written before a flush check. */
const CHUNK_SLACK = 4096;

async function openSink(path: string, gzip: boolean, chunkSize: number): Promise<Sink> {
  const highWaterMark = chunkSize * 2;
  const file = createWriteStream(path, { highWaterMark });
  let stream: Writable;
  let done: Promise<void>;
  if (gzip) {
    // zlib streams forward stream options (highWaterMark) to their Transform base.
    const gzOptions: ZlibOptions & { highWaterMark: number } = { highWaterMark };
    const gz = createGzip(gzOptions);
    done = pipeline(gz, file);
    stream = gz;
  } else {
    done = finished(file);
    stream = file;
  }
  done.catch(() => {}); // observed later; avoid an unhandled rejection meanwhile
  const buf = Buffer.allocUnsafe(chunkSize + CHUNK_SLACK);
  const pos = buf.write(CSV_HEADER + '\n', 0, 'latin1');
  return { path, stream, done, buf, pos };
}

/** Hands the filled part of the chunk to the stream; returns false on backpressure. */
function flushSink(s: Sink): boolean {
  if (s.pos === 0) return true;
  const ok = s.stream.write(s.buf.subarray(0, s.pos));
  s.buf = Buffer.allocUnsafe(s.buf.length);
  s.pos = 0;
  return ok;
}

async function waitDrain(s: Sink): Promise<void> {
  if (s.stream.destroyed) {
    await s.done;
    throw new Error(`stream for ${s.path} was destroyed`);
  }
  if (!s.stream.writableNeedDrain) return;
  await Promise.race([once(s.stream, 'drain'), s.done]);
}

async function closeSink(s: Sink): Promise<void> {
  flushSink(s);
  s.stream.end();
  await s.done;
}

// ----- byte-level row formatting (no per-row strings) -----

/** Writes `n` (a non-negative integer) in decimal, left-padded with zeros to `width`. */
function putPadded(buf: Buffer, p: number, n: number, width: number): number {
  let len = 1;
  for (let x = n; x >= 10; x = Math.floor(x / 10)) len++;
  for (let i = len; i < width; i++) buf[p++] = 48;
  const end = p + len;
  let x = n;
  for (let i = end - 1; i >= p; i--) {
    const d = x % 10;
    buf[i] = 48 + d;
    x = (x - d) / 10;
  }
  return end;
}

function putTwo(buf: Buffer, p: number, n: number): number {
  const tens = (n / 10) | 0;
  buf[p] = 48 + tens;
  buf[p + 1] = 48 + n - tens * 10;
  return p + 2;
}

function putBytes(buf: Buffer, p: number, bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) buf[p++] = bytes[i]!;
  return p;
}

const TAIL_ORDER = Buffer.from(',EUR,false\n', 'latin1');
const TAIL_RETURN = Buffer.from(',EUR,true\n', 'latin1');

/**
 * Appends one CSV row. `cents` and `quantity` are written as given, except
 * that a return gets `-` before the amount (cents stays positive here).
 */
function putRow(
  s: Sink,
  txn: number,
  isReturn: boolean,
  cust: number,
  date: Uint8Array,
  secs: number,
  cents: number,
  quantity: number,
  channel: Uint8Array,
): void {
  const buf = s.buf;
  let p = s.pos;
  buf[p++] = 84; // T
  p = putPadded(buf, p, txn, 9);
  if (isReturn) {
    buf[p++] = 45; // -
    buf[p++] = 82; // R
  }
  buf[p++] = 44; // ,
  buf[p++] = 67; // C
  p = putPadded(buf, p, cust, 7);
  buf[p++] = 44;
  p = putBytes(buf, p, date);
  buf[p++] = 84; // T
  const h = (secs / 3600) | 0;
  const rem = secs - h * 3600;
  const m = (rem / 60) | 0;
  p = putTwo(buf, p, h);
  buf[p++] = 58; // :
  p = putTwo(buf, p, m);
  buf[p++] = 58;
  p = putTwo(buf, p, rem - m * 60);
  buf[p++] = 44;
  if (isReturn) buf[p++] = 45;
  const whole = Math.floor(cents / 100);
  p = putPadded(buf, p, whole, 1);
  buf[p++] = 46; // .
  p = putTwo(buf, p, cents - whole * 100);
  buf[p++] = 44;
  if (quantity < 0) {
    buf[p++] = 45;
    quantity = -quantity;
  }
  p = putPadded(buf, p, quantity, 1);
  buf[p++] = 44;
  p = putBytes(buf, p, channel);
  s.pos = putBytes(buf, p, isReturn ? TAIL_RETURN : TAIL_ORDER);
}

async function prepareDir(partDir: string): Promise<void> {
  await mkdir(partDir, { recursive: true });
  const existing = await readdir(partDir);
  await Promise.all(
    existing
      .filter((f) => /^part-\d+\.csv(\.gz)?$/.test(f))
      .map((f) => rm(join(partDir, f), { force: true })),
  );
}

// ---------------------------------------------------------------------------
// Generator
// ---------------------------------------------------------------------------

interface MalformedSpec {
  /** Emitted just before this customer index (== customers: after the last). */
  pos: number;
  /** Global file index (day index or part index). */
  file: number;
  /** Builds the whole line (newline included) from its transaction id. */
  build: (id: string) => string;
}

/**
 * Generates synthetic CRM transaction extracts (see the module documentation
 * for the model and file layout).
 *
 * @example
 * ```ts
 * import { generateExtracts } from './shared/demo/generate.js';
 *
 * // Demo: 300k customers, one extract per day for 30 days.
 * const res = await generateExtracts({ dir: '.demo', from: '2024-01-01', to: '2024-01-30' });
 * console.log(res.transactions, res.returns, res.files.length); // 30 files
 *
 * // Benchmark: one extract split into 8 files for parallel reading.
 * await generateExtracts({
 *   // ≈ 3.45 rows per customer over two years with the default parameters → ≈ 10M rows
 *   dir: 'bench/.data', from: '2023-01-01', to: '2024-12-31', customers: 2_900_000,
 *   singleExtractDate: '2025-01-01', filesPerExtract: 8, malformedRows: 0,
 *   onProgress: (p) => console.log(p.stage, p.rows, p.elapsedMs),
 * });
 * ```
 */
export async function generateExtracts(opts: GenerateOptions): Promise<GenerateResult> {
  const t0 = performance.now();
  const fromDay = parseDay(opts.from, 'from');
  const toDay = parseDay(opts.to, 'to');
  if (toDay < fromDay) throw new Error(`to (${opts.to}) is before from (${opts.from})`);
  const nDays = toDay - fromDay + 1;
  const customers = nonNegativeInt(opts.customers ?? 300_000, 'customers');
  const seed = opts.seed ?? 42;
  if (!Number.isFinite(seed)) throw new Error(`seed must be a finite number, got ${seed}`);
  const malformedRows = nonNegativeInt(opts.malformedRows ?? 25, 'malformedRows');
  const returnRate = opts.returnRate ?? 0.03;
  if (!(returnRate >= 0 && returnRate <= 1)) throw new Error(`returnRate must be in [0, 1], got ${returnRate}`);
  const gzip = opts.gzip ?? false;
  const single = opts.singleExtractDate;
  if (single !== undefined) parseDay(single, 'singleExtractDate');
  const filesPerExtract = opts.filesPerExtract ?? 1;
  if (!(Number.isSafeInteger(filesPerExtract) && filesPerExtract >= 1)) {
    throw new Error(`filesPerExtract must be a positive integer, got ${filesPerExtract}`);
  }
  const prm: ModelParams = { ...DEFAULT_PARAMS };
  for (const [k, v] of Object.entries(opts.params ?? {})) {
    if (v === undefined) continue;
    if (!(k in DEFAULT_PARAMS)) throw new Error(`unknown model parameter ${k}`);
    prm[k as keyof ModelParams] = positive(v, `params.${k}`);
  }
  const onProgress = opts.onProgress;
  const ext = gzip ? '.csv.gz' : '.csv';
  const root = join(opts.dir, 'transactions');

  const dates: string[] = [];
  for (let i = 0; i < nDays; i++) dates.push(dayString(fromDay + i));
  const TIMES = times();
  const dateBytes: Uint8Array[] = dates.map((d) => Buffer.from(d, 'latin1'));
  const T = nDays; // simulation horizon in days since `from` 00:00 UTC

  // Global file list: per-day mode → one file per day; single mode → parts.
  const nFiles = single === undefined ? nDays : filesPerExtract;
  const filePath = (f: number): string =>
    single === undefined
      ? join(root, `dt=${dates[f]}`, `part-00000${ext}`)
      : join(root, `dt=${single}`, `${padId('part-', f, 5)}${ext}`);
  const partitionDirs = single === undefined ? dates.map((d) => join(root, `dt=${d}`)) : [join(root, `dt=${single}`)];
  for (const d of partitionDirs) await prepareDir(d);

  // ----- malformed lines (own random stream) -----
  const malformed: Record<string, number> = Object.fromEntries(MALFORMED_KINDS.map((k) => [k, 0]));
  const specs: MalformedSpec[] = [];
  {
    const mrng = createRng(seed + 0x6d616c66); // independent stream ("malf")
    for (let k = 0; k < malformedRows; k++) {
      const kind = MALFORMED_KINDS[k % MALFORMED_KINDS.length]!;
      malformed[kind] = (malformed[kind] ?? 0) + 1;
      const pos = Math.floor(mrng.uniform() * (customers + 1));
      const file = Math.floor(mrng.uniform() * nFiles);
      const day = single === undefined ? file : Math.floor(mrng.uniform() * nDays);
      const cust = customerId(1 + Math.floor(mrng.uniform() * Math.max(1, customers)));
      const ts = `${dates[day]}T${TIMES[Math.floor(mrng.uniform() * 86400)]}`;
      const amount = formatCents(1 + Math.floor(mrng.uniform() * 10000));
      const qty = 1 + Math.floor(mrng.uniform() * 3);
      const ch = CHANNELS[Math.floor(mrng.uniform() * 3)]!;
      const variant = mrng.uniform() < 0.5;
      let build: (id: string) => string;
      switch (kind) {
        case 'bad_date':
          build = (id) => `${id},${cust},2024-13-45T${ts.slice(11)},${amount},${qty},${ch},EUR,false\n`;
          break;
        case 'non_numeric_amount':
          build = (id) => `${id},${cust},${ts},${variant ? '"12,3x"' : 'abc'},${qty},${ch},EUR,false\n`;
          break;
        case 'missing_customer_id':
          build = (id) => `${id},,${ts},${amount},${qty},${ch},EUR,false\n`;
          break;
        default:
          build = (id) => `${id},${cust},${ts},${amount},${qty},EUR,false\n`;
      }
      specs.push({ pos, file, build });
    }
    specs.sort((x, y) => x.pos - y.pos); // stable: ties keep creation order
  }

  // ----- passes over the customer population -----
  const passSize = single === undefined ? MAX_OPEN_DAY_FILES : nFiles;
  const nPasses = single === undefined ? Math.ceil(nDays / passSize) : 1;
  const { r, alpha, a, b, p: pSpend, q, gamma: gammaRate } = prm;
  const qtyLimit = Math.exp(-QUANTITY_EXTRA_MEAN);

  let transactions = 0;
  let returns = 0;
  let written = 0; // valid rows written so far, over all passes
  let nextProgress = PROGRESS_EVERY;
  const files: string[] = [];

  for (let pass = 0; pass < nPasses; pass++) {
    const lo = pass * passSize; // first global file index of this pass
    const hi = Math.min(nFiles, lo + passSize);
    const nSinks = hi - lo;
    const chunkSize = Math.max(64 * 1024, Math.min(2 * 1024 * 1024, Math.floor((32 * 1024 * 1024) / nSinks)));
    const sinks: Sink[] = [];
    for (let f = lo; f < hi; f++) {
      const path = filePath(f);
      files.push(path);
      sinks.push(await openSink(path, gzip, chunkSize));
    }
    const blocked: Sink[] = [];
    const afterWrite = (sink: Sink): void => {
      if (sink.pos >= chunkSize && !flushSink(sink)) blocked.push(sink);
    };
    /** Sink of global file index f in this pass, or undefined. */
    const sinkOf = (f: number): Sink | undefined => (f >= lo && f < hi ? sinks[f - lo] : undefined);

    const rng = createRng(seed);
    let counter = 0;
    let mi = 0;
    let passTransactions = 0;
    let passReturns = 0;

    const emitMalformedUpTo = (c: number): void => {
      for (;;) {
        const spec = specs[mi];
        if (spec === undefined || spec.pos !== c) return;
        mi++;
        const id = transactionId(++counter);
        const sink = sinkOf(spec.file);
        if (sink) {
          sink.pos += sink.buf.write(spec.build(id), sink.pos, 'latin1');
          afterWrite(sink);
        }
      }
    };

    for (let c = 0; c < customers; c++) {
      emitMalformedUpTo(c);
      const cust = c + 1;
      const lambda = rng.gamma(r, alpha);
      const pDrop = rng.beta(a, b);
      const nu = rng.gamma(q, gammaRate);
      const uPref = rng.uniform();
      const pref = uPref < 0.5 ? 0 : uPref < 0.8 ? 1 : 2;
      const singleSink = single === undefined ? undefined : sinkOf(c % nFiles);
      let t = rng.uniform() * T;
      for (;;) {
        // --- one order at time t (days since `from`) ---
        const txn = ++counter;
        passTransactions++;
        let cents = Math.round(rng.gamma(pSpend, nu) * 100);
        if (!(cents >= 1)) cents = 1; // also guards NaN
        let qty = 1;
        for (let prod = rng.uniform(); prod > qtyLimit; prod *= rng.uniform()) qty++;
        if (qty > 10) qty = 10;
        const uCh = rng.uniform();
        const ch = uCh < PREFERRED_CHANNEL_SHARE ? pref : (pref + 1 + Math.floor(((uCh - PREFERRED_CHANNEL_SHARE) / (1 - PREFERRED_CHANNEL_SHARE)) * 2)) % 3;
        const chBytes = CHANNEL_BYTES[ch]!;
        // Return draws are always made, so returnRate does not shift other values.
        const uRet = rng.uniform();
        const uRetDelay = rng.uniform();
        const uRetQty = rng.uniform();

        const day = Math.floor(t);
        const secs = Math.min(86399, Math.floor((t - day) * 86400));
        const orderSink = singleSink ?? sinkOf(day);
        if (orderSink) {
          written++;
          putRow(orderSink, txn, false, cust, dateBytes[day]!, secs, cents, qty, chBytes);
          afterWrite(orderSink);
        }
        if (uRet < returnRate) {
          const tr = t + uRetDelay * RETURN_WINDOW_DAYS;
          if (tr < T) {
            passReturns++;
            const k = 1 + Math.floor(uRetQty * qty);
            const rc = k === qty ? cents : Math.max(1, Math.round((cents * k) / qty));
            const rday = Math.floor(tr);
            const rsecs = Math.min(86399, Math.floor((tr - rday) * 86400));
            const retSink = singleSink ?? sinkOf(rday);
            if (retSink) {
              written++;
              putRow(retSink, txn, true, cust, dateBytes[rday]!, rsecs, rc, -k, chBytes);
              afterWrite(retSink);
            }
          }
        }
        // --- dropout, then the next purchase ---
        if (rng.uniform() < pDrop) break;
        t += rng.exponential(lambda);
        if (!(t < T)) break;
      }
      if (blocked.length > 0) {
        for (const s of blocked) await waitDrain(s);
        blocked.length = 0;
      }
      if (onProgress && written >= nextProgress) {
        nextProgress = (Math.floor(written / PROGRESS_EVERY) + 1) * PROGRESS_EVERY;
        onProgress({ stage: 'generate', rows: written, elapsedMs: performance.now() - t0 });
      }
    }
    emitMalformedUpTo(customers);
    await Promise.all(sinks.map(closeSink));
    // Every pass simulates the whole population, so the counts are the same in each.
    transactions = passTransactions;
    returns = passReturns;
  }

  onProgress?.({ stage: 'done', rows: written, elapsedMs: performance.now() - t0 });
  files.sort();
  return { files, transactions, returns, customers, malformed };
}
