/**
 * What the run report shows, gathered from the run's own output files and the last runs' KPI and
 * forecast-accuracy partitions (for the trends). Small queries over small tables: the report adds
 * little to a night.
 */
import type { SqlEngine, SqlRow } from '../engine/sql-engine.js';
import { exactSum, readParquet } from '../sql/dialect.js';
import { CAMPAIGN_RANKING } from '../tables/campaign-performance.js';
import { GLOBAL_HOLDOUT_ROWS, JUDGED_INTERVAL, JUDGED_ROI_INTERVAL } from '../tables/holdout-results.js';
import type { ReportData } from './html.js';

/** How many earlier runs the trend charts reach back. */
export const TREND_RUNS = 60;

/** KPIs the trend charts show (channel ALL). */
export const TREND_METRICS = ['active_customers', 'revenue', 'average_order_value', 'retention_rate', 'repeat_purchase_rate', 'return_rate'] as const;

const CLV_BUCKETS = 20;
/** Rows of the report's top lists (campaigns, referrers). */
const TOP_ROWS = 10;
const CRM_CHANNEL_METRICS = ['delivered', 'open_rate', 'click_through_rate', 'unsubscribe_rate', 'consented_customers', 'attributed_revenue', 'attributed_revenue_share', 'cost'] as const;

export interface ReportSources {
  /** This run's output file of a table, by table name. */
  output: (table: string) => string;
  /** Earlier runs' kpi_daily and forecast_accuracy files with their dates (at most TREND_RUNS). */
  kpiHistory: readonly { date: string; file: string }[];
  forecastHistory: readonly { date: string; file: string }[];
  /** This run's scores with clv (a relation). */
  scores: string;
}

const num = (row: SqlRow, column: string) => (row[column] === null || row[column] === undefined ? null : Number(row[column]));
const str = (row: SqlRow, column: string) => String(row[column] ?? '');

/** `SELECT … FROM` each dated file, with its date as a column, in one relation. */
function dated(files: readonly { date: string; file: string }[], columns: string): string | undefined {
  if (files.length === 0) return undefined;
  return files.map(({ date, file }) => `SELECT '${date}' AS date, ${columns} FROM ${readParquet([file])}`).join(' UNION ALL ');
}

export async function gatherReportData(
  engine: SqlEngine,
  sources: ReportSources,
  base: Pick<ReportData, 'date' | 'display' | 'run'>,
): Promise<ReportData> {
  const from = (table: string) => readParquet([sources.output(table)]);
  const query = (sql: string) => engine.query(sql);

  const segments = await query(`SELECT s.segment, CAST(s.customers AS DOUBLE) AS customers, CAST(s.monetary_total AS DOUBLE) AS monetary,
      c.clv_sum / nullif(c.clv_count, 0) AS avg_clv
    FROM ${from('segment_summary')} AS s
    LEFT JOIN (SELECT segment, ${exactSum('clv')} AS clv_sum, CAST(count(clv) AS DOUBLE) AS clv_count FROM (${sources.scores}) AS x GROUP BY segment) AS c
      ON c.segment = s.segment
    ORDER BY customers DESC, s.segment`);
  const migration = await query(`SELECT from_segment, to_segment, CAST(sum(customers) AS DOUBLE) AS customers,
      CAST(max(previous_dt) AS VARCHAR) AS previous_dt
    FROM ${from('segment_migration')} GROUP BY from_segment, to_segment ORDER BY from_segment, to_segment`);
  // Equal-width buckets up to the 99th percentile; the last one takes the long tail.
  const histogram = await query(`WITH v AS (SELECT clv FROM (${sources.scores}) AS x WHERE clv IS NOT NULL),
    edge AS (SELECT quantile_disc(clv, 0.99) / ${CLV_BUCKETS} AS width, max(clv) AS top FROM v),
    b AS (SELECT CASE WHEN edge.width > 0 THEN least(CAST(floor(clv / edge.width) AS INTEGER), ${CLV_BUCKETS - 1}) ELSE 0 END AS bucket FROM v, edge)
    SELECT bucket, CAST(count(*) AS DOUBLE) AS customers, any_value(edge.width) AS width, any_value(edge.top) AS top
    FROM b, edge GROUP BY bucket ORDER BY bucket`);
  const calibration = await query(`SELECT model, CAST(calibration_end AS VARCHAR) AS calibration_end, holdout_days, frequency_bucket,
      CAST(customers AS DOUBLE) AS customers, predicted_mean, actual_mean
    FROM ${from('model_validation')} ORDER BY frequency_bucket`);
  const tracking = await query(`SELECT CAST(day AS VARCHAR) AS day, CAST(actual_cumulative AS DOUBLE) AS actual, expected_cumulative AS expected FROM ${from('model_tracking')} ORDER BY day`);
  const holdoutResults = await query(`SELECT holdout, "window", segment, incremental_revenue, ${JUDGED_INTERVAL}, verdict, n_treatment, n_control, incremental_value, cost, roi, ${JUDGED_ROI_INTERVAL}
    FROM ${from('holdout_results')} ORDER BY holdout, "window", segment`);
  const holdoutDaily = await query(`SELECT CAST(night AS VARCHAR) AS night, incremental_revenue, seq_ci_low, seq_ci_high FROM ${from('holdout_daily')} ORDER BY night`);
  const [leaks] = await query(`SELECT CAST(count(*) AS DOUBLE) AS n FROM ${from('holdout_leaks')} WHERE ${GLOBAL_HOLDOUT_ROWS}`);
  const roc = await query(`SELECT period, segment, equity_start, cash_flow, equity_change, roc FROM ${from('roc')} ORDER BY period, segment`);
  const kpiFiles = [...sources.kpiHistory, { date: base.date, file: sources.output('kpi_daily') }];
  const metrics = TREND_METRICS.map((m) => `'${m}'`).join(', ');
  const kpiTrend = await query(`SELECT date, metric, value FROM (${dated(kpiFiles, 'metric, channel, value')}) AS k
    WHERE channel = 'ALL' AND metric IN (${metrics}) ORDER BY metric, date`);
  const forecastFiles = [...sources.forecastHistory, { date: base.date, file: sources.output('forecast_accuracy') }];
  const accuracy = await query(`SELECT CAST(forecast_dt AS VARCHAR) AS forecast_dt, horizon_days, expected_revenue, actual_revenue
    FROM (${dated(forecastFiles, 'forecast_dt, horizon_days, segment, expected_revenue, actual_revenue')}) AS f
    WHERE segment = 'ALL' ORDER BY horizon_days, forecast_dt`);

  const crmChannels = await query(`SELECT crm_channel, ${CRM_CHANNEL_METRICS.map((m) => `max(CASE WHEN metric = '${m}' THEN value END) AS ${m}`).join(', ')}
    FROM ${from('crm_channel_kpi')} GROUP BY crm_channel ORDER BY crm_channel = 'ALL', crm_channel`);
  const campaigns = await query(`SELECT campaign_id, channel, CAST(delivered AS DOUBLE) AS delivered, open_rate, click_through_rate,
      CAST(attributed_orders AS DOUBLE) AS attributed_orders, CAST(attributed_revenue AS DOUBLE) AS attributed_revenue, CAST(cost AS DOUBLE) AS cost
    FROM ${from('campaign_performance')} ORDER BY ${CAMPAIGN_RANKING} LIMIT ${TOP_ROWS}`);
  const nps = await query(`SELECT segment, CAST(responses AS DOUBLE) AS responses, nps, nps_ci_low, nps_ci_high FROM ${from('survey_summary')} ORDER BY segment`);
  const [referralTotals] = await query(`SELECT CAST(count(*) AS DOUBLE) AS referrers, CAST(coalesce(sum(referred_customers), 0) AS DOUBLE) AS referred,
      coalesce(${exactSum('influence_value')}, 0) AS influence FROM ${from('referral_value')}`);
  const referrers = await query(`SELECT r.referrer_id, CAST(r.referred_customers AS DOUBLE) AS referred, CAST(r.referred_revenue AS DOUBLE) AS referred_revenue,
      r.influence_value, s.clv
    FROM ${from('referral_value')} AS r LEFT JOIN (${sources.scores}) AS s ON s.customer_id = r.referrer_id
    ORDER BY r.influence_value DESC, r.referrer_id LIMIT ${TOP_ROWS}`);

  const validation = calibration.filter((r) => r['frequency_bucket'] !== 'all');
  return {
    ...base,
    holdout: holdoutResults.map((r) => ({
      holdout: str(r, 'holdout'),
      window: str(r, 'window'),
      segment: str(r, 'segment'),
      incremental: num(r, 'incremental_revenue'),
      ciLow: num(r, 'ci_low'),
      ciHigh: num(r, 'ci_high'),
      pValue: num(r, 'p_value'),
      verdict: str(r, 'verdict'),
      nTreatment: num(r, 'n_treatment') ?? 0,
      nControl: num(r, 'n_control') ?? 0,
      value: num(r, 'incremental_value'),
      cost: num(r, 'cost'),
      roi: num(r, 'roi'),
      roiCiLow: num(r, 'roi_ci_low'),
      roiCiHigh: num(r, 'roi_ci_high'),
    })),
    holdoutDaily: holdoutDaily.map((r) => ({ night: str(r, 'night'), incremental: num(r, 'incremental_revenue'), seqLow: num(r, 'seq_ci_low'), seqHigh: num(r, 'seq_ci_high') })),
    holdoutLeaks: (leaks && num(leaks, 'n')) ?? 0,
    segments: segments.map((r) => ({ segment: str(r, 'segment'), customers: num(r, 'customers') ?? 0, monetary: num(r, 'monetary') ?? 0, avgClv: num(r, 'avg_clv') })),
    migration: migration.map((r) => ({ from: r['from_segment'] === null ? null : str(r, 'from_segment'), to: r['to_segment'] === null ? null : str(r, 'to_segment'), customers: num(r, 'customers') ?? 0 })),
    previousDate: migration.find((r) => r['previous_dt'])?.['previous_dt'] as string | undefined ?? null,
    clvHistogram: histogram.map((r) => {
      const width = num(r, 'width') ?? 0;
      const bucket = num(r, 'bucket') ?? 0;
      const last = bucket === CLV_BUCKETS - 1 || width === 0;
      return { low: bucket * width, high: last ? (num(r, 'top') ?? 0) : (bucket + 1) * width, customers: num(r, 'customers') ?? 0 };
    }),
    calibration: validation.map((r) => ({ bucket: str(r, 'frequency_bucket'), customers: num(r, 'customers') ?? 0, predicted: num(r, 'predicted_mean') ?? 0, actual: num(r, 'actual_mean') ?? 0 })),
    calibrationModel: calibration[0] ? str(calibration[0], 'model') : null,
    tracking: tracking.map((t) => ({ day: str(t, 'day'), actual: num(t, 'actual') ?? 0, expected: num(t, 'expected') ?? 0 })),
    calibrationEnd: calibration[0] ? str(calibration[0], 'calibration_end') : null,
    holdoutDays: calibration[0] ? num(calibration[0], 'holdout_days') : null,
    kpiTrend: kpiTrend.map((r) => ({ date: str(r, 'date'), metric: str(r, 'metric'), value: num(r, 'value') })),
    roc: roc.map((r) => ({ period: str(r, 'period'), segment: str(r, 'segment'), equityStart: num(r, 'equity_start'), cashFlow: num(r, 'cash_flow'), equityChange: num(r, 'equity_change'), roc: num(r, 'roc') })),
    forecastAccuracy: accuracy.map((r) => ({ forecastDate: str(r, 'forecast_dt'), horizonDays: num(r, 'horizon_days') ?? 0, expected: num(r, 'expected_revenue'), actual: num(r, 'actual_revenue') })),
    crmChannels: crmChannels.map((r) => ({
      channel: str(r, 'crm_channel'),
      delivered: num(r, 'delivered'),
      openRate: num(r, 'open_rate'),
      clickThroughRate: num(r, 'click_through_rate'),
      unsubscribeRate: num(r, 'unsubscribe_rate'),
      consented: num(r, 'consented_customers'),
      attributedRevenue: num(r, 'attributed_revenue'),
      revenueShare: num(r, 'attributed_revenue_share'),
      cost: num(r, 'cost'),
    })),
    campaigns: campaigns.map((r) => ({
      campaign: str(r, 'campaign_id'),
      channel: str(r, 'channel'),
      delivered: num(r, 'delivered') ?? 0,
      openRate: num(r, 'open_rate'),
      clickThroughRate: num(r, 'click_through_rate'),
      attributedOrders: num(r, 'attributed_orders') ?? 0,
      attributedRevenue: num(r, 'attributed_revenue') ?? 0,
      cost: num(r, 'cost') ?? 0,
    })),
    nps: nps.map((r) => ({ segment: str(r, 'segment'), responses: num(r, 'responses') ?? 0, nps: num(r, 'nps'), ciLow: num(r, 'nps_ci_low'), ciHigh: num(r, 'nps_ci_high') })),
    referrals: {
      referrers: (referralTotals && num(referralTotals, 'referrers')) ?? 0,
      referred: (referralTotals && num(referralTotals, 'referred')) ?? 0,
      influence: (referralTotals && num(referralTotals, 'influence')) ?? 0,
      top: referrers.map((r) => ({ customer: str(r, 'referrer_id'), referred: num(r, 'referred') ?? 0, referredRevenue: num(r, 'referred_revenue') ?? 0, influence: num(r, 'influence_value') ?? 0, ownClv: num(r, 'clv') })),
    },
  };
}
