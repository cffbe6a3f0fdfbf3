/**
 * The nightly Lambda: parses the trigger (the scheduler's event or an on-demand `{ date, force }`),
 * builds the dependencies from the environment and calls the same `runNightly` as the CLI.
 * Logs are structured JSON and run figures CloudWatch metrics (Powertools, in EMF).
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { parseNightlyEvent } from '../shared/nightly-event.js';
import { runUnlessPublished, type NightlyOutcome } from '../shared/pipeline.js';
import { logger, metrics, recordRun, runDepsFromEnv } from './lambda-env.js';

export async function nightly(event: unknown): Promise<NightlyOutcome> {
  const { date, force } = parseNightlyEvent(event);
  logger.appendKeys({ runDate: date });
  const result = await runUnlessPublished(date, force, runDepsFromEnv());
  if (result.status === 'already_published') {
    logger.info('already published; pass force to re-run');
    return result;
  }
  recordRun(result);
  return result;
}

export const handler = middy(nightly).use(injectLambdaContext(logger)).use(logMetrics(metrics));
