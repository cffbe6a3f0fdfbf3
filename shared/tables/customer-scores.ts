/** RFM scores, segments and grades with each customer's CLV predictions: the night's scoring. */
import { col, FORECAST_HORIZON_DAYS } from '../catalog.js';
import type { Config } from '../config.js';
import type { TableModel } from './model.js';
import { referralValue } from './referral-value.js';

/** The names the configured segment rules can give. */
export const segmentNames = (config: Config) => config.rfm.segments.map((rule) => rule.segment);
export const GRADES = ['A', 'B', 'C', 'D', 'E'] as const;

export const customerScores = {
  name: 'customer_scores',
  description: 'RFM scores as of the run date: one row per customer with at least one purchase in the scoring window.',
  columns: [
    col('customer_id', 'string', 'Customer id.'),
    col('first_purchase_date', 'date', 'Date of the first purchase (returns excluded) in the window.'),
    col('last_purchase_date', 'date', 'Date of the last purchase (returns excluded) in the window.'),
    col('recency_days', 'int', 'Run date minus last_purchase_date, in whole days.'),
    col('frequency', 'int', 'Number of distinct purchase orders in the window (returns excluded).'),
    col('monetary', 'money', 'Net spend in the window: purchases minus returns.'),
    col('returned_amount', 'money', 'Value of returns in the window (positive).'),
    col('r_score', 'int', 'Recency score 1-5 (5 = most recent), by quantile of the customer base; ties share a score.'),
    col('f_score', 'int', 'Frequency score 1-5 (5 = most orders); ties share a score.'),
    col('m_score', 'int', 'Monetary score 1-5 (5 = highest net spend); ties share a score.'),
    col('rfm_code', 'string', 'r_score, f_score and m_score as one code, e.g. "545".'),
    col('segment', 'string', 'Named segment from the configured R/F/M rules (e.g. Champions, At Risk).'),
    col('grade', 'string', 'Value grade A-E (A = most valuable) from r_score + f_score + m_score.'),
    col('p_alive', 'double', 'Probability that the customer is still active (the first converged purchase-timing model); NULL when none converged.', true),
    col('p_purchase_30d', 'double', 'Probability of at least one purchase in the next 30 days (the same model: P(alive) × P(a purchase | alive), or for Pareto/NBD the ratio of the likelihoods with and without 30 more days of silence); NULL when no model converged.', true),
    ...FORECAST_HORIZON_DAYS.map((d) =>
      col(`expected_purchases_${d}d`, 'double', `Expected purchases in the next ${d} days; NULL when no purchase-timing model converged.`, true),
    ),
    col('expected_order_value', 'double', 'Gamma-Gamma expected value of a future order (population mean for one-time buyers); NULL when the fit did not converge.', true),
    col('clv', 'double', 'Discounted value of the next clv.horizon_months months (config; default 12 at 1 % a month): expected purchases per month × expected_order_value × margin, in the input currency; NULL when a fit did not converge.', true),
    col('referred_customers', 'bigint', 'Customers this one referred (referral_value; 0 for none).'),
    col('influence_value', 'double', 'Value through those referrals (referral_value.influence_value; 0 for none): rank by clv + influence_value for the most valuable customers, referrals included.'),
  ],
  orderBy: ['customer_id'],
  key: ['customer_id'],
  checks: {
    accepted: { segment: segmentNames, grade: () => GRADES },
    rules: {
      scores_1_to_5: 'r_score BETWEEN 1 AND 5 AND f_score BETWEEN 1 AND 5 AND m_score BETWEEN 1 AND 5',
      p_alive_is_a_probability: 'p_alive IS NULL OR p_alive BETWEEN 0 AND 1',
      p_purchase_30d_is_a_probability: 'p_purchase_30d IS NULL OR p_purchase_30d BETWEEN 0 AND 1',
    },
  },
  build: (ctx) => `SELECT s.*, coalesce(r.referred_customers, 0) AS referred_customers, coalesce(r.influence_value, 0) AS influence_value
    FROM (${ctx.scored}) AS s LEFT JOIN (${ctx.written(referralValue)}) AS r ON r.referrer_id = s.customer_id`,
} as const satisfies TableModel;
