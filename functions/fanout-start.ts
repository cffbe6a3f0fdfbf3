/**
 * The schedule's target with `orchestration: "step-functions"`: starts the fanned-out night, the
 * execution named after the run date (shared/adapters/step-functions.ts). Its own entry so that
 * its bundle holds no engine.
 *
 * Payload: the scheduler's event or `{ date, force, allowGaps }` → {@link StartOutcome} (env
 * STATE_MACHINE_ARN); `allowGaps` goes on to Prepare in the execution's input.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { SFNClient } from '@aws-sdk/client-sfn';
import middy from '@middy/core';
import { NIGHTLY_METRICS } from '../shared/metrics.js';
import { parseNightlyEvent } from '../shared/nightly-event.js';
import { parseRunOptions } from '../shared/orchestration/run-options.js';
import { startNight } from '../shared/adapters/step-functions.js';
import type { StartOutcome } from '../shared/orchestration/start-outcome.js';
import { readEnv } from './env.js';

const logger = new Logger({ serviceName: NIGHTLY_METRICS.service });
const sfn = new SFNClient({});

export const handler = middy(async (event: unknown): Promise<StartOutcome> => {
  const { STATE_MACHINE_ARN } = readEnv(['STATE_MACHINE_ARN']);
  const outcome = await startNight({ ...parseNightlyEvent(event), ...parseRunOptions(event) }, sfn, STATE_MACHINE_ARN);
  if (outcome.status === 'running') logger.warn('not started: another night is running', { ...outcome });
  else logger.info('start', { ...outcome });
  return outcome;
}).use(injectLambdaContext(logger));
