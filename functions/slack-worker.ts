/**
 * The `/crm` worker, invoked asynchronously by the slash-command endpoint: answers from Athena, or
 * runs the night (the nightly function, waited for; or, when the night is fanned out, starts the
 * state machine's execution of the date), then posts the Block Kit answer to Slack's response_url.
 */
import { InvokeCommand, LambdaClient, TooManyRequestsException } from '@aws-sdk/client-lambda';
import { SFNClient } from '@aws-sdk/client-sfn';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { AthenaQueryClient } from '../shared/adapters/athena-client.js';
import { parseConfig } from '../shared/config.js';
import { localDate, shiftDate } from '../shared/dates.js';
import { startNight } from '../shared/adapters/step-functions.js';
import { isPublished, reportKey, type NightlyOutcome } from '../shared/pipeline.js';
import { storeFor } from '../shared/adapters/stores.js';
import type { SlackJob } from '../shared/slack/ack.js';
import { notice, respond, type RespondContext, type RunOutcome } from '../shared/slack/answers.js';
import { postResponse, SLACK_RESPONSE_URL_PREFIX } from '../shared/slack/post.js';
import { readEnv } from './env.js';

const logger = new Logger({ serviceName: 'crm-metrics-slack' });

/**
 * Starts the nightly function and waits for its outcome. It has a reserved concurrency of 1, so
 * while a run is in progress a second synchronous invoke is throttled; with no retries that is the
 * "already running" answer instead of a queued second run.
 */
async function runNightlyFunction(functionName: string, date: string, force: boolean): Promise<NightlyOutcome> {
  const lambda = new LambdaClient({ maxAttempts: 1 });
  try {
    const response = await lambda.send(
      new InvokeCommand({ FunctionName: functionName, InvocationType: 'RequestResponse', Payload: JSON.stringify({ date, force }) }),
    );
    const payload = JSON.parse(Buffer.from(response.Payload ?? new Uint8Array()).toString('utf8') || 'null');
    // The function's error keeps its name (errorType), so that a refused run is told from a failed one.
    if (response.FunctionError) throw Object.assign(new Error(payload?.errorMessage ?? response.FunctionError), { name: payload?.errorType ?? 'Error' });
    return payload as NightlyOutcome;
  } catch (error) {
    if (error instanceof TooManyRequestsException) {
      throw Object.assign(new Error('a run is already in progress; try again when it has finished'), { name: 'DestinationLocked' });
    }
    throw error;
  } finally {
    lambda.destroy();
  }
}

/**
 * Starts the fanned-out night. A published date is left alone without `force` (as the nightly
 * function does), answered at once rather than by an execution that ends doing nothing.
 */
async function startFannedOutNight(stateMachineArn: string, destUri: string, date: string, force: boolean): Promise<RunOutcome> {
  if (!force && (await isPublished(storeFor(destUri), date))) return { date, status: 'already_published' };
  const sfn = new SFNClient({ maxAttempts: 3 });
  try {
    return await startNight({ date, force }, sfn, stateMachineArn);
  } finally {
    sfn.destroy();
  }
}

export interface WorkerDeps extends RespondContext {
  /** Only response URLs under this prefix are posted to (Slack's own, in production). */
  responseUrlPrefix: string;
}

export async function work(job: SlackJob, deps: WorkerDeps): Promise<void> {
  let outcome = 'answered';
  const message = await respond(job.command, deps).catch((error: Error) => {
    outcome = 'failed';
    // The details (engine messages, paths) go to the log, not to the channel.
    logger.error('command failed', { command: job.command.name, error });
    return notice(`Sorry, "${job.command.name}" failed. The CRM analytics team can find why in the logs.`);
  });
  await postResponse(job.responseUrl, message, deps.responseUrlPrefix);
  // Who asked what and how it ended; never the answer itself (it may name customers).
  logger.info('slack answer posted', { team: job.teamId, channel: job.channelId, user: job.userId, command: job.command.name, outcome });
}

function depsFromEnvironment(): WorkerDeps {
  // DEST_URI: reports are linked from `status`; STATE_MACHINE_ARN is set when the night is fanned
  // out (`orchestration: "step-functions"`): `run` then starts an execution.
  const env = readEnv(
    ['ATHENA_WORKGROUP', 'GLUE_DATABASE', 'DEST_URI', 'NIGHTLY_FUNCTION'],
    ['STATE_MACHINE_ARN', 'SCHEDULE_TIMEZONE', 'CONFIG_JSON', 'SLACK_RESPONSE_URL_PREFIX'],
  );
  const athena = new AthenaQueryClient({ workGroup: env.ATHENA_WORKGROUP, database: env.GLUE_DATABASE });
  return {
    query: (sql, parameters) => athena.query(sql, parameters),
    display: parseConfig(env.CONFIG_JSON ? JSON.parse(env.CONFIG_JSON) : {}).display,
    reportLink: (date) => storeFor(env.DEST_URI).link(reportKey(date)),
    defaultRunDate: () => shiftDate(localDate(new Date(), env.SCHEDULE_TIMEZONE ?? 'UTC'), -1),
    run: (date, force) =>
      env.STATE_MACHINE_ARN
        ? startFannedOutNight(env.STATE_MACHINE_ARN, env.DEST_URI, date, force)
        : runNightlyFunction(env.NIGHTLY_FUNCTION, date, force),
    responseUrlPrefix: env.SLACK_RESPONSE_URL_PREFIX ?? SLACK_RESPONSE_URL_PREFIX,
  };
}

export const handler = middy((job: SlackJob) => work(job, depsFromEnvironment())).use(injectLambdaContext(logger));
