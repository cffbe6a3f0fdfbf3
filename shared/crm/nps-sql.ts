/**
 * Net Promoter Score over survey answers (0–10), with its confidence interval, as aggregate SQL
 * for `survey_summary` (per segment and ALL) and `kpi_daily`'s `nps`:
 *
 * - promoters answer 9 or 10, passives 7 or 8, detractors 0 to 6 (Reichheld 2003);
 * - NPS = 100 · (p − d), in points, with p and d the shares of promoters and detractors;
 * - each answer is a draw of +1 / 0 / −1 (a trinomial), so Var(p − d) = ((p + d) − (p − d)²) / n,
 *   the multinomial variance (Var p + Var d − 2 Cov(p, d), Cov = −pd/n); the interval is
 *   NPS ± z · 100 · √Var, the Wald interval Rocks (2016, "Interval estimation for the Net
 *   Promoter Score", The American Statistician 70(4)) compares with adjusted ones: for a few
 *   dozen answers or shares near 0 or 1 it is too narrow, which the report shows with the count.
 */
import { normalQuantile } from '../holdout/stats.js';

/** The columns' names, as `survey_summary` publishes them. */
export const NPS_COLUMNS = ['responses', 'promoters', 'passives', 'detractors', 'nps', 'nps_ci_low', 'nps_ci_high'] as const;

/** The group's answer count and shares of promoters and detractors (NULL without answers). */
function shares(score: string) {
  const n = `CAST(count(${score}) AS DOUBLE)`;
  const share = (condition: string) => `count(CASE WHEN ${condition} THEN 1 END) / nullif(${n}, 0)`;
  return { n, p: share(`${score} >= 9`), d: share(`${score} <= 6`) };
}

/** The NPS of the group's answers, an aggregate expression (DOUBLE; NULL without answers). */
export function npsSql(score: string): string {
  const { p, d } = shares(score);
  return `100 * (${p} - ${d})`;
}

/**
 * SELECT items (aggregates over the group's rows) for {@link NPS_COLUMNS} from a score column:
 * counts as BIGINT, the score and its bounds as DOUBLE; NPS and bounds NULL without answers.
 */
export function npsAggregatesSql(score: string, confidence = 0.95): string[] {
  const z = normalQuantile(1 - (1 - confidence) / 2);
  const { n, p, d } = shares(score);
  const nps = npsSql(score);
  const halfWidth = `${z} * 100 * sqrt(((${p} + ${d}) - power(${p} - ${d}, 2)) / nullif(${n}, 0))`;
  return [
    `count(${score}) AS responses`,
    `count(CASE WHEN ${score} >= 9 THEN 1 END) AS promoters`,
    `count(CASE WHEN ${score} BETWEEN 7 AND 8 THEN 1 END) AS passives`,
    `count(CASE WHEN ${score} <= 6 THEN 1 END) AS detractors`,
    `${nps} AS nps`,
    `${nps} - ${halfWidth} AS nps_ci_low`,
    `${nps} + ${halfWidth} AS nps_ci_high`,
  ];
}
