/**
 * The nightly Lambda: parses the trigger (the scheduler's event or an on-demand `{ date, force }`),
 * builds the dependencies from the environment and calls the same `runNightly` as the CLI.
 * Logs are structured JSON and run figures CloudWatch metrics (Powertools, in EMF).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { parseConfig } from '../shared/config.js';
import { DuckDbEngine } from '../shared/engine/duckdb.js';
import { NIGHTLY_METRICS } from '../shared/metrics.js';
import { parseNightlyEvent } from '../shared/nightly-event.js';
import { runUnlessPublished, type NightlyOutcome } from '../shared/pipeline.js';
import { storeFor } from '../shared/store/index.js';

const logger = new Logger({ serviceName: NIGHTLY_METRICS.service });
const metrics = new Metrics({ namespace: NIGHTLY_METRICS.namespace, serviceName: NIGHTLY_METRICS.service });

const EnvSchema = z.object({
  SOURCE_URI: z.string().min(1),
  DEST_URI: z.string().min(1),
  CONFIG_JSON: z.string().optional(),
  /** DuckDB's share of the function's memory (e.g. "7GB"); the rest is Node's. */
  ENGINE_MEMORY_LIMIT: z.string().optional(),
});

export async function nightly(event: unknown): Promise<NightlyOutcome> {
  const { date, force } = parseNightlyEvent(event);
  const env = EnvSchema.parse(process.env);
  logger.appendKeys({ runDate: date });
  let previousMs = 0;
  const result = await runUnlessPublished(date, force, {
    source: storeFor(env.SOURCE_URI),
    dest: storeFor(env.DEST_URI),
    config: parseConfig(env.CONFIG_JSON ? JSON.parse(env.CONFIG_JSON) : {}),
    openEngine: (options) => DuckDbEngine.open({ ...options, memoryLimit: env.ENGINE_MEMORY_LIMIT }),
    onProgress: ({ stage, rows, elapsedMs }) => {
      logger.info('progress', { stage, rows, elapsedMs });
      const stageMetric = metrics.singleMetric();
      stageMetric.addDimension('stage', stage);
      stageMetric.addMetric('StageDuration', MetricUnit.Milliseconds, elapsedMs - previousMs);
      previousMs = elapsedMs;
    },
  });
  if (result.status === 'already_published') {
    logger.info('already published; pass force to re-run');
    return result;
  }
  metrics.addMetric('RowsRead', MetricUnit.Count, result.rowsRead);
  metrics.addMetric('RowsRejected', MetricUnit.Count, result.rowsRejected);
  metrics.addMetric('RowsDuplicate', MetricUnit.Count, result.rowsDuplicate);
  metrics.addMetric('CustomersScored', MetricUnit.Count, result.customersScored);
  if (result.status === 'missing_extract') {
    logger.warn('no extract for the date: nothing published', { ...result });
  } else {
    metrics.addMetric(NIGHTLY_METRICS.succeeded, MetricUnit.Count, 1);
    logger.info('run finished', { ...result });
  }
  return result;
}

export const handler = middy(nightly).use(injectLambdaContext(logger)).use(logMetrics(metrics));
