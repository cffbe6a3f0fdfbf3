/**
 * Names the nightly handler publishes its CloudWatch metrics under and the stack's alarms watch:
 * one definition, so an alarm cannot silently watch a metric nobody emits.
 */
export const NIGHTLY_METRICS = {
  namespace: 'CrmMetrics',
  /** Powertools adds it as the `service` dimension of every metric. */
  service: 'crm-metrics-nightly',
  /** 1 per run that published (an empty extract included); the "no successful run in 26 h" alarm. */
  succeeded: 'RunsSucceeded',
} as const;
