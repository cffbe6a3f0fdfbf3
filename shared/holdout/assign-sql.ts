/**
 * The holdout assignment in SQL, bucket for bucket the same as `assign.ts` (GrowthBook's hash), so
 * a million customers are assigned inside the engine without leaving it.
 */
import { fnv1a32Sql, literal } from '../sql/dialect.js';
import { fnv1a32, type HashVersion } from './assign.js';

export interface HoldoutConfig {
  salt: string;
  control_share: number;
  hash_version: HashVersion;
  /** Nested holdouts per CRM channel, each with its own salt (config `holdout.channels`). */
  channels: Readonly<Record<string, { salt: string; control_share: number }>>;
}

/** GrowthBook's hash(seed, value, version) ∈ [0, 1) for a customer-id expression; v2 goes on from the salt's FNV state, computed once here. */
export function holdoutHashSql(customerId: string, salt: string, version: HashVersion): string {
  const id = `CAST(${customerId} AS VARCHAR)`;
  return version === 1
    ? `CAST(${fnv1a32Sql(`${id} || ${literal(salt)}`)} % 1000 AS DOUBLE) / 1000`
    : `CAST(${fnv1a32Sql(`CAST(${fnv1a32Sql(id, fnv1a32(salt))} AS VARCHAR)`)} % 10000 AS DOUBLE) / 10000`;
}

/** The holdout of every channel, as `holdout_results.holdout` names it beside the channels'. */
export const GLOBAL_HOLDOUT = 'global';

/** The channels with a nested holdout, in alphabetical order. */
export function channelHoldouts(config: Pick<HoldoutConfig, 'channels'>): string[] {
  return Object.keys(config.channels).sort();
}

/** Whether a customer's `channel_controls` (of `holdout_assignment`) hold them out of the channel (an SQL expression). */
export function inChannelControlSql(channelControls: string, channel: string): string {
  return `coalesce(list_contains(string_split(${channelControls}, ','), ${channel}), false)`;
}

/**
 * One row per customer in the history (columns of `holdout_assignment`), from the all-channel
 * customer facts: control when the hash is below the control share (the bucket range [0, share)),
 * else treatment. The hash depends only on the salt and the id, so a customer's group never
 * changes until the salt does. Each channel's hash has its own salt, so its control is the same
 * share of either group and of every segment; it is computed for everyone, and acts on the
 * treatment group only (the control group receives nothing anyway).
 *
 * With `previous` (an earlier night's assignment under the same configuration), its customers keep
 * their groups and only the new ones are hashed: the hash, character by character in SQL, is most
 * of the assignment's cost, and a night brings few new customers.
 */
export function holdoutAssignmentSql(facts: string, config: HoldoutConfig, previous?: string): string {
  const held = channelHoldouts(config).map((channel) => {
    const { salt, control_share } = config.channels[channel]!;
    return `CASE WHEN ${holdoutHashSql('customer_id', salt, config.hash_version)} < ${control_share} THEN ${literal(channel)} END`;
  });
  const assigned = (groups: string, from: string) => `SELECT f.customer_id, ${groups},
      ${literal(config.salt)} AS salt, ${config.hash_version} AS hash_version, f.first_order_date AS assigned_at
    FROM ${from}`;
  const hashed = `CASE WHEN ${holdoutHashSql('customer_id', config.salt, config.hash_version)} < ${config.control_share}
        THEN 'control' ELSE 'treatment' END AS holdout_group,
      ${held.length ? `nullif(concat_ws(',', ${held.join(', ')}), '')` : 'CAST(NULL AS VARCHAR)'} AS channel_controls`;
  if (!previous) return assigned(hashed, `(${facts}) AS f`);
  return `${assigned('p.holdout_group, p.channel_controls', `(${facts}) AS f JOIN (${previous}) AS p ON p.customer_id = f.customer_id`)}
    UNION ALL
    ${assigned(hashed, `(${facts}) AS f WHERE NOT EXISTS (SELECT 1 FROM (${previous}) AS p WHERE p.customer_id = f.customer_id)`)}`;
}
