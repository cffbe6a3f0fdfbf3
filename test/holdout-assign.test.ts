/**
 * Holdout assignment (shared/holdout/assign.ts): GrowthBook-compatible hashing, stickiness, the
 * 95/5 split on 1M synthetic ids, reshuffling by salt, and the vectorised path against the scalar one.
 *
 * The hash cases in fixtures/growthbook/hash-cases.json are copied (data only) from the GrowthBook
 * SDKs' shared test cases: repository github.com/growthbook/growthbook, file
 * packages/sdk-js/test/cases.json (key "hash", specVersion 0.5.4, commit
 * 021bf498f75c8491c156184ca1b3a1fbafa1d64e). Each entry is [seed, value, version, expected].
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  assignGroup,
  assignGroups,
  fnv1a32,
  hash,
  type AssignmentConfig,
  type HashVersion,
} from '../shared/holdout/assign.js';

type HashCase = [seed: string, value: string, version: number, expected: number | null];

function loadCases(): HashCase[] {
  const raw: unknown = JSON.parse(readFileSync(new URL('./fixtures/growthbook/hash-cases.json', import.meta.url), 'utf8'));
  const cases = (raw as { hash?: unknown }).hash;
  if (!Array.isArray(cases)) throw new Error('hash-cases.json: missing "hash" array');
  for (const c of cases) {
    const ok =
      Array.isArray(c) &&
      c.length === 4 &&
      typeof c[0] === 'string' &&
      typeof c[1] === 'string' &&
      typeof c[2] === 'number' &&
      (typeof c[3] === 'number' || c[3] === null);
    if (!ok) throw new Error(`hash-cases.json: bad case ${JSON.stringify(c)}`);
  }
  return cases as HashCase[];
}

const CASES = loadCases();
const KNOWN = CASES.filter((c): c is [string, string, HashVersion, number] => (c[2] === 1 || c[2] === 2) && c[3] !== null);
const UNKNOWN = CASES.filter((c) => c[2] !== 1 && c[2] !== 2);

/** "C0000001" .. "C1000000" (or fewer). */
function syntheticIds(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `C${String(i + 1).padStart(7, '0')}`);
}

function countOnes(flags: Uint8Array): number {
  let n = 0;
  for (const f of flags) n += f;
  return n;
}

const MILLION = syntheticIds(1_000_000);
const CONFIG: AssignmentConfig = { salt: 'crm-holdout-2024', controlShare: 0.05, hashVersion: 2 };

describe('GrowthBook hash compatibility', () => {
  it('the fixture holds the v1 and v2 cases and the unknown-version case', () => {
    expect(KNOWN.filter((c) => c[2] === 1).length).toBeGreaterThanOrEqual(7);
    expect(KNOWN.filter((c) => c[2] === 2).length).toBeGreaterThanOrEqual(7);
    expect(UNKNOWN.length).toBeGreaterThanOrEqual(1);
  });

  it.each(KNOWN)('hash(%j, %j, v%i) = %f', (seed, value, version, expected) => {
    expect(hash(seed, value, version)).toBe(expected);
  });

  it.each(KNOWN)('the vectorised path puts (%j, %j, v%i) in bucket %f too', (seed, value, version, expected) => {
    // Control is [0, share): the bucket itself is the first share that leaves the id in treatment.
    const step = version === 2 ? 1e-4 : 1e-3;
    expect(assignGroups([value], { salt: seed, controlShare: expected, hashVersion: version })[0]).toBe(0);
    expect(assignGroups([value], { salt: seed, controlShare: expected + step, hashVersion: version })[0]).toBe(1);
  });

  it.each(UNKNOWN)('unknown version (%j, %j, v%i): GrowthBook returns %j, here a RangeError', (seed, value, version) => {
    expect(() => hash(seed, value, version as HashVersion)).toThrow(RangeError);
  });

  it('fnv1a32 matches the FNV-1a 32-bit reference vectors', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });
});

describe('assignment', () => {
  it('control is the bucket range [0, controlShare)', () => {
    // hash('seed', 'a', 2) = 0.0505 (GrowthBook case).
    expect(assignGroup('a', { salt: 'seed', controlShare: 0.0505, hashVersion: 2 })).toBe('treatment');
    expect(assignGroup('a', { salt: 'seed', controlShare: 0.0506, hashVersion: 2 })).toBe('control');
    expect(assignGroup('a', { salt: 'seed', controlShare: 0, hashVersion: 2 })).toBe('treatment');
    expect(assignGroup('a', { salt: 'seed', controlShare: 1, hashVersion: 2 })).toBe('control');
  });

  it('is sticky: 30 nightly runs give the same groups', () => {
    const ids = MILLION.slice(0, 100_000);
    const first = assignGroups(ids, CONFIG);
    for (let night = 1; night < 30; night++) {
      expect(Buffer.from(assignGroups(ids, { ...CONFIG })).equals(first)).toBe(true);
    }
    const sample = ids.slice(0, 1000);
    const groups = sample.map((id) => assignGroup(id, CONFIG));
    for (let night = 1; night < 30; night++) {
      expect(sample.map((id) => assignGroup(id, CONFIG))).toEqual(groups);
    }
    expect(groups.map((g) => (g === 'control' ? 1 : 0))).toEqual(Array.from(first.subarray(0, 1000)));
  });

  it("depends only on the id, not on the batch it comes in", () => {
    const ids = MILLION.slice(0, 20_000);
    const all = assignGroups(ids, CONFIG);
    const reversed = assignGroups([...ids].reverse(), CONFIG);
    expect(Array.from(reversed).reverse()).toEqual(Array.from(all));
    const odd = assignGroups(ids.filter((_, i) => i % 2 === 1), CONFIG);
    expect(Array.from(odd)).toEqual(Array.from(all).filter((_, i) => i % 2 === 1));
  });

  it.each([2, 1] as const)('v%i: 1M synthetic ids give a 5 percent control group, within 0.2 points', (hashVersion) => {
    const control = assignGroups(MILLION, { ...CONFIG, hashVersion });
    const share = countOnes(control) / MILLION.length;
    expect(control.length).toBe(1_000_000);
    expect(Math.abs(share - 0.05)).toBeLessThanOrEqual(0.002);
  });

  it('agrees with assignGroup on every one of the 1M ids (v2)', () => {
    // The fast path reads the digits of the first hash in two halves; make sure both shapes occur
    // (first hash below 100000, i.e. one half only, and a low half with leading zeros).
    const firstHashes = MILLION.map((id) => fnv1a32(CONFIG.salt + id));
    expect(firstHashes.some((h) => h < 100_000)).toBe(true);
    expect(firstHashes.some((h) => h >= 100_000 && h % 100_000 < 10_000)).toBe(true);
    const control = assignGroups(MILLION, CONFIG);
    let mismatches = 0;
    MILLION.forEach((id, i) => {
      if ((assignGroup(id, CONFIG) === 'control' ? 1 : 0) !== control[i]) mismatches++;
    });
    expect(mismatches).toBe(0);
  });

  it('a new salt reshuffles: control overlap ≈ 5 % × 5 %', () => {
    const a = assignGroups(MILLION, CONFIG);
    const b = assignGroups(MILLION, { ...CONFIG, salt: 'crm-holdout-2025' });
    let both = 0;
    for (let i = 0; i < a.length; i++) both += (a[i] ?? 0) & (b[i] ?? 0);
    const overlap = both / MILLION.length;
    // Independent 5 % groups overlap on 0.25 % of ids (2500 of 1M, sd ≈ 50).
    expect(overlap).toBeGreaterThan(0.002);
    expect(overlap).toBeLessThan(0.003);
    // So about 5 % of last year's control group is in control again, not all of it.
    expect(both / countOnes(a)).toBeGreaterThan(0.04);
    expect(both / countOnes(a)).toBeLessThan(0.06);
  });

  it('rejects invalid configs', () => {
    const bad: unknown[] = [
      { ...CONFIG, controlShare: -0.01 },
      { ...CONFIG, controlShare: 1.01 },
      { ...CONFIG, controlShare: Number.NaN },
      { ...CONFIG, controlShare: '0.05' },
      { ...CONFIG, hashVersion: 3 },
      { ...CONFIG, salt: 5 },
    ];
    for (const config of bad) {
      expect(() => assignGroup('C1', config as AssignmentConfig)).toThrow();
      expect(() => assignGroups(['C1'], config as AssignmentConfig)).toThrow();
    }
  });
});

describe('properties', () => {
  // Any UTF-16 code units, lone surrogates included: the hash works on code units, not code points.
  const text = fc.oneof(
    fc.string(),
    fc.string({ unit: 'binary' }),
    fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((u) => String.fromCharCode(u)) }),
  );
  const version = fc.constantFrom<HashVersion>(1, 2);

  it('fnv1a32 is an unsigned 32-bit integer', () => {
    fc.assert(
      fc.property(text, (s) => {
        const h = fnv1a32(s);
        expect(Number.isInteger(h) && h >= 0 && h < 2 ** 32).toBe(true);
      }),
    );
  });

  it('hash is in [0, 1), on the version grid, and deterministic', () => {
    fc.assert(
      fc.property(text, text, version, (seed, value, v) => {
        const h = hash(seed, value, v);
        expect(h).toBeGreaterThanOrEqual(0);
        expect(h).toBeLessThan(1);
        const scale = v === 2 ? 10000 : 1000;
        expect(Number.isInteger(Math.round(h * scale)) && Math.abs(h * scale - Math.round(h * scale)) < 1e-6).toBe(true);
        expect(hash(seed, value, v)).toBe(h);
      }),
    );
  });

  it('assignGroups equals assignGroup element by element', () => {
    fc.assert(
      fc.property(
        fc.array(text, { maxLength: 30 }),
        text,
        fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 10000 }).map((k) => k / 10000)),
        version,
        (ids, salt, controlShare, hashVersion) => {
          const config = { salt, controlShare, hashVersion };
          const expected = ids.map((id) => (assignGroup(id, config) === 'control' ? 1 : 0));
          expect(Array.from(assignGroups(ids, config))).toEqual(expected);
        },
      ),
      { numRuns: 300 },
    );
  });
});
