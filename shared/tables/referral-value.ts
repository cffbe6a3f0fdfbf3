/** What each customer brings through the customers they referred. */
import { col } from '../catalog.js';
import { referralValueSql } from '../crm/referral-sql.js';
import { customers } from './customers.js';
import type { TableModel } from './model.js';

export const referralValue = {
  name: 'referral_value',
  description:
    "One row per customer who referred at least one customer (the current profiles' referred_by; referrals that cannot count — self, unknown referrer, cycle — were rejected at ingest): the referred customers' revenue to date and CLV, and influence_value = clv.margin × referred_revenue + referred_clv. Direct referrals only, so no value counts twice along a chain (see shared/crm/referral-sql.ts).",
  columns: [
    col('referrer_id', 'string', 'The referring customer.'),
    col('referred_customers', 'bigint', 'Customers whose current profile names them in referred_by.'),
    col('referred_revenue', 'money', 'Net revenue of those customers up to the run date (0 for one without orders).'),
    col('referred_clv', 'double', "Sum of their CLV as scored tonight (customer_scores.clv; 0 for one not scored or without a converged fit)."),
    col('influence_value', 'double', 'clv.margin × referred_revenue + referred_clv: the contribution the referred customers brought and are expected to bring.'),
  ],
  key: ['referrer_id'],
  orderBy: ['referrer_id'],
  checks: { rules: { refers_someone: 'referred_customers > 0' } },
  build: (ctx) =>
    referralValueSql(
      ctx.written(customers),
      `SELECT f.customer_id, f.net_amount AS revenue, s.clv FROM (${ctx.customers}) AS f LEFT JOIN (${ctx.scored}) AS s ON s.customer_id = f.customer_id`,
      ctx.config.clv.margin,
    ),
} as const satisfies TableModel;
