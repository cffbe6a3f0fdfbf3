/**
 * NPS and its interval (shared/crm/nps-sql.ts): the classification's edges, a published worked
 * variance, and the interval's coverage over simulated surveys.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDbEngine } from '../shared/adapters/duckdb.js';
import { npsAggregatesSql } from '../shared/crm/nps-sql.js';
import { createRng } from '../shared/demo/generate.js';

const Z = 1.959963984540054;

let engine: DuckDbEngine;
beforeAll(async () => {
  engine = await DuckDbEngine.open();
});
afterAll(async () => {
  await engine?.close();
});

type Nps = {
  responses: string;
  promoters: string;
  passives: string;
  detractors: string;
  nps: number | null;
  nps_ci_low: number | null;
  nps_ci_high: number | null;
};

const scores = (list: readonly number[]) => `SELECT * FROM (VALUES ${list.map((s) => `(${s})`).join(', ')}) AS t(score)`;
const summarise = async (relation: string) => (await engine.query<Nps>(`SELECT ${npsAggregatesSql('score').join(', ')} FROM (${relation}) AS r`))[0]!;

describe('NPS', () => {
  it('counts 9–10 as promoters, 7–8 as passives, 0–6 as detractors', async () => {
    const row = await summarise(scores([0, 6, 7, 8, 9, 10, 10]));
    expect(row).toMatchObject({ responses: '7', promoters: '3', passives: '2', detractors: '2' });
    expect(row.nps).toBeCloseTo((100 * (3 - 2)) / 7, 12);
  });

  it("has the multinomial variance of whuber's worked example (shares 1/2, 1/3, 1/6: NPS 1/3, variance 5/9 per answer)", async () => {
    // Cross Validated, "How can I calculate margin of error in a NPS (Net Promoter Score) result?",
    // the accepted answer: Var = (1 − 1/3)²·1/2 + (0 − 1/3)²·1/3 + (−1 − 1/3)²·1/6 = 5/9.
    const n = 900;
    const row = await summarise(scores([...Array(450).fill(10), ...Array(300).fill(8), ...Array(150).fill(3)]));
    expect(row.nps).toBeCloseTo(100 / 3, 10);
    const se = (row.nps_ci_high! - row.nps!) / Z / 100;
    expect(se * se * n).toBeCloseTo(5 / 9, 10);
    expect(row.nps! - row.nps_ci_low!).toBeCloseTo(row.nps_ci_high! - row.nps!, 10);
  });

  it('covers the true NPS in about 95 % of simulated surveys (2,000 surveys of 400 answers)', async () => {
    // Shares 0.45 / 0.30 / 0.25: true NPS 20. Leaving out the covariance of the two shares would
    // make the variance 0.435 instead of 0.66 per answer, and the interval cover about 89 %.
    const rng = createRng(7);
    const [surveys, answers] = [2000, 400];
    const survey = new Float64Array(surveys * answers);
    const score = new Float64Array(surveys * answers);
    for (let i = 0; i < survey.length; i++) {
      const u = rng.uniform();
      survey[i] = Math.floor(i / answers);
      score[i] = u < 0.45 ? 10 : u < 0.75 ? 7 : 2;
    }
    await engine.run('CREATE OR REPLACE TEMP TABLE surveys (survey DOUBLE, score DOUBLE)');
    await engine.insertNumbers('surveys', { survey, score });
    const [{ covered }] = (await engine.query<{ covered: number }>(`SELECT avg(CASE WHEN nps_ci_low <= 20 AND nps_ci_high >= 20 THEN 1.0 ELSE 0.0 END)::DOUBLE AS covered
      FROM (SELECT survey, ${npsAggregatesSql('score').join(', ')} FROM surveys GROUP BY survey)`)) as [{ covered: number }];
    expect(covered).toBeGreaterThan(0.935);
    expect(covered).toBeLessThan(0.965);
  });

  it('is NULL, with zero counts, when nobody answered', async () => {
    const row = await summarise(`SELECT CAST(NULL AS INTEGER) AS score WHERE false`);
    expect(row).toEqual({ responses: '0', promoters: '0', passives: '0', detractors: '0', nps: null, nps_ci_low: null, nps_ci_high: null });
  });
});
