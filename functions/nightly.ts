/**
 * The nightly Lambda: parses the trigger (the scheduler's event or an on-demand
 * `{ date, force, allowGaps }`), builds the dependencies from the environment and calls the same
 * `runNightly` as the CLI, which takes the destination's lock and refuses (throws) while another
 * run holds it or an earlier extract date is unpublished.
 * Logs are structured JSON and run figures CloudWatch metrics (Powertools, in EMF).
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { parseNightlyEvent } from '../shared/nightly-event.js';
import { parseRunOptions } from '../shared/orchestration/run-options.js';
import { runUnlessPublished, type NightlyOutcome } from '../shared/pipeline.js';
import { logger, metrics, recordRun, runDepsFromEnv } from './lambda-env.js';

export async function nightly(event: unknown): Promise<NightlyOutcome> {
  const { date, force } = parseNightlyEvent(event);
  logger.appendKeys({ runDate: date });
  const result = await runUnlessPublished(date, force, { ...runDepsFromEnv(), ...parseRunOptions(event) });
  if (result.status === 'already_published') {
    logger.info('already published; pass force to re-run');
    return result;
  }
  recordRun(result);
  return result;
}

export const handler = middy(nightly).use(injectLambdaContext(logger)).use(logMetrics(metrics));
