/**
 * RFM scoring as of a run date, from the night's customer facts (`shared/history/customer-facts.ts`).
 *
 * Definitions (one row per customer with at least one purchase up to the run date):
 * - recency_days: run date minus the last purchase date (returns do not count as purchases);
 * - frequency: purchase orders (order ids are unique in the curated history);
 * - monetary: net spend, purchases minus returns. Total rather than average, because the value
 *   grade ranks what a customer is worth to the business, and a refund should lower it.
 *
 * Scores: score = 1 + floor(5 × share of customers strictly worse). Equal values have the same
 * share, so ties always get the same score (NTILE would split them arbitrarily), and integer
 * arithmetic on ranks gives the same answer on every engine and every run.
 */
import type { Config, SegmentRule } from '../config.js';
import { dateLiteral, daysBetween, literal } from '../sql/dialect.js';

const SCORE_BINS = 5;

function score(rankColumn: string): string {
  return `1 + (${SCORE_BINS} * (${rankColumn} - 1)) // customer_count`;
}

function segmentCase(rules: readonly SegmentRule[]): string {
  const between = (column: string, [lo, hi]: readonly [number, number]) =>
    lo === 1 && hi === 5 ? 'true' : lo === hi ? `${column} = ${lo}` : `${column} BETWEEN ${lo} AND ${hi}`;
  const whens = rules.map(
    (rule) =>
      `WHEN ${between('r_score', rule.r)} AND ${between('f_score', rule.f)} AND ${between('m_score', rule.m)} THEN ${literal(rule.segment)}`,
  );
  // Config validation guarantees that the rules cover every combination.
  return `CASE ${whens.join(' ')} END`;
}

function gradeCase(min: Config['rfm']['grade_min_score']): string {
  const total = 'r_score + f_score + m_score';
  return `CASE WHEN ${total} >= ${min.A} THEN 'A' WHEN ${total} >= ${min.B} THEN 'B' WHEN ${total} >= ${min.C} THEN 'C' WHEN ${total} >= ${min.D} THEN 'D' ELSE 'E' END`;
}

/** Customer scores (columns of the `customer_scores` table) from the all-channel customer facts. */
export function customerScoresSql(facts: string, runDate: string, rfm: Config['rfm']): string {
  const asOf = dateLiteral(runDate);
  return `WITH
customers AS (
  SELECT customer_id, first_purchase_date, last_purchase_date, purchase_orders AS frequency, net_amount AS monetary, returned_amount
  FROM (${facts}) AS f
  WHERE purchase_orders > 0
),
ranked AS (
  SELECT *,
    count(*) OVER () AS customer_count,
    rank() OVER (ORDER BY recency_days DESC) AS r_rank,
    rank() OVER (ORDER BY frequency) AS f_rank,
    rank() OVER (ORDER BY monetary) AS m_rank
  FROM (SELECT *, ${daysBetween('last_purchase_date', asOf)} AS recency_days FROM customers) AS c
),
scored AS (
  SELECT *, ${score('r_rank')} AS r_score, ${score('f_rank')} AS f_score, ${score('m_rank')} AS m_score FROM ranked
)
SELECT customer_id, first_purchase_date, last_purchase_date, recency_days, frequency, monetary, returned_amount,
  r_score, f_score, m_score,
  CAST(r_score AS VARCHAR) || CAST(f_score AS VARCHAR) || CAST(m_score AS VARCHAR) AS rfm_code,
  ${segmentCase(rfm.segments)} AS segment,
  ${gradeCase(rfm.grade_min_score)} AS grade
FROM scored`;
}

/**
 * One row per segment (columns of `segment_summary`) from a relation of customer scores. Averages
 * divide exact (integer or decimal) sums: a parallel sum of doubles differs in the last bits from
 * run to run, and re-runs must write identical files.
 */
export function segmentSummarySql(scores: string): string {
  return `SELECT segment,
    count(*) AS customers,
    CAST(count(*) AS DOUBLE) / sum(count(*)) OVER () AS share_of_customers,
    sum(monetary) AS monetary_total,
    CAST(sum(monetary) AS DOUBLE) / nullif(CAST(sum(sum(monetary)) OVER () AS DOUBLE), 0) AS share_of_monetary,
    avg(recency_days) AS avg_recency_days,
    avg(frequency) AS avg_frequency,
    CAST(sum(monetary) AS DOUBLE) / count(*) AS avg_monetary
  FROM (${scores}) AS s
  GROUP BY segment`;
}

/**
 * Moves between the previous run's scores and this run's (columns of `segment_migration`).
 * `previous` is undefined on the first run: every customer then arrives from NULL.
 */
export function segmentMigrationSql(current: string, previous: { relation: string; date: string } | undefined): string {
  const before = previous
    ? `SELECT customer_id, segment, grade FROM (${previous.relation}) AS p`
    : `SELECT CAST(NULL AS VARCHAR) AS customer_id, CAST(NULL AS VARCHAR) AS segment, CAST(NULL AS VARCHAR) AS grade WHERE false`;
  return `SELECT ${previous ? dateLiteral(previous.date) : 'CAST(NULL AS DATE)'} AS previous_dt,
    b.segment AS from_segment, b.grade AS from_grade, a.segment AS to_segment, a.grade AS to_grade,
    count(*) AS customers
  FROM (${before}) AS b
  FULL OUTER JOIN (SELECT customer_id, segment, grade FROM (${current}) AS c) AS a ON a.customer_id = b.customer_id
  GROUP BY b.segment, b.grade, a.segment, a.grade`;
}
