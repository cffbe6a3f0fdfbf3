/**
 * The whole product on AWS, one stack: raw and curated buckets, the nightly Lambda on an
 * EventBridge Scheduler schedule (or, with `orchestration: "step-functions"`, a state machine that
 * fans the scoring out over shards), the Glue tables and `_latest` views BI tools query through an
 * Athena workgroup, alarms, and a managed policy to hand to BI readers.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Arn, ArnFormat, CfnOutput, Duration, RemovalPolicy, Size, Stack, TimeZone, Validations, type StackProps } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { NodejsFunction, OutputFormat, type NodejsFunctionProps } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import * as sns from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference.js';
import type { Construct } from 'constructs';
import { glueCatalogInputs, latestViewName } from '../shared/athena/tables.js';
import type { Table } from '../shared/catalog.js';
import { rejects, TABLES } from '../shared/tables/index.js';
import { ConfigSchema } from '../shared/config.js';
import { NIGHTLY_METRICS } from '../shared/metrics.js';
import { REPLAY_EXPIRY_ATTRIBUTE, REPLAY_KEY_ATTRIBUTE } from '../shared/slack/replay.js';
import { STAGING_ROOT } from '../shared/staging.js';
import type { DeployConfig } from './config.js';

const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The engine's native binding cannot be bundled: these packages are copied beside the bundle. */
const NATIVE_PACKAGES = ['@duckdb/node-api', '@duckdb/node-bindings', '@duckdb/node-bindings-linux-x64', 'detect-libc'];

/** Share of the function's memory given to DuckDB; Node, the SDK and the fits need the rest. */
const ENGINE_MEMORY_SHARE = 0.6;

/** The Lambda environment holds 4 KB for all variables together. */
const LAMBDA_ENVIRONMENT_BYTES = 4096;

const ATHENA_RESULTS_PREFIX = 'athena-results/';

/** The fan-out's phases: one bundle (functions/fanout.ts), one exported handler each. */
const FANOUT_ENTRY = 'functions/fanout.ts';

/**
 * Athena's own result files of the pipeline's queries (UNLOAD writes its Parquet to the run's
 * staging folder; this holds Athena's manifests and metadata): scratch, expired with the staging area.
 */
const PIPELINE_RESULTS = `${STAGING_ROOT}athena-results/`;

/**
 * Errors of the Lambda service itself (not of the handler) a task retries: the invocation did not
 * run or its answer was lost. Throttling is among them: up to `fanout.maxConcurrency` shard
 * functions start at once and may meet the account's concurrency limit.
 */
const LAMBDA_SERVICE_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.ClientExecutionTimeoutException',
  'Lambda.TooManyRequestsException',
];

/**
 * Concurrent executions reserved for (and capping) the public /crm endpoint. An acknowledgement
 * takes well under a second, so 5 serve dozens of commands a second, far beyond a team's use; a
 * flood of requests to the public URL holds at most 5 of the account's executions (the rest are
 * throttled, HTTP 429, before any code runs), leaving the rest to the worker and other functions.
 */
const SLACK_ENDPOINT_CONCURRENCY = 5;

/**
 * Tables BI readers (and the Slack worker, which queries through their policy) are not granted:
 * `rejects` holds raw input lines, which can carry personal data; whoever fixes the extracts needs
 * access granted apart from this policy.
 */
const BI_HIDDEN_TABLES: readonly Table[] = [rejects];

/** The Distributed Map's label: names its map runs (and scopes the permission to redrive them). */
const SCORE_SHARDS_LABEL = 'ScoreShards';

const engineMemoryLimit = (memoryMb: number) => `${Math.floor(memoryMb * ENGINE_MEMORY_SHARE)}MB`;

export interface CrmMetricsStackProps extends StackProps {
  readonly config: DeployConfig;
}

export class CrmMetricsStack extends Stack {
  readonly nightly: NodejsFunction;
  /** With `orchestration: "step-functions"` only. */
  readonly fanOutStateMachine?: sfn.StateMachine;

  constructor(scope: Construct, id: string, props: CrmMetricsStackProps) {
    super(scope, id, props);
    const { config } = props;

    const privateBucket = (name: string, extra: s3.BucketProps) =>
      new s3.Bucket(this, name, {
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        encryption: s3.BucketEncryption.S3_MANAGED,
        enforceSSL: true,
        removalPolicy: RemovalPolicy.RETAIN,
        ...extra,
      });
    const accessLogs = privateBucket('AccessLogs', { lifecycleRules: [{ expiration: Duration.days(365) }] });
    Validations.of(accessLogs).acknowledge({ id: 'AwsSolutions-S1', reason: 'This is the access-log bucket; logging its own access would loop.' });
    const raw = privateBucket('Raw', {
      bucketName: config.rawBucketName,
      // Extracts are the source of truth: an overwritten one stays recoverable for 30 days.
      versioned: true,
      lifecycleRules: [{ noncurrentVersionExpiration: Duration.days(30), abortIncompleteMultipartUploadAfter: Duration.days(1) }],
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'raw/',
    });
    const curated = privateBucket('Curated', {
      bucketName: config.curatedBucketName,
      lifecycleRules: [
        { abortIncompleteMultipartUploadAfter: Duration.days(1) },
        // A run that died while publishing leaves its staging files; nothing reads them.
        { prefix: `${config.curatedPrefix}${STAGING_ROOT}`, expiration: Duration.days(2) },
        { prefix: `${config.curatedPrefix}rejects/`, expiration: Duration.days(config.retention.rejectsDays) },
        { prefix: ATHENA_RESULTS_PREFIX, expiration: Duration.days(config.retention.athenaResultsDays) },
      ],
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'curated/',
    });
    const sourceUri = `s3://${raw.bucketName}/${config.rawPrefix}`;
    const destUri = `s3://${curated.bucketName}/${config.curatedPrefix}`;

    const database = new glue.CfnDatabase(this, 'Database', {
      catalogId: this.account,
      databaseInput: { name: config.glueDatabase, description: 'crm-metrics: curated transactions and nightly CRM tables' },
    });
    const tableInputs = glueCatalogInputs({ root: destUri, firstDate: config.firstDate }, config.glueDatabase);
    for (const tableInput of tableInputs) {
      const table = new glue.CfnTable(this, `Table-${tableInput.name}`, {
        catalogId: this.account,
        databaseName: config.glueDatabase,
        tableInput: tableInput satisfies glue.CfnTable.TableInputProperty,
      });
      table.addResourceDependency(database);
    }

    const workGroup = this.workGroup('WorkGroup', {
      name: config.athena.workGroup,
      description: 'crm-metrics: BI and Slack queries over the curated tables',
      cutoffGb: config.athena.bytesScannedCutoffGb,
      results: `s3://${curated.bucketName}/${ATHENA_RESULTS_PREFIX}`,
    });
    // The run's own queries (engine.history athena or auto) scan the whole history, far more than a
    // BI query should: their own workgroup, limit and cost line.
    const pipelineWorkGroup = this.workGroup('PipelineWorkGroup', {
      name: `${config.athena.workGroup}-pipeline`,
      description: "crm-metrics: the nightly run's queries over the whole history",
      cutoffGb: config.athena.pipelineBytesScannedCutoffGb,
      results: `s3://${curated.bucketName}/${config.curatedPrefix}${PIPELINE_RESULTS}`,
    });
    const tableNames = tableInputs.map((t) => t.name);

    const failures = new sqs.Queue(this, 'NightlyFailures', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(failures).acknowledge({ id: 'AwsSolutions-SQS3', reason: 'This queue is the dead-letter destination of the nightly run itself.' });

    const { memoryMb, timeoutMinutes, ephemeralStorageMb } = config.lambda;
    const environment: Record<string, string> = {
      SOURCE_URI: sourceUri,
      DEST_URI: destUri,
      ENGINE_MEMORY_LIMIT: engineMemoryLimit(memoryMb),
      // DuckDB looks for a home directory; Lambda's file system is read-only outside /tmp.
      HOME: '/tmp',
      POWERTOOLS_LOG_LEVEL: 'INFO',
      // The history queries' engine when `engine.history` is athena (or auto, past the envelope).
      ATHENA_WORKGROUP: pipelineWorkGroup.name,
      GLUE_DATABASE: config.glueDatabase,
    };
    if (Object.keys(config.pipeline).length > 0) environment['CONFIG_JSON'] = JSON.stringify(config.pipeline);
    const environmentBytes = Object.entries(environment).reduce((n, [k, v]) => n + k.length + v.length, 0);
    if (environmentBytes > LAMBDA_ENVIRONMENT_BYTES / 2) {
      // Tokens (bucket names) resolve to longer strings at deploy time; keep half the room for them.
      throw new Error(`pipeline config too large for the Lambda environment (${environmentBytes} bytes); shorten it`);
    }

    // Deployed with either orchestration: with the fanned-out night it remains for a one-off run by hand.
    this.nightly = this.nodeFunction('Nightly', 'functions/nightly.ts', {
      description: 'crm-metrics nightly run: ingest the day, score RFM, CLV and the holdout, publish tables',
      memorySize: memoryMb,
      timeout: Duration.minutes(timeoutMinutes),
      ephemeralStorageSize: Size.mebibytes(ephemeralStorageMb),
      // One run at a time: two runs of a date must never interleave their publishing.
      reservedConcurrentExecutions: 1,
      // A run is idempotent but long; a failure goes to the queue and an alarm, not a blind retry.
      retryAttempts: 0,
      onFailure: new SqsDestination(failures),
      environment,
      nativeEngine: true,
    });
    const historyQueries = { curated, config, workGroup: pipelineWorkGroup, tableNames };
    this.grantRunAccess(this.nightly, raw, curated, config);
    this.grantHistoryQueries(this.nightly, historyQueries);

    // What the schedule invokes: the whole run, or the starter of the fanned-out run.
    let scheduled: NodejsFunction = this.nightly;
    if (config.orchestration === 'step-functions') {
      const fanOut = this.fanOut(raw, curated, config, environment, failures, historyQueries);
      this.fanOutStateMachine = fanOut.stateMachine;
      scheduled = fanOut.start;
    }

    const alarmTopic = new sns.Topic(this, 'Alarms', { displayName: 'crm-metrics alarms', enforceSSL: true });
    Validations.of(alarmTopic).acknowledge({
      id: 'AwsSolutions-SNS2',
      reason: 'Alarm notifications carry no customer data, and CloudWatch cannot publish to a topic under the AWS-managed SNS key.',
    });
    if (config.alarmEmail) alarmTopic.addSubscription(new EmailSubscription(config.alarmEmail));
    this.addAlarms(alarmTopic, timeoutMinutes, this.fanOutStateMachine);

    new scheduler.Schedule(this, 'NightlySchedule', {
      description: `crm-metrics nightly run at ${config.schedule.hour}:${String(config.schedule.minute).padStart(2, '0')} ${config.schedule.timezone}`,
      schedule: scheduler.ScheduleExpression.cron({
        hour: String(config.schedule.hour),
        minute: String(config.schedule.minute),
        timeZone: TimeZone.of(config.schedule.timezone),
      }),
      enabled: config.schedule.enabled,
      target: new LambdaInvoke(scheduled, {
        // The handler runs the day before the scheduled time's date in this zone.
        input: scheduler.ScheduleTargetInput.fromObject({ time: scheduler.ContextAttribute.scheduledTime, timezone: config.schedule.timezone }),
        deadLetterQueue: failures,
        retryAttempts: 3,
        maxEventAge: Duration.hours(6),
      }),
    });
    // The target's role is created at the stack's root, shared by schedules of the same target.
    acknowledgeInvokeVersions(this, scheduled, "The scheduler's role");

    const biReader = this.biReaderPolicy(curated, config, workGroup, tableNames);
    const slackUrl = this.slackCommand(config, biReader, workGroup, destUri);

    new CfnOutput(this, 'RawBucket', { value: raw.bucketName, description: `Drop extracts at ${config.rawPrefix}transactions/dt=YYYY-MM-DD/` });
    new CfnOutput(this, 'CuratedLocation', { value: destUri });
    new CfnOutput(this, 'NightlyFunction', { value: this.nightly.functionName });
    if (this.fanOutStateMachine) new CfnOutput(this, 'FanOutStateMachine', { value: this.fanOutStateMachine.stateMachineArn });
    new CfnOutput(this, 'GlueDatabase', { value: config.glueDatabase });
    new CfnOutput(this, 'AthenaWorkGroup', { value: workGroup.name });
    new CfnOutput(this, 'SlackCommandUrl', { value: slackUrl, description: 'Request URL of the /crm slash command in the Slack app' });
    new CfnOutput(this, 'BiReaderPolicy', { value: biReader.managedPolicyArn, description: 'Attach to the role or user a BI tool connects with' });
  }

  /**
   * A Node.js 22 function bundled by esbuild (ESM). With `nativeEngine`, DuckDB's native packages
   * are copied beside the bundle (a .node binding cannot be bundled).
   */
  private nodeFunction(id: string, entry: string, props: Omit<NodejsFunctionProps, 'entry'> & { nativeEngine?: boolean }): NodejsFunction {
    const { nativeEngine, ...functionProps } = props;
    const fn = new NodejsFunction(this, id, {
      entry: join(PROJECT_ROOT, entry),
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
      runtime: lambda.Runtime.NODEJS_22_X,
      // DuckDB's native binding is published here for linux-x64 only.
      architecture: lambda.Architecture.X86_64,
      logGroup: new logs.LogGroup(this, `${id}Logs`, { retention: logs.RetentionDays.THREE_MONTHS, removalPolicy: RemovalPolicy.DESTROY }),
      ...functionProps,
      bundling: {
        format: OutputFormat.ESM,
        target: 'node22',
        mainFields: ['module', 'main'],
        // Bundled CommonJS dependencies call require(); ESM output has none unless given one.
        banner: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
        minify: true,
        sourceMap: false,
        // The AWS SDK is bundled too (CDK leaves it to the runtime by default): every function runs
        // the lockfile's SDK, the one the tests ran, not whatever version the runtime carries.
        externalModules: nativeEngine ? NATIVE_PACKAGES : [],
        ...(nativeEngine
          ? {
              commandHooks: {
                beforeBundling: () => [],
                beforeInstall: () => [],
                afterBundling: (inputDir: string, outputDir: string) => [
                  `mkdir -p "${outputDir}/node_modules/@duckdb"`,
                  ...NATIVE_PACKAGES.map((name) => `cp -R "${inputDir}/node_modules/${name}" "${outputDir}/node_modules/${name}"`),
                ],
              },
            }
          : {}),
      },
    });
    Validations.of(fn).acknowledge({
      id: 'AwsSolutions-L1',
      reason: 'Pinned to Node.js 22: the DuckDB native binding is built and tested for it (the issue fixes the runtime).',
    });
    Validations.of(fn).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason: 'AWSLambdaBasicExecutionRole only lets the function write its own logs.',
    });
    return fn;
  }

  /**
   * The `/crm` slash command: an endpoint (function URL) that verifies and acknowledges within
   * Slack's 3 seconds, and a worker it invokes asynchronously that queries Athena or runs the
   * nightly function and posts the answer. Returns the endpoint's URL.
   */
  private slackCommand(config: DeployConfig, biReader: iam.ManagedPolicy, workGroup: athena.CfnWorkGroup, destUri: string): string {
    const secret = new secretsmanager.Secret(this, 'SlackSecret', {
      description: 'crm-metrics Slack app: set to {"signing_secret": "…", "bot_token": "xoxb-…"} after deploying',
    });
    Validations.of(secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason: 'Slack issues and rotates the signing secret and bot token; AWS cannot rotate them.',
    });
    const worker = this.nodeFunction('SlackWorker', 'functions/slack-worker.ts', {
      description: 'crm-metrics /crm worker: answers from Athena or runs the night, posts to Slack',
      memorySize: 512,
      // A `run` waits for the nightly function, which may take its whole timeout.
      timeout: Duration.minutes(15),
      // An answer is posted once; a failed one is logged, not retried into a second post.
      retryAttempts: 0,
      environment: {
        ATHENA_WORKGROUP: workGroup.name,
        GLUE_DATABASE: config.glueDatabase,
        DEST_URI: destUri,
        NIGHTLY_FUNCTION: this.nightly.functionName,
        // With the fanned-out night, `run` starts its execution rather than the single function.
        ...(this.fanOutStateMachine ? { STATE_MACHINE_ARN: this.fanOutStateMachine.stateMachineArn } : {}),
        SCHEDULE_TIMEZONE: config.schedule.timezone,
        CONFIG_JSON: JSON.stringify({ display: ConfigSchema.parse(config.pipeline).display }),
      },
    });
    worker.role!.addManagedPolicy(biReader);
    if (this.fanOutStateMachine) {
      grantStartNight(worker, this.fanOutStateMachine);
    } else {
      this.nightly.grantInvoke(worker);
      acknowledgeInvokeVersions(worker, this.nightly, 'The Slack worker');
    }
    // Each accepted request, remembered until its signature's window has closed (functions/slack.ts).
    const replays = new dynamodb.Table(this, 'SlackReplays', {
      partitionKey: { name: REPLAY_KEY_ATTRIBUTE, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: REPLAY_EXPIRY_ATTRIBUTE,
      // Nothing in it outlives five minutes' use: losing it loses nothing.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    Validations.of(replays).acknowledge({
      id: 'AwsSolutions-DDB3',
      reason: 'Items are needed for five minutes only (the replay window); a restored copy would protect nothing.',
    });
    const endpoint = this.nodeFunction('SlackCommand', 'functions/slack.ts', {
      description: 'crm-metrics /crm endpoint: verifies, authorizes and acknowledges slash commands',
      memorySize: 256,
      timeout: Duration.seconds(10),
      reservedConcurrentExecutions: SLACK_ENDPOINT_CONCURRENCY,
      environment: {
        SLACK_SECRET_ARN: secret.secretArn,
        WORKER_FUNCTION: worker.functionName,
        SLACK_ACCESS_JSON: JSON.stringify(config.slack),
        REPLAY_TABLE: replays.tableName,
      },
    });
    // The conditional put only: the endpoint never reads, updates or deletes what it remembered.
    endpoint.addToRolePolicy(new iam.PolicyStatement({ actions: ['dynamodb:PutItem'], resources: [replays.tableArn] }));
    secret.grantRead(endpoint);
    worker.grantInvoke(endpoint);
    acknowledgeInvokeVersions(endpoint, worker, 'The Slack endpoint');
    // Slack cannot sign AWS requests: the URL is public and every request must carry Slack's
    // signature, which the function verifies before anything else.
    return endpoint.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE }).url;
  }

  /**
   * The fanned-out night, for bases whose scoring does not fit one invocation (functions/fanout.ts):
   *
   *   Prepare → Prepared? → ScoreShards (Distributed Map: one ScoreShard per shard file) → Finish
   *
   * Prepare ingests the day and fits the models once, leaving the customer summary as shard files
   * (split by a stable hash of the customer) under the run's staging prefix; each ScoreShard scores
   * one file with the fitted parameters, beside it in staging; Finish builds every table from the
   * scores and publishes them as the single-Lambda night does (staged first, then moved, the
   * manifest last): the date reads as published only once every table is in place.
   *
   * The schedule invokes `start` (functions/fanout-start.ts), which starts nothing while an
   * execution runs and names the execution after the run date: Step Functions allows one execution
   * of a name (for 90 days), so a repeated or retried trigger cannot run a date twice (a forced
   * re-run gets a suffixed name). One night at a time is what the single function's reserved
   * concurrency of 1 guarded; the fan-out's functions need none.
   */
  private fanOut(
    raw: s3.Bucket,
    curated: s3.Bucket,
    config: DeployConfig,
    environment: Record<string, string>,
    failures: sqs.Queue,
    historyQueries: HistoryQueryAccess,
  ): { stateMachine: sfn.StateMachine; start: NodejsFunction } {
    const { fanout } = config;
    const phase = (id: string, handler: 'prepare' | 'finish', description: string) => {
      const fn = this.nodeFunction(id, FANOUT_ENTRY, {
        handler,
        description,
        // Each phase is as heavy as the single-function night at its worst (ingest + fit; build + publish).
        memorySize: config.lambda.memoryMb,
        timeout: Duration.minutes(config.lambda.timeoutMinutes),
        ephemeralStorageSize: Size.mebibytes(config.lambda.ephemeralStorageMb),
        environment,
        nativeEngine: true,
      });
      this.grantRunAccess(fn, raw, curated, config);
      this.grantHistoryQueries(fn, historyQueries);
      return fn;
    };
    const prepareFn = phase('FanOutPrepare', 'prepare', 'crm-metrics fan-out: ingest the day, fit the models, stage the shard files');
    const finishFn = phase('FanOutFinish', 'finish', 'crm-metrics fan-out: build every table from the shard scores and publish');
    const scoreFn = this.nodeFunction('FanOutScore', FANOUT_ENTRY, {
      handler: 'scoreShard',
      description: 'crm-metrics fan-out: score one shard of the customer summary with the fitted parameters',
      memorySize: fanout.shardMemoryMb,
      timeout: Duration.minutes(fanout.shardTimeoutMinutes),
      ephemeralStorageSize: Size.mebibytes(fanout.shardEphemeralStorageMb),
      // The other phases' variables (the handler reads the run's dependencies from them), with the
      // engine sized to this function and no Athena: scoring a shard queries nothing.
      environment: { ...withoutAthena(environment), ENGINE_MEMORY_LIMIT: engineMemoryLimit(fanout.shardMemoryMb) },
      nativeEngine: true,
    });
    this.grantStagingAccess(scoreFn, curated, config);

    const invoke = (id: string, fn: lambda.IFunction, outputPath?: string) => {
      // payloadResponseOnly: the state's input is the handler's event and its output the handler's
      // return value, with no Lambda response envelope around them (the payload contract of fanout.ts).
      const task = new tasks.LambdaInvoke(this, id, { lambdaFunction: fn, payloadResponseOnly: true, retryOnServiceExceptions: false, outputPath });
      // A handler's own error is not retried: a run is not retried blindly (as with the single function).
      return task.addRetry({ errors: LAMBDA_SERVICE_ERRORS, interval: Duration.seconds(2), maxAttempts: 6, backoffRate: 2, jitterStrategy: sfn.JitterType.FULL });
    };
    const failed = new sfn.Fail(this, 'NightFailed', {
      comment: 'A phase failed: the date stays unpublished (Finish removes an old manifest first and moves the new one last).',
      errorPath: '$.error.Error',
      causePath: '$.error.Cause',
    });
    const catchAll = { resultPath: '$.error' };

    const prepare = invoke('Prepare', prepareFn).addCatch(failed, catchAll);
    const scoreShards = new sfn.DistributedMap(this, 'ScoreShards', {
      comment: 'One child execution per shard file Prepare staged.',
      itemReader: new ShardListingReader(curated, `${config.curatedPrefix}${STAGING_ROOT}`),
      // The shard file's key names its run (`_staging/<run>/shards/input/…`): all a shard needs.
      itemSelector: { key: sfn.JsonPath.stringAt('$$.Map.Item.Value.Key') },
      maxConcurrency: fanout.maxConcurrency,
      // A shard may take a shard function's whole 15 minutes: Express children stop at 5.
      mapExecutionType: sfn.StateMachineType.STANDARD,
      // No failure is tolerated (the Step Functions default, so CDK renders no field): Finish reads
      // every shard's scores, and a missing one must fail here, by name, rather than there.
      toleratedFailurePercentage: 0,
      label: SCORE_SHARDS_LABEL,
      // The children's outputs are not needed: Finish takes Prepare's payload, which the Map passes on.
      resultPath: sfn.JsonPath.DISCARD,
    });
    // A child's output is `{}`: the Map gathers every child's output (at most 256 KiB in all), and
    // the scores are in S3, not in the state.
    scoreShards.itemProcessor(invoke('ScoreShard', scoreFn, sfn.JsonPath.DISCARD));
    scoreShards.addCatch(failed, catchAll);
    const finish = invoke('Finish', finishFn).addCatch(failed, catchAll);

    const definition = prepare.next(
      new sfn.Choice(this, 'Prepared?', { comment: 'No extract for the date, or already published: nothing to score.' })
        .when(sfn.Condition.stringEquals('$.status', 'prepared'), scoreShards.next(finish).next(new sfn.Succeed(this, 'Published')))
        .otherwise(new sfn.Succeed(this, 'NothingToDo')),
    );
    const stateMachine = new sfn.StateMachine(this, 'FanOut', {
      comment: 'crm-metrics fanned-out night: prepare, score the shards in parallel, publish',
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromChainable(definition),
      timeout: Duration.hours(fanout.timeoutHours),
      // Every state's transitions, with their data: payloads are dates, run ids, S3 keys and counts,
      // never customer rows. (cdk-nag AwsSolutions-SF1 asks for ALL.)
      logs: {
        destination: new logs.LogGroup(this, 'FanOutLogs', {
          // Under /aws/vendedlogs/ CloudWatch Logs needs no resource policy entry per log group.
          logGroupName: `/aws/vendedlogs/states/${this.stackName}-FanOut`,
          retention: logs.RetentionDays.THREE_MONTHS,
          removalPolicy: RemovalPolicy.DESTROY,
        }),
        level: sfn.LogLevel.ALL,
        includeExecutionData: true,
      },
      // AwsSolutions-SF2.
      tracingEnabled: true,
    });
    for (const fn of [prepareFn, scoreFn, finishFn]) acknowledgeInvokeVersions(stateMachine, fn, 'The state machine');
    Validations.of(stateMachine).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Only the log-delivery actions CDK grants for the execution log (logs:*LogDelivery*, PutResourcePolicy, Describe*) and X-Ray trace upload, none of which supports resource-level permissions.',
    });
    acknowledgeChildExecutions(stateMachine, SCORE_SHARDS_LABEL);

    const start = this.nodeFunction('FanOutStart', 'functions/fanout-start.ts', {
      description: 'crm-metrics nightly start: starts the fan-out state machine, the execution named after the run date',
      memorySize: 512,
      timeout: Duration.seconds(30),
      // The execution name makes a repeated start harmless, so Lambda's own retries may run; what
      // still fails lands in the queue the alarms' operators already watch.
      onFailure: new SqsDestination(failures),
      environment: { STATE_MACHINE_ARN: stateMachine.stateMachineArn, POWERTOOLS_LOG_LEVEL: 'INFO' },
    });
    grantStartNight(start, stateMachine);
    return { stateMachine, start };
  }

  /** A workgroup whose settings clients cannot override: result location, SSE-S3, the scan limit. */
  private workGroup(id: string, props: { name: string; description: string; cutoffGb: number; results: string }): athena.CfnWorkGroup {
    return new athena.CfnWorkGroup(this, id, {
      name: props.name,
      description: props.description,
      recursiveDeleteOption: true,
      workGroupConfiguration: {
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        // A query scanning more is cancelled: a runaway query costs at most this much.
        bytesScannedCutoffPerQuery: Math.round(props.cutoffGb * 1024 ** 3),
        engineVersion: { selectedEngineVersion: 'Athena engine version 3' },
        resultConfiguration: { outputLocation: props.results, encryptionConfiguration: { encryptionOption: 'SSE_S3' } },
      },
    });
  }

  /** Run queries in one workgroup, and read this database's tables and views (each by name). */
  private queryStatements(workGroup: athena.CfnWorkGroup, database: string, tableNames: readonly string[]): iam.PolicyStatement[] {
    const glueArn = (resource: string) => this.formatArn({ service: 'glue', resource, resourceName: undefined });
    return [
      new iam.PolicyStatement({
        actions: ['athena:StartQueryExecution', 'athena:GetQueryExecution', 'athena:GetQueryResults', 'athena:StopQueryExecution', 'athena:GetWorkGroup'],
        resources: [this.formatArn({ service: 'athena', resource: 'workgroup', resourceName: workGroup.name })],
      }),
      new iam.PolicyStatement({
        actions: ['glue:GetDatabase', 'glue:GetTable', 'glue:GetTables', 'glue:GetPartition', 'glue:GetPartitions'],
        resources: [glueArn('catalog'), glueArn(`database/${database}`), ...tableNames.map((name) => glueArn(`table/${database}/${name}`))],
      }),
    ];
  }

  /**
   * The history queries on Athena (engine.history athena or auto), which run with the function's
   * own credentials: the pipeline workgroup, the catalog's tables, and S3 as the run already has it
   * (the tables to read, its staging folder to UNLOAD into and for Athena's result files), plus
   * the bucket's location Athena asks for.
   */
  private grantHistoryQueries(fn: NodejsFunction, access: HistoryQueryAccess): void {
    const { curated, config, workGroup, tableNames } = access;
    for (const statement of this.queryStatements(workGroup, config.glueDatabase, tableNames)) fn.addToRolePolicy(statement);
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:GetBucketLocation'], resources: [curated.bucketArn] }));
  }

  /** Read the extract prefix, read and write the curated prefix; nothing else in either bucket. */
  private grantRunAccess(fn: NodejsFunction, raw: s3.Bucket, curated: s3.Bucket, config: DeployConfig): void {
    const extracts = `${config.rawPrefix}transactions/`;
    const statements = [
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [raw.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${extracts}*`] } },
      }),
      new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [raw.arnForObjects(`${extracts}*`)] }),
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [curated.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${config.curatedPrefix}*`] } },
      }),
      new iam.PolicyStatement({
        actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
        resources: [curated.arnForObjects(`${config.curatedPrefix}*`)],
      }),
    ];
    for (const statement of statements) fn.addToRolePolicy(statement);
    acknowledgeObjectWildcards(fn, 'The run reads extracts and writes tables named by date, under these prefixes only.', [
      [raw, `${extracts}*`],
      [curated, `${config.curatedPrefix}*`],
    ]);
  }

  /**
   * A shard function reads the run's state and its shard file and writes the shard's scores, all in
   * the run's staging folder: it can neither read the extracts nor touch a published table.
   */
  private grantStagingAccess(fn: NodejsFunction, curated: s3.Bucket, config: DeployConfig): void {
    const staging = `${config.curatedPrefix}${STAGING_ROOT}`;
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [curated.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${staging}*`] } },
      }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'], resources: [curated.arnForObjects(`${staging}*`)] }),
    );
    acknowledgeObjectWildcards(fn, "A shard's input, the run's state and the shard's scores are files named by run under this prefix only.", [
      [curated, `${staging}*`],
    ]);
  }

  /**
   * What a BI tool (or the Slack command) needs to query: run queries in this workgroup only, read
   * this database's tables and their files but the hidden ones (BI_HIDDEN_TABLES) and the reports,
   * write query results.
   */
  private biReaderPolicy(curated: s3.Bucket, config: DeployConfig, workGroup: athena.CfnWorkGroup, tableNames: string[]): iam.ManagedPolicy {
    const tableFolders = (TABLES as readonly Table[]).filter((table) => !BI_HIDDEN_TABLES.includes(table)).map((table) => table.name);
    // Neither a hidden table nor its `_latest` view is in the readers' catalog.
    const hidden = BI_HIDDEN_TABLES.flatMap((table) => [table.name, latestViewName(table)]);
    const policy = new iam.ManagedPolicy(this, 'BiReader', {
      description: 'crm-metrics: query the curated tables through the Athena workgroup',
      statements: [
        ...this.queryStatements(workGroup, config.glueDatabase, tableNames.filter((name) => !hidden.includes(name))),
        new iam.PolicyStatement({ actions: ['s3:GetBucketLocation'], resources: [curated.bucketArn] }),
        new iam.PolicyStatement({
          actions: ['s3:ListBucket'],
          resources: [curated.bucketArn],
          conditions: { StringLike: { 's3:prefix': [`${config.curatedPrefix}*`, `${ATHENA_RESULTS_PREFIX}*`] } },
        }),
        // The tables (but the hidden ones) and reports only: not the staging area, nor the holdout export.
        new iam.PolicyStatement({
          actions: ['s3:GetObject'],
          resources: [...tableFolders, 'reports'].map((folder) => curated.arnForObjects(`${config.curatedPrefix}${folder}/*`)),
        }),
        new iam.PolicyStatement({
          actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'],
          resources: [curated.arnForObjects(`${ATHENA_RESULTS_PREFIX}*`)],
        }),
      ],
    });
    acknowledgeObjectWildcards(policy, 'Readers read the tables\' objects and write query results, under these prefixes only.', [
      ...[...tableFolders, 'reports'].map((folder): [s3.Bucket, string] => [curated, `${config.curatedPrefix}${folder}/*`]),
      [curated, `${ATHENA_RESULTS_PREFIX}*`],
    ]);
    return policy;
  }

  private addAlarms(topic: sns.Topic, timeoutMinutes: number, fanOut?: sfn.StateMachine): void {
    const action = new SnsAction(topic);
    const alarms = [
      new cloudwatch.Alarm(this, 'NightlyErrors', {
        alarmDescription: 'The nightly run failed (see the NightlyFailures queue and the function logs).',
        metric: this.nightly.metricErrors({ period: Duration.hours(1), statistic: 'Sum' }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, 'NightlyNearTimeout', {
        alarmDescription: 'A nightly run took over 80 % of the timeout: raise memory/timeout or move to the Athena engine.',
        metric: this.nightly.metricDuration({ period: Duration.hours(1), statistic: 'Maximum' }),
        threshold: timeoutMinutes * 60_000 * 0.8,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      // RunsSucceeded is emitted by the handler (Powertools, dimension service); 26 empty hours in a
      // row means no night has published for over a day.
      new cloudwatch.Alarm(this, 'NoSuccessfulRun', {
        alarmDescription: 'No successful nightly run in 26 hours (missing extract, failure, or the schedule is off).',
        metric: new cloudwatch.Metric({
          namespace: NIGHTLY_METRICS.namespace,
          metricName: NIGHTLY_METRICS.succeeded,
          dimensionsMap: { service: NIGHTLY_METRICS.service },
          period: Duration.hours(1),
          statistic: 'Sum',
        }),
        threshold: 1,
        evaluationPeriods: 26,
        datapointsToAlarm: 26,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      }),
    ];
    if (fanOut) {
      // The fanned-out night fails in the state machine (a phase's error ends the execution), not
      // in the nightly function the alarms above watch.
      alarms.push(
        new cloudwatch.Alarm(this, 'FanOutFailed', {
          alarmDescription: 'A fanned-out nightly execution failed, timed out or was aborted (see the state machine\'s executions).',
          metric: new cloudwatch.MathExpression({
            expression: 'failed + timedOut + aborted',
            usingMetrics: { failed: fanOut.metricFailed(), timedOut: fanOut.metricTimedOut(), aborted: fanOut.metricAborted() },
            period: Duration.hours(1),
          }),
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    }
    for (const alarm of alarms) alarm.addAlarmAction(action);
  }
}

/** Start executions of the night (a forced re-run first lists the running ones): this state machine's only. */
function grantStartNight(fn: lambda.Function, stateMachine: sfn.StateMachine): void {
  stateMachine.grantStartExecution(fn);
  fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['states:ListExecutions'], resources: [stateMachine.stateMachineArn] }));
}

/** The environment without the history engine's variables, for a function that runs no history query. */
function withoutAthena(environment: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(environment).filter(([name]) => name !== 'ATHENA_WORKGROUP' && name !== 'GLUE_DATABASE'));
}

/** What a function needs to run the history queries on Athena. */
interface HistoryQueryAccess {
  curated: s3.Bucket;
  config: DeployConfig;
  workGroup: athena.CfnWorkGroup;
  tableNames: readonly string[];
}

/**
 * Acknowledges cdk-nag's wildcard finding (AwsSolutions-IAM5) on each of these resources, and on no
 * other, so a wildcard added later stays a finding. cdk-nag names the finding by the resource as the
 * stack resolves it, flattened by its own `flattenCfnReference`: an ARN built by `formatArn` holds
 * `<AWS::Region>`/`<AWS::AccountId>` while the environment is unresolved but the literal region and
 * account under the CDK CLI (and on every deploy). Resolving the same ARN here names the finding as
 * cdk-nag will, whichever the environment. (`flattenCfnReference` is cdk-nag's own module, not
 * re-exported by its index: should an upgrade move it, this import fails rather than drift.)
 */
function acknowledgeWildcards(scope: Construct, resources: string[], reason: string): void {
  for (const resource of resources) {
    Validations.of(scope).acknowledge({ id: `AwsSolutions-IAM5[Resource::${flattenCfnReference(Stack.of(scope).resolve(resource))}]`, reason });
  }
}

/** Objects under a prefix of a bucket (`arnForObjects`, as the grants write them). */
function acknowledgeObjectWildcards(scope: Construct, reason: string, objects: [s3.Bucket, string][]): void {
  acknowledgeWildcards(scope, objects.map(([bucket, pattern]) => bucket.arnForObjects(pattern)), reason);
}

/** `grantInvoke` also allows the function's versions (`<arn>:*`): still that one function only. */
function acknowledgeInvokeVersions(scope: Construct, target: lambda.Function, who: string): void {
  acknowledgeWildcards(scope, [`${target.functionArn}:*`], `${who} may invoke one function (any of its versions) and nothing else.`);
}

/**
 * The Distributed Map's reader: ListObjectsV2 on the bucket and prefix of Prepare's payload
 * (`shardListing`). Given a bucket path, CDK grants s3:ListBucket on every bucket (`*`); this reader
 * may list the curated bucket's staging prefix only, so a payload naming anything else is denied.
 */
class ShardListingReader extends sfn.S3ObjectsItemReader {
  private readonly curated: s3.IBucket;
  private readonly stagingPrefix: string;

  constructor(curated: s3.IBucket, stagingPrefix: string) {
    super({ bucketNamePath: sfn.JsonPath.stringAt('$.shardListing.Bucket'), prefix: sfn.JsonPath.stringAt('$.shardListing.Prefix') });
    this.curated = curated;
    this.stagingPrefix = stagingPrefix;
  }

  override providePolicyStatements(): iam.PolicyStatement[] {
    return [
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [this.curated.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${this.stagingPrefix}*`] } },
      }),
    ];
  }
}

/**
 * The Distributed Map's child executions: CDK lets the state machine describe and stop executions
 * of itself (`<state machine>:*`) and redrive its map runs (`<state machine>/<label>:*`), whose
 * names are made at run time. The ARNs are built as CDK builds them (the name split from the ARN).
 */
function acknowledgeChildExecutions(stateMachine: sfn.StateMachine, label: string): void {
  const name = Arn.split(stateMachine.stateMachineArn, ArnFormat.COLON_RESOURCE_NAME).resourceName;
  const execution = (resourceName: string) =>
    Stack.of(stateMachine).formatArn({ service: 'states', resource: 'execution', resourceName, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
  acknowledgeWildcards(
    stateMachine,
    [`${execution(name!)}:*`, execution(`${name}/${label}:*`)],
    "The Distributed Map's child executions and map runs: this state machine's own executions only.",
  );
}
