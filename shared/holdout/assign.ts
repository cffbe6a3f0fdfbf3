/**
 * Deterministic holdout assignment (e.g. 95 % treatment / 5 % control), bucketed exactly like the
 * GrowthBook SDKs so that any tool with a GrowthBook SDK (JS, Python, Go, ...) reproduces the groups.
 *
 * Algorithm (re-implemented from the description of GrowthBook's JS SDK, `hashFnv32a` and
 * `hash(seed, value, version)` in `packages/sdk-js/src/util.ts` of
 * https://github.com/growthbook/growthbook, and checked against the SDKs' shared test cases in
 * `packages/sdk-js/test/cases.json`, key `hash`):
 * - FNV-1a, 32 bit, over the UTF-16 code units of the string (JavaScript `charCodeAt`, not UTF-8
 *   bytes): start at 0x811c9dc5; for each code unit, xor it in, then multiply by 16777619 mod 2^32.
 * - version 1: `(fnv(value + seed) % 1000) / 1000` (GrowthBook's original, biased variant);
 * - version 2: `(fnv(String(fnv(seed + value))) % 10000) / 10000` (the unbiased variant, the
 *   default for new GrowthBook experiments). GrowthBook returns `null` for other versions; here the
 *   type allows only 1 and 2, and anything else throws.
 *
 * A customer is in control when its bucket falls in `[0, controlShare)`, which is how a GrowthBook
 * experiment with ranges `[[0, controlShare], [controlShare, 1]]`, seed = salt and full coverage
 * assigns variation 0. The assignment is a pure function of (salt, customer id, share, version):
 * it is sticky across runs without storing anything, and changing the salt reshuffles everyone.
 *
 * @example
 * ```ts
 * const config = { salt: 'crm-holdout-2024', controlShare: 0.05, hashVersion: 2 } as const;
 * assignGroup('C0000042', config); // 'treatment' | 'control', the same on every run
 * const flags = assignGroups(['C1', 'C2', 'C3'], config); // Uint8Array, 1 = control
 * ```
 */

/** GrowthBook hash versions: 1 = original (biased), 2 = current (unbiased). */
export type HashVersion = 1 | 2;

export type HoldoutGroup = 'treatment' | 'control';

export interface AssignmentConfig {
  /** Seed of the hash (GrowthBook's experiment `seed`); a new salt gives a new, independent split. */
  salt: string;
  /** Share of customers held out as control, in [0, 1], e.g. 0.05. */
  controlShare: number;
  hashVersion: HashVersion;
}

const FNV_OFFSET_BASIS = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;

/** Continues an FNV-1a state (a signed 32-bit integer) over the UTF-16 code units of `text`. */
function fnvUpdate(state: number, text: string): number {
  let h = state;
  for (let i = 0; i < text.length; i++) {
    h = Math.imul(h ^ text.charCodeAt(i), FNV_PRIME);
  }
  return h;
}

/**
 * 32-bit FNV-1a over the UTF-16 code units of `text`, as an unsigned integer; the same value as
 * GrowthBook's `hashFnv32a` (packages/sdk-js/src/util.ts).
 *
 * @example fnv1a32('') === 0x811c9dc5; fnv1a32('a') === 0xe40c292c
 */
export function fnv1a32(text: string): number {
  return fnvUpdate(FNV_OFFSET_BASIS, text) >>> 0;
}

/** Scratch space for the (at most 10) decimal digits of an unsigned 32-bit integer. */
const DIGITS = new Int32Array(10);

/**
 * `fnv1a32(String(n))` for an unsigned 32-bit integer `n`, without building the string (about
 * twice as fast). `n` is split into two halves below 2^31 so that the digits come from int32
 * arithmetic; the low half always gives 5 digits (leading zeros included) when the high half is not 0.
 */
function fnv1a32OfDecimal(n: number): number {
  const hi = Math.floor(n / 100000);
  let lo = n - hi * 100000;
  let len = 0;
  if (hi !== 0) {
    for (let k = 0; k < 5; k++) {
      const q = (lo / 10) | 0;
      DIGITS[len++] = lo - q * 10;
      lo = q;
    }
    lo = hi;
  }
  do {
    const q = (lo / 10) | 0;
    DIGITS[len++] = lo - q * 10;
    lo = q;
  } while (lo > 0);
  let h = FNV_OFFSET_BASIS;
  while (len > 0) h = Math.imul(h ^ (48 + (DIGITS[--len] as number)), FNV_PRIME); // '0' = 48
  return h >>> 0;
}

function unknownVersion(version: unknown): never {
  throw new RangeError(`Unknown GrowthBook hash version: ${String(version)} (expected 1 or 2)`);
}

/**
 * GrowthBook's bucketing hash of `value` under `seed`, in [0, 1): 3 decimals for version 1,
 * 4 decimals for version 2. Same results as `hash(seed, value, version)` in GrowthBook's JS SDK
 * (packages/sdk-js/src/util.ts), except that an unknown version throws a RangeError instead of
 * returning null.
 *
 * @example hash('seed', 'a', 2) === 0.0505; hash('', 'a', 1) === 0.22
 */
export function hash(seed: string, value: string, version: HashVersion): number {
  if (version === 2) return (fnv1a32(String(fnv1a32(seed + value))) % 10000) / 10000;
  if (version === 1) return (fnv1a32(value + seed) % 1000) / 1000;
  return unknownVersion(version);
}

function checkConfig(config: AssignmentConfig): void {
  if (typeof config.salt !== 'string') throw new TypeError('AssignmentConfig.salt must be a string');
  const share = config.controlShare;
  if (typeof share !== 'number' || !Number.isFinite(share) || share < 0 || share > 1) {
    throw new RangeError(`AssignmentConfig.controlShare must be a number in [0, 1], got ${String(share)}`);
  }
  if (config.hashVersion !== 1 && config.hashVersion !== 2) unknownVersion(config.hashVersion);
}

/**
 * The holdout group of one customer: control when `hash(salt, customerId, hashVersion) < controlShare`.
 * Pure: the same inputs give the same group on every call, process and machine.
 *
 * @example assignGroup('C0000042', { salt: 'crm-holdout-2024', controlShare: 0.05, hashVersion: 2 })
 */
export function assignGroup(customerId: string, config: AssignmentConfig): HoldoutGroup {
  checkConfig(config);
  return hash(config.salt, customerId, config.hashVersion) < config.controlShare ? 'control' : 'treatment';
}

/**
 * Smallest integer bucket k in [0, scale] with k / scale >= share, so that for integer buckets
 * `n / scale < share` exactly when `n < k` (the same floating-point comparison as `assignGroup`).
 */
function integerThreshold(share: number, scale: number): number {
  let k = 0;
  while (k < scale && k / scale < share) k++;
  return k;
}

/**
 * {@link assignGroup} for many customers at once: element i is 1 when `customerIds[i]` is in
 * control, 0 in treatment. Same result as calling `assignGroup` on each id, but faster: the salt's
 * hash state is computed once (version 2), the second hash reads the decimal digits without
 * building a string, and the share is compared as an integer bucket threshold.
 *
 * @example
 * ```ts
 * const control = assignGroups(ids, { salt: 'crm-holdout-2024', controlShare: 0.05, hashVersion: 2 });
 * const controlIds = ids.filter((_, i) => control[i] === 1);
 * ```
 */
export function assignGroups(customerIds: readonly string[], config: AssignmentConfig): Uint8Array {
  checkConfig(config);
  const out = new Uint8Array(customerIds.length);
  let i = 0;
  if (config.hashVersion === 2) {
    const threshold = integerThreshold(config.controlShare, 10000);
    const seeded = fnvUpdate(FNV_OFFSET_BASIS, config.salt);
    for (const id of customerIds) {
      const bucket = fnv1a32OfDecimal(fnvUpdate(seeded, id) >>> 0) % 10000;
      out[i++] = bucket < threshold ? 1 : 0;
    }
  } else {
    const threshold = integerThreshold(config.controlShare, 1000);
    const salt = config.salt;
    for (const id of customerIds) {
      const bucket = (fnvUpdate(fnvUpdate(FNV_OFFSET_BASIS, id), salt) >>> 0) % 1000;
      out[i++] = bucket < threshold ? 1 : 0;
    }
  }
  return out;
}
