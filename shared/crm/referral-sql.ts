/**
 * Referrals: who referred whom (the customer profiles' `referred_by`), the referrals that cannot
 * count, and the value a customer brings through the customers they referred.
 *
 * A referral does not count, and is rejected with its reason, when the customer names itself,
 * names no known customer, or lies on a cycle (A referred by B referred by A: neither can have
 * brought the other). A customer referred into a cycle keeps its referral: its referrer exists
 * and the chain behind it does not matter for direct referrals.
 *
 * Value through referrals counts direct referrals only (so nothing is counted twice along a chain):
 * per referrer, the referred customers, their revenue to date, their CLV, and
 * `influence_value` = margin × referred revenue + referred CLV: the contribution the referred
 * customers brought and are expected to bring (CLV is already a margin), in the spirit of Kumar,
 * Petersen & Leone's customer referral value (2007, 2010) without its survey-based share of
 * customers who would have come anyway.
 *
 * Embedded SQL (DuckDB): the profiles are one row per customer, not the history.
 */
import { literal } from '../sql/dialect.js';

/**
 * One row per referral that does not count: customer_id, referred_by, reason. `profiles` has
 * customer_id and referred_by (NULL for none), one row per customer.
 */
export function referralProblemsSql(profiles: string): string {
  return `WITH RECURSIVE p AS (SELECT customer_id, referred_by FROM (${profiles}) AS x),
edges AS (
  SELECT customer_id, referred_by FROM p
  WHERE referred_by IS NOT NULL AND referred_by <> customer_id AND referred_by IN (SELECT customer_id FROM p)
),
-- From each referred customer, up its chain of referrers until the chain ends, comes back to its
-- start (a cycle through the start) or meets a customer already on it (a cycle further up).
walk(start, node, path) AS (
  SELECT customer_id, referred_by, [customer_id, referred_by] FROM edges
  UNION ALL
  SELECT w.start, e.referred_by, list_append(w.path, e.referred_by)
  FROM walk AS w JOIN edges AS e ON e.customer_id = w.node
  WHERE w.node <> w.start AND NOT list_contains(list_slice(w.path, 2, len(w.path) - 1), w.node)
),
cycles AS (SELECT start AS customer_id, path FROM walk WHERE node = start)
SELECT customer_id, referred_by, ${literal('referred_by is the customer itself')} AS reason FROM p WHERE referred_by = customer_id
UNION ALL
SELECT customer_id, referred_by, ${literal('referred_by names no customer: ')} || '"' || referred_by || '"' FROM p
WHERE referred_by IS NOT NULL AND referred_by <> customer_id AND referred_by NOT IN (SELECT customer_id FROM p)
UNION ALL
SELECT c.customer_id, e.referred_by, ${literal('referral cycle: ')} || array_to_string(c.path, ' ← ') FROM cycles AS c JOIN edges AS e USING (customer_id)`;
}

/**
 * One row per referrer with a counting referral: referrer_id, referred_customers,
 * referred_revenue, referred_clv, influence_value. `values` has customer_id, revenue and clv
 * (either NULL counts as 0: a referred customer without orders yet brought nothing so far).
 */
export function referralValueSql(profiles: string, values: string, margin: number): string {
  return `WITH problems AS (${referralProblemsSql(profiles)}),
counting AS (
  SELECT customer_id, referred_by FROM (${profiles}) AS p
  WHERE referred_by IS NOT NULL AND customer_id NOT IN (SELECT customer_id FROM problems)
)
SELECT r.referred_by AS referrer_id, count(*) AS referred_customers,
  sum(coalesce(v.revenue, 0)) AS referred_revenue, sum(coalesce(v.clv, 0)) AS referred_clv,
  ${margin} * sum(coalesce(v.revenue, 0)) + sum(coalesce(v.clv, 0)) AS influence_value
FROM counting AS r LEFT JOIN (${values}) AS v ON v.customer_id = r.customer_id
GROUP BY r.referred_by`;
}
