/**
 * Deployment configuration: where the data lives, when the night runs, how big the function is,
 * and the product's own run configuration (column mapping, holdout salt …). Validated with zod so
 * a typo fails `cdk synth` with the key's name, not a broken deploy.
 *
 * Given as CDK context: `npx cdk deploy -c config=deploy.json` (a file), or defaults.
 *
 * Each key's meaning is its `.describe()` text: the README's deploy config reference (key, type,
 * default, meaning) is generated from this schema by `npm run docs`, so a default is written once,
 * in its `.default()`, and never repeated in a comment.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigSchema } from '../shared/config.js';
import { isCalendarDate, isTimeZone } from '../shared/dates.js';
import { SlackAccessSchema } from '../shared/slack/ack.js';

const Prefix = z
  .string()
  .regex(/^([A-Za-z0-9!_.*'()-]+\/)*$/, 'a key prefix ending in "/" (or empty)');

/**
 * The Slack access lists as the command checks them (shared/slack/ack.ts), with the meaning of each
 * key for the deploy config's reference: the same checks, descriptions added.
 */
const DescribedSlackAccess = SlackAccessSchema.extend({
  teams: SlackAccessSchema.shape.teams.describe('Slack team (workspace) ids the command answers.'),
  channels: SlackAccessSchema.shape.channels.describe('Channel ids the command answers in.'),
  runUsers: SlackAccessSchema.shape.runUsers.describe(
    'User ids allowed to `run` (it costs compute and replaces published results with `--force`).',
  ),
});

export const DeployConfigSchema = z.strictObject({
  stackName: z.string().default('CrmMetrics').describe('Name of the CloudFormation stack.'),
  rawBucketName: z
    .string()
    .optional()
    .describe('Name of the raw bucket (extracts). CloudFormation creates it (an existing bucket is not taken over); when absent, the name is generated.'),
  curatedBucketName: z
    .string()
    .optional()
    .describe('Name of the curated bucket (tables). CloudFormation creates it (an existing bucket is not taken over); when absent, the name is generated.'),
  rawPrefix: Prefix.default('raw/').describe(
    'Extracts arrive at `<raw bucket>/<rawPrefix>transactions/dt=YYYY-MM-DD/` (a key prefix ending in `/`, or empty).',
  ),
  curatedPrefix: Prefix.default('curated/').describe(
    'Tables are published at `<curated bucket>/<curatedPrefix><table>/dt=YYYY-MM-DD/` (a key prefix ending in `/`, or empty).',
  ),
  schedule: z
    .strictObject({
      hour: z.int().min(0).max(23).default(2).describe('Hour of the local start time.'),
      minute: z.int().min(0).max(59).default(0).describe('Minute of the local start time.'),
      timezone: z
        .string()
        .refine(isTimeZone, 'unknown IANA time zone')
        .default('UTC')
        .describe('IANA time zone of the start time (e.g. `"Europe/Berlin"`); daylight saving is handled.'),
      enabled: z.boolean().default(true).describe('Whether the schedule starts the night (off: runs start by hand only).'),
    })
    .prefault({})
    .describe('When the night starts (EventBridge Scheduler); each start runs the date before its local date.'),
  lambda: z
    .strictObject({
      // Why this default: the benchmark's 10M-transaction initial load peaks at 3.3 GB with a 3 GB
      // engine, a night on that history at 1.5 GB; 6 GB also buys ≈3.4 vCPU.
      memoryMb: z
        .int()
        .min(1024)
        .max(10240)
        .default(6144)
        .describe('Memory in MB (the CPU share grows with it); the engine gets 60 %, Node the rest.'),
      timeoutMinutes: z.int().min(1).max(15).default(15).describe('Timeout in minutes.'),
      ephemeralStorageMb: z
        .int()
        .min(512)
        .max(10240)
        .default(10240)
        .describe('/tmp in MB: it holds the run\'s scratch files (extracts, the history\'s partitions, outputs).'),
    })
    .prefault({})
    .describe('Sizing of the nightly function, and of the fanned-out night\'s `Prepare` and `Finish` phases.'),
  orchestration: z
    .enum(['lambda', 'step-functions'])
    .default('lambda')
    .describe('How the night runs. `"lambda"`: one function does the whole run (bounded by one invocation\'s 15 minutes and 10 GB). `"step-functions"`: a state machine prepares the run in one function, scores the customer summary\'s shards in parallel functions (a Distributed Map), then publishes.'),
  fanout: z
    .strictObject({
      shardMemoryMb: z
        .int()
        .min(1024)
        .max(10240)
        .default(2048)
        .describe('Memory of a shard function in MB: it scores one shard file with the fitted parameters, far less than a whole run.'),
      shardTimeoutMinutes: z.int().min(1).max(15).default(15).describe('Timeout of a shard function in minutes.'),
      shardEphemeralStorageMb: z.int().min(512).max(10240).default(2048).describe('/tmp of a shard function in MB.'),
      maxConcurrency: z
        .int()
        .min(1)
        .max(10000)
        .default(50)
        .describe('Shard functions running at once (the Map\'s MaxConcurrency): bounds the account concurrency the night takes.'),
      timeoutHours: z
        .int()
        .min(1)
        .max(24)
        .default(2)
        .describe('The whole execution (prepare, every shard, finish) is stopped after this many hours.'),
    })
    .prefault({})
    .describe('The fanned-out night\'s sizing; read with `orchestration: "step-functions"` only.'),
  glueDatabase: z
    .string()
    .regex(/^[a-z0-9_]+$/, 'lower-case letters, digits and _')
    .default('crm_metrics')
    .describe('Glue database of the tables and `_latest` views (lower-case letters, digits and `_`).'),
  firstDate: z
    .string()
    .refine(isCalendarDate, 'a date YYYY-MM-DD')
    .default('2020-01-01')
    .describe('First run date (YYYY-MM-DD) Athena\'s partition projection considers: a query without a `dt` filter lists every day since.'),
  athena: z
    .strictObject({
      workGroup: z
        .string()
        .default('crm-metrics')
        .describe('The workgroup of BI tools and the Slack command; the nightly run\'s own queries use `<workGroup>-pipeline`.'),
      // Athena's minimum cutoff is 10 MB.
      bytesScannedCutoffGb: z
        .number()
        .min(0.01)
        .default(10)
        .describe('Queries in `workGroup` scanning more GB are cancelled: a runaway BI query costs at most this much.'),
      pipelineBytesScannedCutoffGb: z
        .number()
        .min(0.01)
        .default(200)
        .describe('The limit in GB of the nightly run\'s own queries (in `<workGroup>-pipeline`): each reads the whole transaction history\'s columns it needs once. Raise it with the history.'),
    })
    .prefault({})
    .describe('The Athena workgroups; both enforce their settings.'),
  retention: z
    .strictObject({
      rejectsDays: z
        .int()
        .positive()
        .default(90)
        .describe('Rejected rows keep raw input text (which may hold personal data): kept this many days.'),
      athenaResultsDays: z.int().positive().default(7).describe('Athena query results expire after this many days.'),
    })
    .prefault({})
    .describe('Lifecycle rules: how long rejected rows and Athena query results are kept.'),
  slack: DescribedSlackAccess.prefault({}).describe(
    'Who may use the `/crm` Slack command: team and channel ids (both must match), and the user ids allowed to start runs. Empty lists allow nobody.',
  ),
  alarmEmail: z
    .email()
    .optional()
    .describe('Alarm notifications go to this address when given (an SNS topic exists either way).'),
  pipeline: z
    .record(z.string(), z.unknown())
    .default({})
    .superRefine((raw, ctx) => {
      for (const issue of ConfigSchema.safeParse(raw).error?.issues ?? []) {
        ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
      }
    })
    .describe('The product\'s run configuration (see [Run configuration](#run-configuration)), as for `crm-metrics run --config`. Validated here but kept as written: the function receives it in an environment variable (4 KB for all of them), so keep it small; the defaults need not travel.'),
});

export type DeployConfig = z.infer<typeof DeployConfigSchema>;

export function parseDeployConfig(raw: unknown): DeployConfig {
  const result = DeployConfigSchema.safeParse(raw ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
  throw new Error(`invalid deploy config: ${problems.join('; ')}`);
}

/** The `config` context value: a path to a JSON file, or nothing for the defaults. */
export function loadDeployConfig(path: unknown): DeployConfig {
  if (path === undefined) return parseDeployConfig({});
  if (typeof path !== 'string') throw new Error('context "config" must be a path to a JSON file');
  return parseDeployConfig(JSON.parse(readFileSync(path, 'utf8')));
}
