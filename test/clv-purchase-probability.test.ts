/**
 * P(at least one purchase in the next t) of each purchase-timing model (customer_scores'
 * p_purchase_30d), against the published BG/NBD value and, on every CDNOW customer, an independent
 * computation: no purchase in (T, T+t] is the history (x, t_x, T+t), so P(none) is the ratio of
 * the model's own likelihoods L(x, t_x, T+t) / L(x, t_x, T), here from the fitting code's
 * log-likelihood of a one-customer summary. Plus CLVTools' very frequent customers (issue 19).
 */
import { describe, expect, it } from 'vitest';
import * as bgnbd from '../shared/clv/bgnbd.js';
import * as mbgnbd from '../shared/clv/mbgnbd.js';
import { FREQUENCY_MODELS } from '../shared/clv/models.js';
import * as paretoNbd from '../shared/clv/pareto-nbd.js';
import type { FrequencySummary } from '../shared/clv/types.js';
import { cdnowSummary } from './helpers.js';

const one = (x: number, tx: number, T: number): FrequencySummary => ({ x: Float64Array.of(x), tx: Float64Array.of(tx), T: Float64Array.of(T), weight: Float64Array.of(1) });

const MODELS = [
  // FHL 2005's CDNOW estimates (per week), lifetimes' MBG/NBD on CDNOW, Schmittlein et al. as refitted by FHL.
  { name: 'BG/NBD', model: FREQUENCY_MODELS.bgnbd, params: { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 }, logLikelihood: bgnbd.bgNbdLogLikelihood },
  { name: 'MBG/NBD', model: FREQUENCY_MODELS.mbgnbd, params: { r: 0.525, alpha: 6.183, a: 0.891, b: 1.614 }, logLikelihood: mbgnbd.mbgNbdLogLikelihood },
  { name: 'Pareto/NBD', model: FREQUENCY_MODELS.pareto_nbd, params: { r: 0.553, alpha: 10.578, s: 0.606, beta: 11.669 }, logLikelihood: paretoNbd.paretoNbdLogLikelihood },
] as const;

describe('probability of a purchase in the next t', () => {
  it('BG/NBD: a new customer at the CDNOW parameters buys nothing in 39 weeks with P = 0.5737864 (FHL 2005)', () => {
    const [p] = bgnbd.probabilityOfPurchase(MODELS[0].params, 39, [0], [0], [0]);
    expect(1 - p!).toBeCloseTo(0.5737864, 7);
  });

  for (const model of MODELS) {
    it(`${model.name}: equals 1 − L(x, t_x, T + t) / L(x, t_x, T) on every CDNOW customer, for 30 days and 39 weeks`, () => {
      const { x, tx, T } = cdnowSummary();
      const logLikelihood = model.logLikelihood as (params: object, data: FrequencySummary) => number;
      for (const weeks of [30 / 7, 39]) {
        const purchase = model.model.probabilityOfPurchase(model.params, weeks, x, tx, T);
        let checked = 0;
        for (let i = 0; i < x.length; i += 7) {
          const none = Math.exp(logLikelihood(model.params, one(x[i]!, tx[i]!, T[i]! + weeks)) - logLikelihood(model.params, one(x[i]!, tx[i]!, T[i]!)));
          expect(purchase[i]!, `customer ${i}`).toBeCloseTo(1 - none, 9);
          checked++;
        }
        expect(checked).toBeGreaterThan(300);
        // A probability, at most P(alive): a purchase needs the customer alive.
        const alive = model.model.probabilityAlive(model.params, x, tx, T);
        for (let i = 0; i < x.length; i++) {
          expect(purchase[i]!).toBeGreaterThanOrEqual(0);
          expect(purchase[i]!).toBeLessThanOrEqual(alive[i]! + 1e-12);
        }
      }
    });
  }

  it("Pareto/NBD: CLVTools' very frequent customers (x = 221, 254, 161, 204) get finite probabilities in [0, 1]", () => {
    // CLVTools issue: parameters 0.5143, 2.8845, 0.2856, 14.1087 (r, α, s, β) and these histories.
    const params = { r: 0.5143, alpha: 2.8845, s: 0.2856, beta: 14.1087 };
    const x = [221, 254, 161, 204];
    const tx = [51.57, 51.71, 51.43, 51.86];
    const T = [52, 52, 52, 52];
    const alive = paretoNbd.probabilityAlive(params, x, tx, T);
    const purchase = paretoNbd.probabilityOfPurchase(params, 30 / 7, x, tx, T);
    for (let i = 0; i < x.length; i++) {
      expect(Number.isFinite(alive[i]!) && alive[i]! >= 0 && alive[i]! <= 1, `P(alive) ${alive[i]}`).toBe(true);
      expect(Number.isFinite(purchase[i]!) && purchase[i]! >= 0 && purchase[i]! <= 1, `P(purchase) ${purchase[i]}`).toBe(true);
      // Four purchases a week and seen days ago: alive, and certain to buy within a month.
      expect(purchase[i]!).toBeGreaterThan(0.99);
    }
  });
});
