/**
 * RFM on real data: the CDNOW cohort (23,570 customers, 69,659 transactions, 1997-01..1998-06),
 * checked customer by customer against a plain TypeScript fold over the raw file.
 */
import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { customerScores, modelFit, runManifest, segmentSummary } from '../shared/tables/index.js';
import { readTable, runLocal, tempDir, writeExtract } from './helpers.js';

const RUN_DATE = '1998-06-30';
const FIXTURE = new URL('./fixtures/cdnow/', import.meta.url);

interface Expected {
  frequency: number;
  last: string;
  first: string;
  spend: number;
}

/** Independent computation: one pass over the whitespace-separated file, no SQL. */
function foldCdnow(text: string): Map<string, Expected> {
  const customers = new Map<string, Expected>();
  for (const line of text.split(/\r?\n/).slice(1)) {
    const parts = line.trim().split(/\s+/);
    if (parts.length !== 4) continue;
    const [id, yyyymmdd, , dollars] = parts as [string, string, string, string];
    const date = `${yyyymmdd.slice(0, 4)}-${yyyymmdd.slice(4, 6)}-${yyyymmdd.slice(6, 8)}`;
    const c = customers.get(id) ?? { frequency: 0, last: date, first: date, spend: 0 };
    c.frequency += 1;
    c.spend += Number(dollars);
    if (date > c.last) c.last = date;
    if (date < c.first) c.first = date;
    customers.set(id, c);
  }
  return customers;
}

const days = (from: string, to: string) => (Date.parse(to) - Date.parse(from)) / 86_400_000;
const isoDate = (d: unknown) => (d as Date).toISOString().slice(0, 10);

/** The tie-safe quantile score, recomputed from scratch: 1 + floor(5 × share strictly worse). */
function expectedScores(values: number[], higherIsBetter: boolean): Map<number, number> {
  const sorted = [...values].sort((a, b) => a - b);
  const n = values.length;
  /** How many sorted values are below v (or at most v, with `orEqual`), by bisection. */
  const countBelow = (v: number, orEqual: boolean) => {
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid]! < v || (orEqual && sorted[mid] === v)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const scores = new Map<number, number>();
  for (const v of new Set(values)) {
    const worse = higherIsBetter ? countBelow(v, false) : n - countBelow(v, true);
    scores.set(v, 1 + Math.floor((5 * worse) / n));
  }
  return scores;
}

describe('RFM on the CDNOW transaction file', () => {
  let expected: Map<string, Expected>;
  let scores: Record<string, unknown>[];
  let dest: string;

  beforeAll(async () => {
    const text = await readFile(new URL('CDNOW_master.txt', FIXTURE), 'utf8');
    expected = foldCdnow(text);
    const source = await tempDir('cdnow-src');
    dest = await tempDir('cdnow-dest');
    await writeExtract(source, RUN_DATE, 'CDNOW_master.txt', text);
    const config = JSON.parse(await readFile(new URL('config.json', FIXTURE), 'utf8'));
    const result = await runLocal(RUN_DATE, source, dest, config);
    expect(result.status).toBe('succeeded');
    scores = await readTable(dest, customerScores, RUN_DATE);
  });

  it('scores every customer of the cohort once', () => {
    expect(expected.size).toBe(23_570);
    expect(scores).toHaveLength(23_570);
    expect(new Set(scores.map((s) => s['customer_id'])).size).toBe(23_570);
  });

  it('matches an independent fold for frequency, recency and monetary of every customer', () => {
    for (const row of scores) {
      const want = expected.get(row['customer_id'] as string)!;
      expect(row['frequency']).toBe(want.frequency);
      expect(isoDate(row['last_purchase_date'])).toBe(want.last);
      expect(isoDate(row['first_purchase_date'])).toBe(want.first);
      expect(row['recency_days']).toBe(days(want.last, RUN_DATE));
      expect(row['monetary'] as number).toBeCloseTo(want.spend, 6);
    }
  });

  it('gives quantile scores that match a from-scratch computation, ties included', () => {
    const want = [...expected.values()];
    const r = expectedScores(want.map((c) => days(c.last, RUN_DATE)), false);
    const f = expectedScores(want.map((c) => c.frequency), true);
    const m = expectedScores(want.map((c) => Math.round(c.spend * 100)), true);
    for (const row of scores) {
      const c = expected.get(row['customer_id'] as string)!;
      expect(row['r_score']).toBe(r.get(days(c.last, RUN_DATE)));
      expect(row['f_score']).toBe(f.get(c.frequency));
      expect(row['m_score']).toBe(m.get(Math.round(c.spend * 100)));
      expect(row['rfm_code']).toBe(`${row['r_score']}${row['f_score']}${row['m_score']}`);
    }
  });

  it('never gives equal values different scores', () => {
    for (const [value, score] of [
      ['frequency', 'f_score'],
      ['recency_days', 'r_score'],
      ['monetary', 'm_score'],
    ] as const) {
      const seen = new Map<unknown, unknown>();
      for (const row of scores) {
        const key = row[value];
        if (seen.has(key)) expect(row[score]).toBe(seen.get(key));
        else seen.set(key, row[score]);
      }
    }
    // Half the cohort bought once: they all share the lowest frequency score.
    const once = scores.filter((s) => s['frequency'] === 1);
    expect(once.length).toBeGreaterThan(11_000);
    expect(new Set(once.map((s) => s['f_score']))).toEqual(new Set([1]));
  });

  it('summarises segments consistently with the scores', async () => {
    const summary = await readTable(dest, segmentSummary, RUN_DATE);
    const total = summary.reduce((sum, s) => sum + Number(s['customers']), 0);
    expect(total).toBe(23_570);
    for (const s of summary) {
      const members = scores.filter((row) => row['segment'] === s['segment']);
      expect(Number(s['customers'])).toBe(members.length);
      expect(s['monetary_total'] as number).toBeCloseTo(members.reduce((sum, row) => sum + (row['monetary'] as number), 0), 4);
    }
    // Real data has free orders (80 of CDNOW's amounts are 0): the spend model still fits.
    const fits = await readTable(dest, modelFit, RUN_DATE);
    expect(fits.map((f) => [f['model'], f['converged']])).toEqual([
      ['bgnbd', true],
      ['gamma_gamma', true],
    ]);
    const [manifest] = await readTable(dest, runManifest, RUN_DATE);
    expect(Number(manifest!['rows_read'])).toBe(69_659);
    expect(Number(manifest!['rows_accepted'])).toBe(69_659);
  });
});
