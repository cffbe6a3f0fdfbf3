/**
 * The holdout assignment in SQL, bucket for bucket the same as `assign.ts` (GrowthBook's hash), so
 * a million customers are assigned inside the engine without leaving it.
 */
import { fnv1a32Sql, literal } from '../sql/dialect.js';
import type { HashVersion } from './assign.js';

export interface HoldoutConfig {
  salt: string;
  control_share: number;
  hash_version: HashVersion;
}

/** GrowthBook's hash(seed, value, version) ∈ [0, 1) for a customer-id expression. */
export function holdoutHashSql(customerId: string, salt: string, version: HashVersion): string {
  const id = `CAST(${customerId} AS VARCHAR)`;
  return version === 1
    ? `CAST(${fnv1a32Sql(`${id} || ${literal(salt)}`)} % 1000 AS DOUBLE) / 1000`
    : `CAST(${fnv1a32Sql(`CAST(${fnv1a32Sql(`${literal(salt)} || ${id}`)} AS VARCHAR)`)} % 10000 AS DOUBLE) / 10000`;
}

/**
 * One row per customer in the history (columns of `holdout_assignment`), from the all-channel
 * customer facts: control when the hash is below the control share (the bucket range [0, share)),
 * else treatment. The hash depends only on the salt and the id, so a customer's group never
 * changes until the salt does.
 */
export function holdoutAssignmentSql(facts: string, config: HoldoutConfig): string {
  return `SELECT customer_id,
      CASE WHEN ${holdoutHashSql('customer_id', config.salt, config.hash_version)} < ${config.control_share}
        THEN 'control' ELSE 'treatment' END AS holdout_group,
      ${literal(config.salt)} AS salt, ${config.hash_version} AS hash_version,
      first_order_date AS assigned_at
    FROM (${facts}) AS f`;
}
