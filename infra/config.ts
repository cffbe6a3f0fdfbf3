/**
 * Deployment configuration: where the data lives, when the night runs, how big the function is,
 * and the product's own run configuration (column mapping, holdout salt …). Validated with zod so
 * a typo fails `cdk synth` with the key's name, not a broken deploy.
 *
 * Given as CDK context: `npx cdk deploy -c config=deploy.json` (a file), or defaults.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigSchema } from '../shared/config.js';
import { isCalendarDate, isTimeZone } from '../shared/dates.js';
import { SlackAccessSchema } from '../shared/slack/ack.js';

const Prefix = z
  .string()
  .regex(/^([A-Za-z0-9!_.*'()-]+\/)*$/, 'a key prefix ending in "/" (or empty)');

export const DeployConfigSchema = z.strictObject({
  stackName: z.string().default('CrmMetrics'),
  /** Existing names are not taken over: CloudFormation creates the buckets (names generated when omitted). */
  rawBucketName: z.string().optional(),
  curatedBucketName: z.string().optional(),
  /** Extracts arrive at `<raw bucket>/<rawPrefix>transactions/dt=YYYY-MM-DD/`. */
  rawPrefix: Prefix.default('raw/'),
  /** Tables are published at `<curated bucket>/<curatedPrefix><table>/dt=YYYY-MM-DD/`. */
  curatedPrefix: Prefix.default('curated/'),
  schedule: z
    .strictObject({
      hour: z.int().min(0).max(23).default(2),
      minute: z.int().min(0).max(59).default(0),
      timezone: z.string().refine(isTimeZone, 'unknown IANA time zone').default('UTC'),
      enabled: z.boolean().default(true),
    })
    .prefault({}),
  lambda: z
    .strictObject({
      /**
       * 6 GB (≈3.4 vCPU): the benchmark's 10M-transaction initial load peaks at 3.3 GB with a 3 GB
       * engine; a night on that history at 1.5 GB. The engine gets 60 %, Node the rest.
       */
      memoryMb: z.int().min(1024).max(10240).default(6144),
      timeoutMinutes: z.int().min(1).max(15).default(15),
      /** /tmp holds the run's scratch files: extracts, the history's partitions, outputs. */
      ephemeralStorageMb: z.int().min(512).max(10240).default(10240),
    })
    .prefault({}),
  /**
   * How the night runs. `lambda`: one function does the whole run (bounded by one invocation's 15
   * minutes and 10 GB). `step-functions`: a state machine prepares the run in one function, scores
   * the customer summary's shards in parallel functions (a Distributed Map), then publishes.
   */
  orchestration: z.enum(['lambda', 'step-functions']).default('lambda'),
  /** The fanned-out night's sizing; read with `orchestration: "step-functions"` only. */
  fanout: z
    .strictObject({
      /** Each shard function scores one shard file with the fitted parameters: far less than a whole run. */
      shardMemoryMb: z.int().min(1024).max(10240).default(2048),
      shardTimeoutMinutes: z.int().min(1).max(15).default(15),
      shardEphemeralStorageMb: z.int().min(512).max(10240).default(2048),
      /** Shard functions running at once (the Map's MaxConcurrency): bounds the account concurrency the night takes. */
      maxConcurrency: z.int().min(1).max(10000).default(50),
      /** The whole execution (prepare, every shard, finish) is stopped after this long. */
      timeoutHours: z.int().min(1).max(24).default(2),
    })
    .prefault({}),
  glueDatabase: z.string().regex(/^[a-z0-9_]+$/, 'lower-case letters, digits and _').default('crm_metrics'),
  /** First run date Athena's partition projection considers. */
  firstDate: z.string().refine(isCalendarDate, 'a date YYYY-MM-DD').default('2020-01-01'),
  athena: z
    .strictObject({
      workGroup: z.string().default('crm-metrics'),
      /** Queries scanning more are cancelled: a runaway BI query costs at most this much. */
      // Athena's minimum cutoff is 10 MB.
      bytesScannedCutoffGb: z.number().min(0.01).default(10),
      /**
       * The limit of the nightly run's own queries (their workgroup is `<workGroup>-pipeline`): each
       * reads the whole transaction history's columns it needs once. Raise it with the history.
       */
      pipelineBytesScannedCutoffGb: z.number().min(0.01).default(200),
    })
    .prefault({}),
  retention: z
    .strictObject({
      /** Rejected rows keep raw input text (may hold personal data): kept this long. */
      rejectsDays: z.int().positive().default(90),
      athenaResultsDays: z.int().positive().default(7),
    })
    .prefault({}),
  /**
   * Who may use the `/crm` Slack command: team and channel ids (both must match), and the user ids
   * allowed to start runs. Empty lists allow nobody.
   */
  slack: SlackAccessSchema.prefault({}),
  /** Alarm notifications go to this address when given (an SNS topic exists either way). */
  alarmEmail: z.email().optional(),
  /**
   * The product's run configuration (input mapping, RFM, CLV, holdout), as for `crm-metrics run
   * --config`. Validated here but kept as written: the function receives it in an environment
   * variable (4 KB for all of them), and the defaults need not travel.
   */
  pipeline: z
    .record(z.string(), z.unknown())
    .default({})
    .superRefine((raw, ctx) => {
      for (const issue of ConfigSchema.safeParse(raw).error?.issues ?? []) {
        ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
      }
    }),
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
