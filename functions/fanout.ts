/**
 * The fanned-out night's phases (AWS Step Functions; functions/fanout-start.ts starts it):
 * `prepare` ingests the day and fits the models, writing one customer-summary file per shard under
 * the run's staging prefix; a Distributed Map runs `scoreShard` once per shard file; `finish`
 * builds every table and publishes. Same pipeline as the single-Lambda night.
 *
 * The night holds the destination's lock from Prepare to Finish (shared/pipeline.ts,
 * prepareFannedOut): Prepare takes it, and refuses (throws) while another run holds it or an
 * earlier extract date is unpublished; it hands the lock over with a lease as long as the execution may run (FANOUT_LEASE_HOURS); the shards
 * leave it alone (their role reaches the staging prefix only); Finish resumes it, unless another
 * run has taken it since, and releases it. A night that fails on the way leaves the lease to run
 * out.
 *
 * Payload contract (the state machine of infra/constructs/fanned-out-night.ts relies on it):
 * - prepare: `{ date, force, allowGaps? }` → {@link PreparedPayload}
 * - scoreShard: `{ key }` (the shard file's full S3 key, as ListObjectsV2 gives it) → `{ key, customers }`
 * - finish: {@link PreparedPayload} → the run's result (`already_published` when a retry finds the run published)
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { parseNightlyEvent } from '../shared/nightly-event.js';
import { parseRunOptions } from '../shared/orchestration/run-options.js';
import { finishFannedOut, isPublished, prepareFannedOut, scoreShard as scoreOneShard, type NightlyOutcome } from '../shared/pipeline.js';
import { stateKey } from '../shared/staging.js';
import { S3ObjectStore } from '../shared/adapters/s3-store.js';
import { readEnv } from './env.js';
import { logger, metrics, recordRun, runDepsFromEnv } from './lambda-env.js';

export interface PreparedPayload {
  date: string;
  runId: string;
  /** `prepared`: the Map and `finish` follow; otherwise the execution ends here. */
  status: 'prepared' | 'missing_extract' | 'already_published';
  /** Where the shard files are, in the form the Distributed Map's S3 ItemReader takes. */
  shardListing?: { Bucket: string; Prefix: string };
}

/** The full S3 location of a store key of the destination (what the state machine lists). */
function s3Location(destUri: string, key: string): { Bucket: string; Prefix: string } {
  const store = S3ObjectStore.fromUri(destUri);
  return { Bucket: store.bucket, Prefix: `${store.prefix}${key}` };
}

export const prepare = middy(async (event: unknown): Promise<PreparedPayload> => {
  const { date, force } = parseNightlyEvent(event);
  logger.appendKeys({ runDate: date });
  const { FANOUT_LEASE_HOURS: leaseHours } = readEnv([], ['FANOUT_LEASE_HOURS']);
  const deps = { ...runDepsFromEnv(), ...parseRunOptions(event), ...(leaseHours ? { fannedOutLeaseMs: Number(leaseHours) * 3600_000 } : {}) };
  if (!force && (await isPublished(deps.dest, date))) return { date, runId: '', status: 'already_published' };
  const prepared = await prepareFannedOut(date, deps);
  if (prepared.status === 'missing_extract') {
    recordRun(prepared.result);
    return { date, runId: prepared.runId, status: 'missing_extract' };
  }
  logger.info('prepared', { runId: prepared.runId, shards: prepared.shardKeys.length });
  return { date, runId: prepared.runId, status: 'prepared', shardListing: s3Location(deps.destUri, prepared.shardPrefix) };
})
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));

const ShardEvent = z.object({ key: z.string().min(1) });

export const scoreShard = middy(async (event: unknown) => {
  const { key } = ShardEvent.parse(event);
  const deps = runDepsFromEnv();
  const { Prefix: destPrefix } = s3Location(deps.destUri, '');
  if (!key.startsWith(destPrefix)) throw new Error(`shard key ${key} is outside the destination ${deps.destUri}`);
  return scoreOneShard(key.slice(destPrefix.length), deps);
}).use(injectLambdaContext(logger));

const PreparedEvent = z.object({ date: z.string(), runId: z.string().min(1), status: z.literal('prepared') });

export const finish = middy(async (event: unknown): Promise<NightlyOutcome> => {
  const { runId, date } = PreparedEvent.parse(event);
  logger.appendKeys({ runDate: date, runId });
  const deps = runDepsFromEnv();
  // Step Functions may run a task again after its first attempt ended (a lost response): if that
  // attempt published, the run's staging folder, state included, is gone.
  if ((await deps.dest.list(stateKey(runId))).length === 0 && (await isPublished(deps.dest, date))) {
    logger.warn('finish retried after the run published: nothing to do');
    return { date, status: 'already_published' };
  }
  const result = await finishFannedOut(runId, deps);
  recordRun(result);
  return result;
})
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
