/**
 * Referrals (shared/crm/referral-sql.ts): self-referrals, dangling referrers and cycles rejected
 * with their reason, and each referrer's value through its direct referrals, against the rules
 * read directly in TypeScript on a hand-made graph and on random ones.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDbEngine } from '../shared/adapters/duckdb.js';
import { referralProblemsSql, referralValueSql } from '../shared/crm/referral-sql.js';

const MARGIN = 0.4;

let engine: DuckDbEngine;
beforeAll(async () => {
  engine = await DuckDbEngine.open();
});
afterAll(async () => {
  await engine?.close();
});

type Profiles = Record<string, string | null>;

const relation = (profiles: Profiles) =>
  `SELECT * FROM (VALUES ${Object.entries(profiles).map(([id, by]) => `('${id}', ${by === null ? 'NULL' : `'${by}'`})`).join(', ')}) AS p(customer_id, referred_by)`;
const valuesOf = (values: Record<string, [number, number]>) =>
  `SELECT * FROM (VALUES ${Object.entries(values).map(([id, [revenue, clv]]) => `('${id}', ${revenue}, ${clv})`).join(', ')}) AS v(customer_id, revenue, clv)`;

/** The rules read directly: which referral fails and why, then direct referrals' sums. */
function oracle(profiles: Profiles, values: Record<string, [number, number]>) {
  const problems: Record<string, string> = {};
  for (const [id, by] of Object.entries(profiles)) {
    if (by === null) continue;
    if (by === id) problems[id] = 'self';
    else if (!(by in profiles)) problems[id] = 'dangling';
    else {
      // Follow the referrers from id: a cycle through id brings the walk back to it.
      const seen = new Set([id]);
      for (let node: string | null = by; node !== null && node in profiles; node = profiles[node] ?? null) {
        if (node === id) {
          problems[id] = 'cycle';
          break;
        }
        if (seen.has(node) || profiles[node] === node) break;
        seen.add(node);
      }
    }
  }
  const value: Record<string, { n: number; revenue: number; clv: number }> = {};
  for (const [id, by] of Object.entries(profiles)) {
    if (by === null || problems[id]) continue;
    const [revenue, clv] = values[id] ?? [0, 0];
    const v = (value[by] ??= { n: 0, revenue: 0, clv: 0 });
    v.n++;
    v.revenue += revenue;
    v.clv += clv;
  }
  return { problems, value };
}

async function run(profiles: Profiles, values: Record<string, [number, number]>) {
  const problems = await engine.query<{ customer_id: string; reason: string }>(referralProblemsSql(relation(profiles)));
  const kinds = Object.fromEntries(
    problems.map((p) => [p.customer_id, p.reason.startsWith('referral cycle') ? 'cycle' : p.reason.startsWith('referred_by names no customer') ? 'dangling' : 'self']),
  );
  expect(Object.keys(kinds)).toHaveLength(problems.length); // one reason per referral
  const rows = await engine.query<{ referrer_id: string; referred_customers: string; referred_revenue: number; referred_clv: number; influence_value: number }>(
    `SELECT referrer_id, referred_customers, CAST(referred_revenue AS DOUBLE) AS referred_revenue, CAST(referred_clv AS DOUBLE) AS referred_clv,
       CAST(influence_value AS DOUBLE) AS influence_value FROM (${referralValueSql(relation(profiles), Object.keys(values).length ? valuesOf(values) : `SELECT 'x' AS customer_id, 0 AS revenue, 0 AS clv WHERE false`, MARGIN)})`,
  );
  const value = Object.fromEntries(rows.map((r) => [r.referrer_id, { n: Number(r.referred_customers), revenue: r.referred_revenue, clv: r.referred_clv }]));
  for (const r of rows) expect(r.influence_value).toBeCloseTo(MARGIN * r.referred_revenue + r.referred_clv, 9);
  return { problems: kinds, value, reasons: Object.fromEntries(problems.map((p) => [p.customer_id, p.reason])) };
}

describe('referrals', () => {
  it('rejects self-referrals, unknown referrers and cycles with their reason, and counts the rest once', async () => {
    const profiles: Profiles = { A: null, B: 'A', C: 'A', D: 'B', E: 'E', F: 'ghost', G: 'H', H: 'G', I: 'G', J: 'K', K: 'L', L: 'J' };
    const values: Record<string, [number, number]> = { B: [100, 50], C: [20, 10], D: [5, 1], I: [7, 3], G: [1000, 1000] };
    const got = await run(profiles, values);
    expect(got.reasons).toEqual({
      E: 'referred_by is the customer itself',
      F: 'referred_by names no customer: "ghost"',
      G: 'referral cycle: G ← H ← G',
      H: 'referral cycle: H ← G ← H',
      J: 'referral cycle: J ← K ← L ← J',
      K: 'referral cycle: K ← L ← J ← K',
      L: 'referral cycle: L ← J ← K ← L',
    });
    // A brought B and C; B brought D; G, itself on a cycle, still brought I; H gets nothing for G.
    expect(got.value).toEqual({ A: { n: 2, revenue: 120, clv: 60 }, B: { n: 1, revenue: 5, clv: 1 }, G: { n: 1, revenue: 7, clv: 3 } });
    expect(oracle(profiles, values)).toEqual({ problems: got.problems, value: got.value });
  });

  it('agrees with the rules read directly on random referral graphs', async () => {
    const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
    const graph = fc.record({
      referrers: fc.array(fc.option(fc.constantFrom(...ids, 'zz'), { nil: null }), { minLength: ids.length, maxLength: ids.length }),
      values: fc.array(fc.tuple(fc.integer({ min: 0, max: 500 }), fc.integer({ min: 0, max: 500 })), { minLength: ids.length, maxLength: ids.length }),
    });
    await fc.assert(
      fc.asyncProperty(graph, async ({ referrers, values }) => {
        const profiles: Profiles = Object.fromEntries(ids.map((id, i) => [id, referrers[i]!]));
        const v = Object.fromEntries(ids.map((id, i) => [id, values[i]!])) as Record<string, [number, number]>;
        const got = await run(profiles, v);
        expect({ problems: got.problems, value: got.value }).toEqual(oracle(profiles, v));
      }),
      { numRuns: 200, seed: 29 },
    );
  });
});
