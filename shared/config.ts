/**
 * Run configuration: how to read a source's extracts and how to score. Validated with zod so that a
 * bad file fails before any data is read, with an error naming the bad key.
 *
 * Each key's meaning is its `.describe()` text: the README's run configuration reference (key, type,
 * default, meaning) is generated from this schema by `npm run docs`, so a default is written once,
 * in its `.default()`, and never repeated in a comment.
 *
 * @example A CDNOW-shaped source (whitespace-separated, no transaction id, YYYYMMDD dates):
 * ```json
 * { "input": { "delimiter": "whitespace", "timestamp_format": "%Y%m%d",
 *     "columns": { "customer_id": "customer_id", "ordered_at": "date", "amount": "dollar_value", "quantity": "number_of_cds" },
 *     "transaction_id_from": ["customer_id", "ordered_at", "quantity", "amount"] } }
 * ```
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { SOURCE_KINDS, type SourceKind } from './ingest/kinds.js';
import { GLOBAL_HOLDOUT } from './holdout/assign-sql.js';

/** Canonical fields of a transaction; source columns are mapped onto these names. */
export const FIELDS = [
  'transaction_id',
  'customer_id',
  'ordered_at',
  'amount',
  'unit_price',
  'quantity',
  'channel',
  'currency',
  'is_return',
] as const;
export type Field = (typeof FIELDS)[number];

const scoreRange = z.tuple([z.int().min(1).max(5), z.int().min(1).max(5)]);

const SegmentRuleSchema = z.strictObject({
  segment: z.string().min(1).describe('Name of the segment.'),
  r: scoreRange.default([1, 5]).describe('Recency scores the rule matches: [lowest, highest].'),
  f: scoreRange.default([1, 5]).describe('Frequency scores the rule matches: [lowest, highest].'),
  m: scoreRange.default([1, 5]).describe('Monetary scores the rule matches: [lowest, highest].'),
});
export type SegmentRule = z.infer<typeof SegmentRuleSchema>;

/**
 * The common 11-segment map on the R × F grid (first matching rule wins; M is free by default):
 * ```
 *  R\F   1            2             3               4         5
 *   5    New          Potential L.  Potential L.    Champions Champions
 *   4    Promising    Potential L.  Potential L.    Loyal     Loyal
 *   3    About to Sl. About to Sl.  Need Attention  Loyal     Loyal
 *   2    Hibernating  Hibernating   At Risk         At Risk   Can't Lose Them
 *   1    Lost         Hibernating   At Risk         At Risk   Can't Lose Them
 * ```
 */
export const DEFAULT_SEGMENTS: SegmentRule[] = [
  { segment: 'Champions', r: [5, 5], f: [4, 5], m: [1, 5] },
  { segment: 'Loyal', r: [3, 4], f: [4, 5], m: [1, 5] },
  { segment: 'Potential Loyalist', r: [4, 5], f: [2, 3], m: [1, 5] },
  { segment: 'New', r: [5, 5], f: [1, 1], m: [1, 5] },
  { segment: 'Promising', r: [4, 4], f: [1, 1], m: [1, 5] },
  { segment: 'Need Attention', r: [3, 3], f: [3, 3], m: [1, 5] },
  { segment: 'About to Sleep', r: [3, 3], f: [1, 2], m: [1, 5] },
  { segment: "Can't Lose Them", r: [1, 2], f: [5, 5], m: [1, 5] },
  { segment: 'At Risk', r: [1, 2], f: [3, 4], m: [1, 5] },
  { segment: 'Lost', r: [1, 1], f: [1, 1], m: [1, 5] },
  { segment: 'Hibernating', r: [1, 2], f: [1, 2], m: [1, 5] },
];

/** How any kind of extract's files are read (the transactions' `input`, each CRM kind's `sources.<kind>`). */
const TEXT_SETTINGS = {
  format: z
    .enum(['csv', 'jsonl', 'parquet'])
    .optional()
    .describe('File format; when absent, taken from the file name (.csv, .jsonl/.ndjson, .parquet, each optionally .gz).'),
  delimiter: z
    .union([
      z.literal('whitespace'),
      // `"` quotes fields and line breaks end records: neither can also separate fields.
      z.string().length(1).refine((c) => !'"\r\n'.includes(c), 'the quote character " and line breaks cannot separate fields'),
    ])
    .default(',')
    .describe('CSV field separator: one character, or `"whitespace"` for runs of blanks (CDNOW).'),
  header: z.boolean().default(true).describe('Whether CSV files start with a header line. Without one, `names` names the columns.'),
  names: z
    .array(z.string().min(1))
    .optional()
    .describe('Column names of CSV files without a header line, in file order; required when `header` is false.'),
  parser: z
    .enum(['auto', 'lines'])
    .default('auto')
    .describe('`"auto"`: clean CSV files go through DuckDB\'s parallel reader, files with any problem through the line-by-line path that names each bad line. `"lines"`: always line by line.'),
};
/** Where a kind's fields are in the files, and how its date-times are written. */
function mappingSettings<const F extends readonly [string, ...string[]]>(fields: F, times: string) {
  return {
    columns: z
      .partialRecord(z.enum(fields), z.string().min(1))
      .default({})
      .describe('Canonical field → source column name. An unmapped field is read from the column of its canonical name.'),
    timestamp_format: z.string().min(1).optional().describe(`strptime format of ${times}; when absent, ISO 8601 date or date-time.`),
  };
}

const namesWhenHeaderless: [(input: { header: boolean; names?: string[] | undefined }) => boolean, { message: string; path: string[] }] = [
  (input) => !(input.header === false && !input.names),
  { message: 'names is required when header is false', path: ['names'] },
];

const InputSchema = z
  .strictObject({
    ...TEXT_SETTINGS,
    ...mappingSettings(FIELDS, '`ordered_at` (e.g. `"%Y%m%d"`)'),
    grain: z
      .enum(['order', 'line'])
      .default('order')
      .describe('`"order"`: one row per order. `"line"`: one row per order line; the lines of an order share its id and are summed into one order.'),
    transaction_id_from: z
      .array(z.enum(FIELDS))
      .min(1)
      .optional()
      .describe('Fields whose values identify an order when the source has no id (CDNOW): the id is a hash of them plus the occurrence number.'),
    return_id_prefix: z
      .string()
      .min(1)
      .optional()
      .describe('Order ids starting with this prefix are returns (Online Retail\'s `"C"` invoices).'),
  })
  .refine(...namesWhenHeaderless);

/** One CRM kind's extracts: read like the transactions, with the kind's own column mapping. */
function kindSchema(kind: SourceKind) {
  const fields = kind.fields.map((f) => f.name) as [string, ...string[]];
  const id = kind.key?.length === 1 ? kind.key[0]! : undefined;
  return z
    .strictObject({
      ...TEXT_SETTINGS,
      ...mappingSettings(fields, "the kind's dates and times"),
      // As the transactions' transaction_id_from: a kind identified by one id field can do without it.
      id_from: z
        .array(z.enum(fields.filter((f) => f !== id) as [string, ...string[]]))
        .min(1)
        .optional()
        .describe(id ? `Fields whose values identify a row when the source has no \`${id}\`: the id is a hash of them plus the occurrence number (as \`input.transaction_id_from\`).` : 'Not for this kind: its rows are identified by their fields already.'),
    })
    .refine((input) => id !== undefined || input.id_from === undefined, { message: `${kind.name} has no single id to derive`, path: ['id_from'] })
    .refine(...namesWhenHeaderless);
}

const SourcesSchema = z.strictObject(
  Object.fromEntries(
    SOURCE_KINDS.map((kind) => {
      const schema = kindSchema(kind);
      return [kind.name, schema.default(() => schema.parse({})).describe(`How to read \`${kind.name}/dt=YYYY-MM-DD/\` (fields ${kind.fields.map((f) => `\`${f.name}\``).join(', ')}); read whenever the folder holds files.`)];
    }),
  ) as unknown as Record<SourceKind['name'], z.ZodDefault<ReturnType<typeof kindSchema>>>,
);

const ClvSchema = z.strictObject({
  models: z
    .array(z.enum(['bgnbd', 'mbgnbd', 'pareto_nbd']))
    .min(1)
    // model_fit has one row per model: a model twice would be fitted twice and break that grain.
    .refine((models) => new Set(models).size === models.length, 'each model at most once')
    .default(['bgnbd', 'mbgnbd', 'pareto_nbd'])
    .describe('Purchase-timing models in order of preference; the first whose fit converges scores customers.'),
  time_unit: z
    .enum(['day', 'week'])
    .default('day')
    .describe('Unit of t_x, T and the fitted rates (`"week"` is the CDNOW literature\'s unit).'),
  penalizer: z.number().min(0).default(0).describe('L2 penalty on the models\' log-parameters; 0 is plain maximum likelihood.'),
  horizon_months: z.int().min(1).max(120).default(12).describe('CLV horizon in months of 30 days.'),
  monthly_discount_rate: z
    .number()
    .min(0)
    .max(1)
    .default(0.01)
    .describe('Discount rate per month for CLV (0.01 ≈ 12.7 % a year).'),
  margin: z.number().min(0).max(1).default(1).describe('Share of revenue that is profit, applied to CLV (1 = CLV in revenue).'),
  shards: z
    .int()
    .min(1)
    .max(1000)
    .default(1)
    .describe('Score customers in this many shards, each through files as a fanned-out worker would (1: in one batch inside the engine). The scores are the same either way, bit for bit.'),
  validation: z
    .strictObject({
      holdout_days: z
        .int()
        .min(7)
        .max(730)
        .default(90)
        .describe('Length of the holdout period: the model is refitted on the history up to run date − holdout_days and its predicted repeat purchases in the holdout compared with the actual ones.'),
      every_n_days: z
        .int()
        .min(1)
        .max(366)
        .default(1)
        .describe('Validate on run dates whose day number (days since 1970-01-01) is a multiple of this; 1 is every run.'),
      max_relative_bias: z
        .number()
        .positive()
        .default(0.2)
        .describe('A relative bias of predicted against actual repeat purchases beyond this raises `drift`.'),
    })
    .default({ holdout_days: 90, every_n_days: 1, max_relative_bias: 0.2 })
    .describe('Calibration/holdout check of the purchase-timing model (`model_validation`).'),
});

const HoldoutSchema = z.strictObject({
  salt: z
    .string()
    .default('crm-metrics-holdout')
    .describe('Salt of the assignment hash; changing it reshuffles everyone and starts a new experiment.'),
  control_share: z
    .number()
    .gt(0)
    .lt(1)
    .default(0.05)
    .describe('Share of customers in the control group, which receives no CRM communication.'),
  hash_version: z
    .union([z.literal(1), z.literal(2)])
    .default(2)
    .describe('GrowthBook hash version; 2 is unbiased, 1 only for compatibility with old experiments.'),
  started_at: z.iso
    .date()
    .optional()
    .describe('First day of the current experiment: set it to the day the salt is rotated, so that the `"since_start"` window covers the new groups only. When absent, the start of the history.'),
  window_days: z.int().min(1).max(366).default(30).describe('Length of the rolling analysis window (`"last_<N>_days"`).'),
  min_group_size: z
    .int()
    .min(2)
    .default(30)
    .describe('Smallest group (treatment or control) for which a segment\'s statistics are reported.'),
  min_buyers: z
    .int()
    .min(0)
    .default(30)
    .describe('Fewest customers who bought in the window, in either group, for a row\'s statistics: the intervals rest on the normal approximation, which a handful of buyers\' revenue (and the jumps in their CLV) does not yet follow. Without the rule the first nights of a programme are covered 84 % of the time, not 95 % (test/holdout-coverage.test.ts).'),
  winsor_quantile: z
    .number()
    .gt(0.5)
    .lt(1)
    .default(0.99)
    .describe('Quantile of pooled per-customer revenue at which the winsorized estimate caps.'),
  sequential_tuning: z
    .number()
    .positive()
    .default(5000)
    .describe('N* of the anytime-valid interval (`seq_ci_low`/`seq_ci_high`): the number of customers (both groups) at which it is tightest; GrowthBook\'s default.'),
  channels: z
    .record(
      z.string().regex(/^[a-z0-9_]+$/),
      z.strictObject({
        salt: z.string().min(1).describe('Salt of the channel\'s own hash: it must differ from every other salt, so that the groups are independent.'),
        control_share: z.number().gt(0).lt(1).default(0.05).describe('Share of the treatment group held out of this channel.'),
      }),
      { error: (issue) => (issue.code === 'invalid_key' ? 'not a channel as crm_events names it (lower-case letters, digits, _; e.g. email)' : undefined) },
    )
    .default({})
    .describe('Nested holdouts per CRM channel, e.g. `{"email": {"salt": "email-2025"}}`: among the treatment group, a channel\'s control (its own export, `control-<channel>.csv`) receives everything but that channel, and `holdout_results` gains the channel\'s rows (`holdout`).'),
}).superRefine((holdout, ctx) => {
  // The same salt gives the same hash: the channel control would be the global control, not a sample of the treated.
  const salts = [holdout.salt];
  for (const [channel, { salt }] of Object.entries(holdout.channels)) {
    if (salts.includes(salt)) ctx.addIssue({ code: 'custom', path: ['channels', channel, 'salt'], message: 'already the salt of another holdout: each needs its own' });
    salts.push(salt);
  }
  if (GLOBAL_HOLDOUT in holdout.channels) ctx.addIssue({ code: 'custom', path: ['channels', GLOBAL_HOLDOUT], message: `"${GLOBAL_HOLDOUT}" names the holdout of all channels` });
});

const RoiSchema = z.strictObject({
  fixed_cost_per_day: z
    .number()
    .min(0)
    .default(0)
    .describe('The programme\'s cost per day beyond crm_costs (team, licences), added to each holdout window\'s cost for its ROI.'),
});

const DisplaySchema = z.strictObject({
  locale: z
    .string()
    .refine((locale) => Intl.NumberFormat.supportedLocalesOf([locale]).length > 0, 'a BCP 47 locale, e.g. en-US or de-DE')
    .default('en-US')
    .describe('BCP 47 locale of numbers and dates in Slack answers and reports.'),
  currency: z
    .string()
    .regex(/^[A-Z]{3}$/, 'an ISO 4217 code, e.g. EUR')
    .default('EUR')
    .describe('ISO 4217 code of the currency the amounts are in.'),
});

const KpiSchema = z.strictObject({
  activity_days: z
    .int()
    .min(1)
    .max(3660)
    .default(90)
    .describe('A customer is active while their last purchase is at most this many days old.'),
  period_days: z
    .int()
    .min(1)
    .max(366)
    .default(30)
    .describe('Length of the period flow KPIs (orders, revenue, new, reactivated, churned) cover, ending at the run date.'),
});

const AttributionSchema = z.strictObject({
  click_days: z
    .int()
    .min(0)
    .max(90)
    .default(7)
    .describe("An order goes to the customer's last click on a CRM message in this many days before it …"),
  open_days: z
    .int()
    .min(0)
    .max(90)
    .default(1)
    .describe('… else to their last open in this many days before it; each order to at most one message (`campaign_performance`, `crm_channel_kpi`).'),
});

const EngineSchema = z.strictObject({
  history: z
    .enum(['local', 'athena', 'auto'])
    .default('auto')
    .describe('Where the queries over the whole history run: `"local"` (the embedded engine, on files fetched into the function), `"athena"` (next to the data; only per-customer and per-group rows come back), or `"auto"`: Athena once the history outgrows one function (when Athena is configured).'),
  // Why this default: 1.5 GB ≈ 120M orders at the benchmark's 12 bytes per order ≈ 12M customers,
  // where one 10 GB function keeps a third of its memory and half of its 15 minutes free (README,
  // "The envelope of one Lambda").
  auto_max_history_gb: z
    .number()
    .positive()
    .default(1.5)
    .describe('`"auto"` switches to Athena above this much curated history (Parquet, GB).'),
});

export const ConfigSchema = z.strictObject({
  engine: EngineSchema.default(() => EngineSchema.parse({})).describe('Where the history queries run.'),
  kpi: KpiSchema.default(() => KpiSchema.parse({})).describe('The KPIs of `kpi_daily`.'),
  display: DisplaySchema.default(() => DisplaySchema.parse({})).describe('How numbers and amounts are shown in Slack answers and reports.'),
  input: InputSchema.default(() => InputSchema.parse({})).describe('How to read the extracts: format, columns, grain.'),
  sources: SourcesSchema.default(() => SourcesSchema.parse({})).describe('How to read the CRM platform\'s extracts beside the transactions; each kind is optional.'),
  attribution: AttributionSchema.default(() => AttributionSchema.parse({})).describe('Which CRM message an order is attributed to (last touch).'),
  holdout: HoldoutSchema.default(() => HoldoutSchema.parse({})).describe('The holdout: who is in the control group, and how the difference is analysed (`holdout_results`).'),
  clv: ClvSchema.default(() => ClvSchema.parse({})).describe('The customer-lifetime models and the value they give each customer.'),
  roi: RoiSchema.default(() => RoiSchema.parse({})).describe('What the CRM programme costs, for its return on investment (`holdout_results.roi`).'),
  rfm: z
    .strictObject({
      segments: z
        .array(SegmentRuleSchema)
        .min(1)
        .default(DEFAULT_SEGMENTS)
        .describe('Ordered rules on score ranges; the first match names the segment. Must cover every one of the 125 R/F/M combinations. The default is the segment map under [RFM](#rfm).'),
      grade_min_score: z
        .strictObject({ A: z.int(), B: z.int(), C: z.int(), D: z.int() })
        .default({ A: 13, B: 10, C: 7, D: 5 })
        .describe('Minimum `r_score + f_score + m_score` for grades A-D; lower is E.'),
    })
    .default(() => ({ segments: DEFAULT_SEGMENTS, grade_min_score: { A: 13, B: 10, C: 7, D: 5 } }))
    .superRefine((rfm, ctx) => {
      const gap = firstUncovered(rfm.segments);
      if (gap) {
        ctx.addIssue({
          code: 'custom',
          path: ['segments'],
          message: `no rule matches r=${gap[0]}, f=${gap[1]}, m=${gap[2]}: every combination needs a segment`,
        });
      }
    })
    .describe('RFM segments and grades.'),
});

export type Config = z.infer<typeof ConfigSchema>;
export type InputConfig = Config['input'];

function matches(rule: SegmentRule, r: number, f: number, m: number): boolean {
  const within = (v: number, [lo, hi]: readonly [number, number]) => v >= lo && v <= hi;
  return within(r, rule.r) && within(f, rule.f) && within(m, rule.m);
}

function firstUncovered(rules: readonly SegmentRule[]): [number, number, number] | undefined {
  for (let r = 1; r <= 5; r++)
    for (let f = 1; f <= 5; f++)
      for (let m = 1; m <= 5; m++) if (!rules.some((rule) => matches(rule, r, f, m))) return [r, f, m];
  return undefined;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses a config object; the error names each bad key by its path (e.g. `input.delimiter`). */
export function parseConfig(raw: unknown): Config {
  const result = ConfigSchema.safeParse(raw ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
  throw new ConfigError(`invalid config: ${problems.join('; ')}`);
}

export async function loadConfig(path: string | undefined): Promise<Config> {
  if (!path) return parseConfig({});
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config ${path}`, { cause: error });
  }
  try {
    return parseConfig(JSON.parse(text));
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`config ${path} is not valid JSON: ${(error as Error).message}`);
  }
}

/** Source column feeding a canonical field (its own name unless mapped). */
export function sourceColumn(input: InputConfig, field: Field): string {
  return input.columns[field] ?? field;
}

/** Settings of where and how the work runs, which by design never change a result. */
const EXECUTION_ONLY = new Set(['engine', 'shards']);

/**
 * Short stable fingerprint of the effective configuration, recorded in the run manifest: the
 * settings that shape results (the engine and the shard count are left out; see EXECUTION_ONLY).
 */
export function configHash(config: Config): string {
  const shaping = JSON.stringify(config, (key, value: unknown) => (EXECUTION_ONLY.has(key) ? undefined : value));
  return createHash('sha256').update(shaping).digest('hex').slice(0, 16);
}
