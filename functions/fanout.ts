/**
 * The fanned-out night's phases (AWS Step Functions; functions/fanout-start.ts starts it):
 * `prepare` ingests the day and fits the models, writing one customer-summary file per shard under
 * the run's staging prefix; a Distributed Map runs `scoreShard` once per shard file; `finish`
 * builds every table and publishes. Same pipeline as the single-Lambda night.
 *
 * Payload contract (the state machine in infra/stack.ts relies on it):
 * - prepare: `{ date, force }` → {@link PreparedPayload}
 * - scoreShard: `{ key, runId, date }` (key: the shard file's full S3 key, as ListObjectsV2 gives it) → `{ key, customers }`
 * - finish: {@link PreparedPayload} → the run's result
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { parseNightlyEvent } from '../shared/nightly-event.js';
import { finishFannedOut, isPublished, prepareFannedOut, scoreShard as scoreOneShard, type RunResult } from '../shared/pipeline.js';
import { S3ObjectStore } from '../shared/store/s3.js';
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
  const deps = runDepsFromEnv();
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

const ShardEvent = z.object({ key: z.string().min(1), runId: z.string().min(1), date: z.string() });

export const scoreShard = middy(async (event: unknown) => {
  const { key } = ShardEvent.parse(event);
  const deps = runDepsFromEnv();
  const { Prefix: destPrefix } = s3Location(deps.destUri, '');
  if (!key.startsWith(destPrefix)) throw new Error(`shard key ${key} is outside the destination ${deps.destUri}`);
  return scoreOneShard(key.slice(destPrefix.length), deps);
}).use(injectLambdaContext(logger));

const PreparedEvent = z.object({ date: z.string(), runId: z.string().min(1), status: z.literal('prepared') });

export const finish = middy(async (event: unknown): Promise<RunResult> => {
  const { runId, date } = PreparedEvent.parse(event);
  logger.appendKeys({ runDate: date, runId });
  const result = await finishFannedOut(runId, runDepsFromEnv());
  recordRun(result);
  return result;
})
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
