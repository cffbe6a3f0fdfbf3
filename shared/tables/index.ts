/**
 * The published tables, one model file each, in publishing order: the manifest last, so that a
 * reader who sees it sees a complete run. A new table is a new file here and its test.
 */
import type { Table } from '../catalog.js';
import type { Config } from '../config.js';
import { factsSpec, type FactsSpec } from '../history/customer-facts.js';
import type { TableModel } from './model.js';
import { transactions } from './transactions.js';
import { rejects } from './rejects.js';
import { customerProfiles } from './customer-profiles.js';
import { crmEvents } from './crm-events.js';
import { surveyResponses } from './survey-responses.js';
import { crmCosts } from './crm-costs.js';
import { sourceManifest } from './source-manifest.js';
import { customers } from './customers.js';
import { surveySummary } from './survey-summary.js';
import { holdoutLeaks } from './holdout-leaks.js';
import { campaignDaily } from './campaign-daily.js';
import { campaignPerformance } from './campaign-performance.js';
import { crmChannelKpi } from './crm-channel-kpi.js';
import { referralValue } from './referral-value.js';
import { customerScores } from './customer-scores.js';
import { segmentSummary } from './segment-summary.js';
import { segmentMigration } from './segment-migration.js';
import { segmentForecast } from './segment-forecast.js';
import { holdoutAssignment } from './holdout-assignment.js';
import { holdoutResults } from './holdout-results.js';
import { holdoutDaily } from './holdout-daily.js';
import { modelTracking } from './model-tracking.js';
import { modelValidation } from './model-validation.js';
import { kpiDaily } from './kpi-daily.js';
import { roc } from './roc.js';
import { forecastAccuracy } from './forecast-accuracy.js';
import { modelFit } from './model-fit.js';
import { runManifest } from './run-manifest.js';

export { transactions, customerProfiles, customers, surveySummary, holdoutLeaks, referralValue, campaignDaily, campaignPerformance, crmChannelKpi, crmEvents, surveyResponses, crmCosts, rejects, sourceManifest, customerScores, segmentSummary, segmentMigration, segmentForecast, holdoutAssignment, holdoutResults, holdoutDaily, modelValidation, modelTracking, kpiDaily, roc, forecastAccuracy, modelFit, runManifest };

export const TABLES = [
  transactions,
  customerProfiles,
  crmEvents,
  surveyResponses,
  crmCosts,
  rejects,
  sourceManifest,
  customers,
  referralValue,
  customerScores,
  segmentSummary,
  segmentMigration,
  segmentForecast,
  holdoutAssignment,
  holdoutResults,
  holdoutDaily,
  holdoutLeaks,
  modelValidation,
  modelTracking,
  kpiDaily,
  campaignDaily,
  campaignPerformance,
  crmChannelKpi,
  surveySummary,
  roc,
  forecastAccuracy,
  modelFit,
  runManifest,
] as const;

/** What the night's pass over the history computes: what the tables ask for, on the run's date. */
export function tablesFactsSpec(config: Config, date: string): FactsSpec {
  return factsSpec(date, (TABLES as readonly TableModel[]).map((table) => (table.phase ? undefined : table.facts?.(config, date))));
}

/** The tables a re-run of a date reproduces byte for byte (all but those describing the run). */
export const REPRODUCIBLE_TABLES: readonly Table[] = (TABLES as readonly Table[]).filter((t) => !t.describesRun);
