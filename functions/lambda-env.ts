/**
 * What every pipeline Lambda shares: structured logs and EMF metrics (Powertools), the run's
 * dependencies from the environment, and the figures a finished run reports.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { AthenaRemote } from '../shared/adapters/athena-remote.js';
import { parseConfig } from '../shared/config.js';
import { DuckDbEngine } from '../shared/adapters/duckdb.js';
import { NIGHTLY_METRICS } from '../shared/metrics.js';
import type { RunDeps, RunResult } from '../shared/pipeline.js';
import { storeFor } from '../shared/adapters/stores.js';
import { readEnv } from './env.js';

export const logger = new Logger({ serviceName: NIGHTLY_METRICS.service });
export const metrics = new Metrics({ namespace: NIGHTLY_METRICS.namespace, serviceName: NIGHTLY_METRICS.service });

/** The run's dependencies from the function's environment; stage durations become metrics. */
export function runDepsFromEnv(): RunDeps & { destUri: string } {
  const env = readEnv(['SOURCE_URI', 'DEST_URI'], ['CONFIG_JSON', 'ENGINE_MEMORY_LIMIT', 'ATHENA_WORKGROUP', 'GLUE_DATABASE']);
  let previousMs = 0;
  const dest = storeFor(env.DEST_URI);
  const { ATHENA_WORKGROUP: workGroup, GLUE_DATABASE: database } = env;
  return {
    destUri: env.DEST_URI,
    source: storeFor(env.SOURCE_URI),
    dest,
    ...(workGroup && database
      ? { remote: AthenaRemote.connect(workGroup, database, dest) }
      : {}),
    config: parseConfig(env.CONFIG_JSON ? JSON.parse(env.CONFIG_JSON) : {}),
    openEngine: (options) => DuckDbEngine.open({ ...options, memoryLimit: env.ENGINE_MEMORY_LIMIT }),
    onProgress: ({ stage, rows, elapsedMs }) => {
      logger.info('progress', { stage, rows, elapsedMs });
      const stageMetric = metrics.singleMetric();
      stageMetric.addDimension('stage', stage);
      stageMetric.addMetric('StageDuration', MetricUnit.Milliseconds, elapsedMs - previousMs);
      previousMs = elapsedMs;
    },
  };
}

/** Logs a finished run and adds its figures (and RunsSucceeded, which the alarm watches) as metrics. */
export function recordRun(result: RunResult): void {
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
}
