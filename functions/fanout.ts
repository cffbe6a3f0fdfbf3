/**
 * The fanned-out night (AWS Step Functions): `start` names an execution after the run date and
 * starts it; `prepare` ingests the day and fits the models, writing one customer-summary file per
 * shard under the run's staging prefix; a Distributed Map runs `scoreShard` once per shard file;
 * `finish` builds every table and publishes. Same pipeline as the single-Lambda night.
 *
 * Payload contract (the state machine in infra/stack.ts relies on it):
 * - start: the scheduler's event or `{ date, force }` → `{ executionArn, name }` (env STATE_MACHINE_ARN)
 * - prepare: `{ date, force }` → {@link PreparedPayload}
 * - scoreShard: `{ key, runId, date }` (key: the shard file's full S3 key, as ListObjectsV2 gives it) → `{ key, customers }`
 * - finish: {@link PreparedPayload} → the run's result
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { ExecutionAlreadyExists, ListExecutionsCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
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

export type StartOutcome = { status: 'started'; name: string; executionArn: string } | { status: 'already_started' | 'running'; name: string };

/**
 * The execution's name is the run date: Step Functions refuses a second execution of a name
 * (for 90 days), so a doubled or retried trigger cannot start an interleaving run. A forced re-run
 * gets a suffixed name, and only while no execution of the date is running.
 */
export async function startNight(event: unknown, client: SFNClient, stateMachineArn: string, now = Date.now()): Promise<StartOutcome> {
  const { date, force } = parseNightlyEvent(event);
  if (force) {
    const running = await client.send(new ListExecutionsCommand({ stateMachineArn, statusFilter: 'RUNNING' }));
    const same = running.executions?.find((e) => e.name?.startsWith(date));
    if (same) return { status: 'running', name: same.name! };
  }
  const name = force ? `${date}-force-${now}` : date;
  try {
    const started = await client.send(new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify({ date, force }) }));
    return { status: 'started', name, executionArn: started.executionArn! };
  } catch (error) {
    if (error instanceof ExecutionAlreadyExists) return { status: 'already_started', name };
    throw error;
  }
}

const StartEnv = z.object({ STATE_MACHINE_ARN: z.string().min(1) });
const sfn = new SFNClient({});

export const start = middy(async (event: unknown) => {
  const outcome = await startNight(event, sfn, StartEnv.parse(process.env).STATE_MACHINE_ARN);
  logger.info('start', { ...outcome });
  return outcome;
}).use(injectLambdaContext(logger));

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
