/**
 * The table catalog: every table the product reads or writes, declared once.
 *
 * The Parquet writer (column order and types), the SQL that reads the tables back, the README's
 * table reference and the Glue/Athena table definitions (shared/athena/tables.ts) derive from this file.
 * Every table is Hive-partitioned by `dt` (the run date): `<dest>/<table>/dt=YYYY-MM-DD/data.parquet`.
 */

/** Logical column types, mapped to each engine's type in one place ({@link sqlType}). */
export const COLUMN_TYPES = {
  string: { duckdb: 'VARCHAR', glue: 'string', trino: 'varchar' },
  int: { duckdb: 'INTEGER', glue: 'int', trino: 'integer' },
  bigint: { duckdb: 'BIGINT', glue: 'bigint', trino: 'bigint' },
  double: { duckdb: 'DOUBLE', glue: 'double', trino: 'double' },
  /** Money in the currency's units; exact decimal so sums never drift. */
  money: { duckdb: 'DECIMAL(18,4)', glue: 'decimal(18,4)', trino: 'decimal(18,4)' },
  date: { duckdb: 'DATE', glue: 'date', trino: 'date' },
  timestamp: { duckdb: 'TIMESTAMP', glue: 'timestamp', trino: 'timestamp' },
  boolean: { duckdb: 'BOOLEAN', glue: 'boolean', trino: 'boolean' },
} as const;

export type ColumnType = keyof typeof COLUMN_TYPES;

export interface Column {
  readonly name: string;
  readonly type: ColumnType;
  readonly description: string;
  /** True when NULL is allowed; otherwise a run that writes a NULL fails before publishing. */
  readonly nullable?: boolean;
}

export interface Table {
  readonly name: string;
  /** One line: what the table holds and its grain ("one row per …"). */
  readonly description: string;
  readonly columns: readonly Column[];
  /**
   * Rows are written in this order so that a re-run writes identical files (without it, parallel
   * joins and writers hand rows over in a different order each time; measured).
   */
  readonly orderBy: readonly string[];
  /** The table describes the run itself (ids, timings), so a re-run does not reproduce it byte for byte. */
  readonly describesRun?: boolean;
  /**
   * Partitions add up to one history (each holds the rows a date added) instead of each being a
   * complete snapshot as of its date; such a table has no `<table>_latest` view.
   */
  readonly history?: boolean;
}

/** The Hive partition column of every table: the run date the partition belongs to. */
export const PARTITION_COLUMN: Column = {
  name: 'dt',
  type: 'date',
  description: 'Run date (Hive partition `dt=YYYY-MM-DD`).',
};

const col = (name: string, type: ColumnType, description: string, nullable = false): Column => ({
  name,
  type,
  description,
  nullable,
});

/** Horizons, in days, of the expected purchases and revenue columns (customer_scores, segment_forecast). */
export const FORECAST_HORIZON_DAYS = [30, 90, 365] as const;

export const transactions = {
  name: 'transactions',
  description:
    'Curated, typed, deduplicated history: one row per order (returns included), partitioned by the extract date that first delivered it.',
  columns: [
    col('transaction_id', 'string', 'Order id from the extract, or derived from configured fields when the source has none.'),
    col('customer_id', 'string', 'Customer id as delivered (leading zeros kept).'),
    col('ordered_at', 'timestamp', 'When the order was placed (UTC; ISO offsets are converted).'),
    col('order_date', 'date', 'Calendar date of ordered_at.'),
    col('amount', 'money', 'Order value; negative for returns (net spend is a plain sum).'),
    col('quantity', 'int', 'Units in the order (sum of lines); negative for returns; NULL when not delivered.', true),
    col('channel', 'string', 'Sales channel (e.g. online, store, app); NULL when not delivered.', true),
    col('currency', 'string', 'ISO currency code; NULL when not delivered.', true),
    col('is_return', 'boolean', 'True for a refund/return (flagged in the extract or negative amount).'),
    col('source_file', 'string', 'Extract file the order came from (relative to the source root).'),
  ],
  // Relations of it are written in this order; the ingest writes each night's new orders in the
  // extract's own order instead, as fixed as a sort and 1.4 s cheaper at 10M rows (ingest.ts).
  orderBy: ['transaction_id'],
  history: true,
} as const satisfies Table;

export const rejects = {
  name: 'rejects',
  description:
    'Input rows that could not be accepted, with the reason: one row per rejected line, or per file that could not be read at all.',
  columns: [
    col('source_file', 'string', 'Extract file (relative to the source root).'),
    col('source_line', 'bigint', 'Line (CSV, JSON Lines) or row (Parquet) in the file, 1-based; NULL for a whole-file problem.', true),
    col('reason', 'string', 'Why the row was rejected, naming the field and the bad value.'),
    col('raw', 'string', 'The raw text of the line (invalid bytes shown as U+FFFD), or the row as JSON.', true),
  ],
  orderBy: ['source_file', 'source_line', 'reason'],
} as const satisfies Table;

export const customerScores = {
  name: 'customer_scores',
  description: 'RFM scores as of the run date: one row per customer with at least one purchase in the scoring window.',
  columns: [
    col('customer_id', 'string', 'Customer id.'),
    col('first_purchase_date', 'date', 'Date of the first purchase (returns excluded) in the window.'),
    col('last_purchase_date', 'date', 'Date of the last purchase (returns excluded) in the window.'),
    col('recency_days', 'int', 'Run date minus last_purchase_date, in whole days.'),
    col('frequency', 'int', 'Number of distinct purchase orders in the window (returns excluded).'),
    col('monetary', 'money', 'Net spend in the window: purchases minus returns.'),
    col('returned_amount', 'money', 'Value of returns in the window (positive).'),
    col('r_score', 'int', 'Recency score 1-5 (5 = most recent), by quantile of the customer base; ties share a score.'),
    col('f_score', 'int', 'Frequency score 1-5 (5 = most orders); ties share a score.'),
    col('m_score', 'int', 'Monetary score 1-5 (5 = highest net spend); ties share a score.'),
    col('rfm_code', 'string', 'r_score, f_score and m_score as one code, e.g. "545".'),
    col('segment', 'string', 'Named segment from the configured R/F/M rules (e.g. Champions, At Risk).'),
    col('grade', 'string', 'Value grade A-E (A = most valuable) from r_score + f_score + m_score.'),
    col('p_alive', 'double', 'Probability that the customer is still active (the first converged purchase-timing model); NULL when none converged.', true),
    ...FORECAST_HORIZON_DAYS.map((d) =>
      col(`expected_purchases_${d}d`, 'double', `Expected purchases in the next ${d} days; NULL when no purchase-timing model converged.`, true),
    ),
    col('expected_order_value', 'double', 'Gamma-Gamma expected value of a future order (population mean for one-time buyers); NULL when the fit did not converge.', true),
    col('clv', 'double', 'Discounted value of the next clv.horizon_months months (config; default 12 at 1 % a month): expected purchases per month × expected_order_value × margin, in the input currency; NULL when a fit did not converge.', true),
  ],
  orderBy: ['customer_id'],
} as const satisfies Table;

export const segmentSummary = {
  name: 'segment_summary',
  description: 'One row per segment at the run date: size, value and average RFM.',
  columns: [
    col('segment', 'string', 'Segment name.'),
    col('customers', 'bigint', 'Customers in the segment.'),
    col('share_of_customers', 'double', 'customers / all scored customers.'),
    col('monetary_total', 'money', 'Sum of monetary (net spend) over the segment.'),
    col('share_of_monetary', 'double', 'monetary_total / net spend of all scored customers (NULL when that is 0).', true),
    col('avg_recency_days', 'double', 'Mean recency_days.'),
    col('avg_frequency', 'double', 'Mean frequency.'),
    col('avg_monetary', 'double', 'Mean monetary.'),
  ],
  orderBy: ['segment'],
} as const satisfies Table;

export const segmentMigration = {
  name: 'segment_migration',
  description:
    'Customers moving between segments and grades from the previous run to this one: one row per (from, to) pair.',
  columns: [
    col('previous_dt', 'date', 'Run date of the previous scores compared against; NULL on the first run.', true),
    col('from_segment', 'string', 'Segment at the previous run; NULL for customers scored for the first time.', true),
    col('from_grade', 'string', 'Grade at the previous run; NULL for customers scored for the first time.', true),
    col('to_segment', 'string', 'Segment at this run; NULL for customers no longer scored.', true),
    col('to_grade', 'string', 'Grade at this run; NULL for customers no longer scored.', true),
    col('customers', 'bigint', 'Number of customers making this move.'),
  ],
  orderBy: ['from_segment', 'from_grade', 'to_segment', 'to_grade'],
} as const satisfies Table;

const forecastColumns = FORECAST_HORIZON_DAYS.flatMap((d) => [
  col(`expected_purchases_${d}d`, 'double', `Sum of the customers' expected purchases in the next ${d} days; NULL when no model converged.`, true),
  col(`expected_revenue_${d}d`, 'double', `Sum of expected purchases × expected order value over the next ${d} days, in the input currency; NULL when a model did not converge.`, true),
]);

export const segmentForecast = {
  name: 'segment_forecast',
  description: 'Expected purchases and revenue per segment and grade over the next 30, 90 and 365 days: one row per (segment, grade).',
  columns: [
    col('segment', 'string', 'Segment name.'),
    col('grade', 'string', 'Value grade A-E.'),
    col('customers', 'bigint', 'Customers in the segment and grade.'),
    ...forecastColumns,
    col('clv_total', 'double', 'Sum of the customers\' clv; NULL when a model did not converge.', true),
  ],
  orderBy: ['segment', 'grade'],
} as const satisfies Table;

export const holdoutAssignment = {
  name: 'holdout_assignment',
  description:
    'The 95/5 holdout: one row per customer in the history with its group, from a salted GrowthBook-compatible hash (sticky until the salt changes).',
  columns: [
    col('customer_id', 'string', 'Customer id.'),
    col('holdout_group', 'string', '"control" (receives no CRM communication) or "treatment".'),
    col('salt', 'string', 'Salt of the hash (holdout.salt); a new salt starts a new experiment.'),
    col('hash_version', 'int', "GrowthBook hash version (2: fnv32a(str(fnv32a(salt + id))) % 10000 / 10000; control when below holdout.control_share)."),
    col('assigned_at', 'date', 'Date of the customer\'s first order in the history: when they entered the experiment.'),
  ],
  orderBy: ['customer_id'],
} as const satisfies Table;

const num = (name: string, description: string) => col(name, 'double', description, true);

export const holdoutResults = {
  name: 'holdout_results',
  description:
    'Incremental revenue of CRM communication: treatment vs the holdout control, per analysis window and pre-period segment ("ALL" for everyone).',
  columns: [
    col('window', 'string', '"last_<N>_days" (holdout.window_days) or "since_start" (from holdout.started_at, the salt\'s first day; default the start of the history).'),
    col('segment', 'string', 'Segment at the start of the window (from the scores of the day before), "unknown" without one, or "ALL".'),
    col('n_treatment', 'bigint', 'Treatment customers known by the end of the window.'),
    col('n_control', 'bigint', 'Control customers known by the end of the window.'),
    num('revenue_treatment', 'Net revenue of the treatment group in the window.'),
    num('revenue_control', 'Net revenue of the control group in the window.'),
    num('mean_treatment', 'Revenue per treatment customer.'),
    num('mean_control', 'Revenue per control customer.'),
    num('sd_treatment', 'Standard deviation of revenue per treatment customer.'),
    num('sd_control', 'Standard deviation of revenue per control customer.'),
    num('delta_per_customer', 'mean_treatment − mean_control.'),
    num('df', 'Welch–Satterthwaite degrees of freedom of the test.'),
    num('incremental_revenue', '(revenue_treatment / n_treatment − revenue_control / n_control) × n_treatment.'),
    num('ci_low', '95 % CI of incremental_revenue: n_treatment × Welch CI of the difference in means.'),
    num('ci_high', 'Upper end of that CI.'),
    num('p_value', "Two-sided Welch t-test p-value (Welch–Satterthwaite df)."),
    num('p_value_bh', 'Benjamini–Hochberg adjusted p-value across the segments of the window (NULL for ALL).'),
    num('relative_lift', 'mean_treatment / mean_control − 1.'),
    num('relative_ci_low', '95 % CI of the relative lift (delta method).'),
    num('relative_ci_high', 'Upper end of that CI.'),
    num('mde_per_customer', 'Minimum detectable difference in revenue per customer at 80 % power.'),
    num('conversion_treatment', 'Share of treatment customers who purchased in the window.'),
    num('conversion_control', 'Share of control customers who purchased in the window.'),
    num('conversion_difference', 'conversion_treatment − conversion_control.'),
    num('conversion_p_value', 'Two-proportion z-test p-value of the conversion difference.'),
    num('cuped_incremental_revenue', 'incremental_revenue with CUPED (covariate: revenue in the equally long period before the window).'),
    num('cuped_ci_low', '95 % CI of the CUPED estimate.'),
    num('cuped_ci_high', 'Upper end of that CI.'),
    num('cuped_p_value', 'p-value of the CUPED estimate.'),
    num('winsor_cap', 'Cap on per-customer revenue: the pooled holdout.winsor_quantile of the window.'),
    num('winsorized_incremental_revenue', 'incremental_revenue with per-customer revenue capped at winsor_cap.'),
    num('winsorized_ci_low', '95 % CI of the winsorized estimate.'),
    num('winsorized_ci_high', 'Upper end of that CI.'),
    num('winsorized_p_value', 'p-value of the winsorized estimate.'),
    num('srm_p_value', 'Chi-square p-value of the group sizes against holdout.control_share.'),
    col('srm_flag', 'boolean', 'True when srm_p_value < 0.001: the split is not what was configured, distrust the row.'),
    col('verdict', 'string', '"significant gain", "significant loss", "inconclusive", or "suppressed: …" for groups below holdout.min_group_size.'),
  ],
  orderBy: ['window', 'segment'],
} as const satisfies Table;

export const modelValidation = {
  name: 'model_validation',
  description:
    'Calibration/holdout check of the purchase-timing model: refit up to run date − holdout, predicted vs actual repeat purchases in the holdout, per calibration frequency bucket and overall ("all").',
  columns: [
    col('model', 'string', 'Model the check used (the first in clv.models whose calibration fit converged).'),
    col('calibration_end', 'date', 'Last day of the calibration period (run date − holdout_days).'),
    col('holdout_days', 'int', 'Length of the holdout period in days.'),
    col('frequency_bucket', 'string', 'Repeat purchases in the calibration period: "0".."6", "7+", or "all".'),
    col('customers', 'bigint', 'Customers in the bucket (first purchase by calibration_end).'),
    col('predicted_mean', 'double', 'Mean predicted repeat purchase days in the holdout.'),
    col('actual_mean', 'double', 'Mean actual purchase days in the holdout.'),
    col('mae', 'double', 'Mean absolute error per customer.'),
    col('relative_bias', 'double', '(predicted − actual) / actual over the bucket; NULL when actual is 0.', true),
    col('drift', 'boolean', 'True when the overall |relative bias| exceeds clv.validation.max_relative_bias (same on every row).'),
  ],
  orderBy: ['frequency_bucket'],
} as const satisfies Table;

export const kpiDaily = {
  name: 'kpi_daily',
  description:
    'CRM KPIs as of the run date, long format: one row per (metric, channel), "ALL" for every channel together (definitions in the README).',
  columns: [
    col('metric', 'string', 'KPI name, e.g. active_customers, retention_rate, revenue (each defined below the table).'),
    col('channel', 'string', 'Sales channel; "ALL" for the total, "unknown" for orders delivered without one.'),
    col('value', 'double', 'Value of the KPI; NULL when it has no base (a rate over zero customers).', true),
  ],
  orderBy: ['metric', 'channel'],
} as const satisfies Table;

export const roc = {
  name: 'roc',
  description:
    'Return on Customer per period and segment: (cash flow from the customers + change in their customer equity) / equity at the start (Peppers & Rogers 2005).',
  columns: [
    col('period', 'string', 'Period ending at the run date: "1d" or "30d".'),
    col('period_start', 'date', 'Scores of this date are the start of the period (run date − period).'),
    col('segment', 'string', 'Segment at the start of the period, or "ALL".'),
    col('customers', 'bigint', 'Customers scored at the start (the cohort; customers acquired during the period are not in it).'),
    col('equity_start', 'double', 'Customer equity at the start: sum of the cohort\'s clv then; NULL when no model converged.', true),
    col('equity_end', 'double', 'Sum of the same customers\' clv at the run date.', true),
    col('cash_flow', 'double', 'Net revenue (purchases − returns) of the cohort in the period.'),
    col('equity_change', 'double', 'equity_end − equity_start.', true),
    col('roc', 'double', '(cash_flow + equity_change) / equity_start; NULL when equity_start is NULL or 0.', true),
  ],
  orderBy: ['period', 'segment'],
} as const satisfies Table;

export const forecastAccuracy = {
  name: 'forecast_accuracy',
  description:
    'Forecasts whose period ended at the run date, beside what happened: one row per (forecast date, horizon, segment, grade), "ALL" for the total.',
  columns: [
    col('forecast_dt', 'date', 'Run date of the segment_forecast being checked (run date − horizon).'),
    col('horizon_days', 'int', 'Forecast horizon: 30, 90 or 365 days.'),
    col('segment', 'string', 'Segment at the forecast date, or "ALL".'),
    col('grade', 'string', 'Grade at the forecast date, or "ALL".'),
    col('customers', 'bigint', 'Customers in the segment and grade at the forecast date.'),
    col('expected_revenue', 'double', 'expected_revenue_<horizon>d of that forecast (purchases, in the input currency); NULL when no model converged.', true),
    col('actual_revenue', 'double', 'Value of the purchases (returns excluded, as the model forecasts purchases) those customers made in the horizon.'),
    col('error', 'double', 'expected_revenue − actual_revenue (positive: the model over-forecast).', true),
    col('relative_error', 'double', 'error / actual_revenue; NULL when actual_revenue is 0.', true),
  ],
  orderBy: ['horizon_days', 'segment', 'grade'],
} as const satisfies Table;

export const modelFit = {
  name: 'model_fit',
  description: 'One row per CLV model fitted in the run: parameters, fit quality and convergence.',
  columns: [
    col('model', 'string', 'Model: "bgnbd", "mbgnbd", "pareto_nbd" (purchase timing, tried in the configured order until one converges) or "gamma_gamma" (spend).'),
    col('time_unit', 'string', 'Time unit of the fit: "day" or "week".'),
    col('params', 'string', 'Fitted parameters as a JSON object, named as in the literature (r, alpha, a, b, s, beta; p, q, v).'),
    col('log_likelihood', 'double', 'Log-likelihood at the fitted parameters; NULL when the fit could not start.', true),
    col('n_customers', 'bigint', 'Customers the model was fitted on.'),
    col('n_distinct_rows', 'bigint', 'Distinct (x, t_x, T) or (x, mean spend) rows actually fitted, each with a weight.'),
    col('converged', 'boolean', 'Whether the optimiser met its gradient criterion; predictions are only made when true.'),
    col('iterations', 'int', 'Optimiser iterations.'),
    col('seconds', 'double', 'Wall time of the fit.'),
    col('message', 'string', 'Why the optimiser stopped, in words.'),
  ],
  orderBy: ['model'],
  describesRun: true,
} as const satisfies Table;

export const runManifest = {
  name: 'run_manifest',
  description: 'One row per published run: what was read and how it ended. Written last, after every other table.',
  columns: [
    col('run_id', 'string', 'Unique id of the run.'),
    col('status', 'string', '"succeeded", or "empty_extract" when the extract held no usable rows.'),
    col('files_read', 'int', 'Extract files read.'),
    col('rows_read', 'bigint', 'Input rows seen (plus one per file that could not be read at all).'),
    col('rows_accepted', 'bigint', 'Rows that became part of a new order in transactions.'),
    col('rows_rejected', 'bigint', 'Rows written to rejects.'),
    col('rows_duplicate', 'bigint', 'Rows whose order id was already seen (this extract or an earlier day).'),
    col('orders_added', 'bigint', 'Orders added to transactions for this date.'),
    col('customers_scored', 'bigint', 'Rows written to customer_scores.'),
    col('config_hash', 'string', 'SHA-256 of the effective configuration that shapes results (first 16 hex digits; engine and shard settings left out).'),
    col('input_files', 'string', 'Lineage: the extract files read, as a JSON array of {file, bytes, etag} (S3 ETag; locally a weak tag of size and modification time).'),
    col('started_at', 'timestamp', 'Run start (UTC).'),
    col('finished_at', 'timestamp', 'Run end, before the manifest is published (UTC).'),
  ],
  orderBy: ['run_id'],
  describesRun: true,
} as const satisfies Table;

/** Every table, in publishing order: the manifest last, so a reader seeing it sees a complete run. */
export const CATALOG = [
  transactions,
  rejects,
  customerScores,
  segmentSummary,
  segmentMigration,
  segmentForecast,
  holdoutAssignment,
  holdoutResults,
  modelValidation,
  kpiDaily,
  roc,
  forecastAccuracy,
  modelFit,
  runManifest,
] as const satisfies readonly Table[];

/** The tables a re-run of a date reproduces byte for byte (all but those describing the run). */
export const REPRODUCIBLE_TABLES: readonly Table[] = (CATALOG as readonly Table[]).filter((t) => !t.describesRun);

export function sqlType(type: ColumnType): string {
  return COLUMN_TYPES[type].duckdb;
}

/** `<table>/dt=YYYY-MM-DD/` — the partition prefix of a table for a run date. */
export function partitionPrefix(table: Pick<Table, 'name'>, date: string): string {
  return `${table.name}/dt=${date}/`;
}

/** The single data file of a partition. One fixed name makes every publish a replace, never an add. */
export function partitionKey(table: Pick<Table, 'name'>, date: string): string {
  return `${partitionPrefix(table, date)}data.parquet`;
}
