/**
 * The whole product on AWS, one stack: raw and curated buckets, the nightly Lambda on an
 * EventBridge Scheduler schedule (or, with `orchestration: "step-functions"`, a state machine that
 * fans the scoring out over shards), the Glue tables and `_latest` views BI tools query through an
 * Athena workgroup, alarms, a managed policy to hand to BI readers, and the `/crm` Slack command.
 *
 * The stack lists its resources at its root; infra/constructs/ holds their shapes. Each construct
 * is the resource it is named after (a Bucket, a NodejsFunction, a CfnWorkGroup …), or holds its
 * main resource as its `Default` child (the fanned-out night's state machine), so every logical id
 * is the one the stack had before it was split into constructs (test/fixtures/infra-logical-ids.json).
 * A changed logical id replaces the resource on deploy: a bucket would start empty, the Slack
 * secret would lose its value, a named Glue table, workgroup or log group could not be created again.
 */
import { CfnOutput, Duration, RemovalPolicy, Size, Stack, TimeZone, Validations, type StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as glue from 'aws-cdk-lib/aws-glue';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import * as sns from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import type { Env } from '../functions/env.js';
import { glueCatalogInputs, HISTORY_QUERY_TABLES } from '../shared/athena/tables.js';
import { rejects, TABLES } from '../shared/tables/index.js';
import { ConfigSchema } from '../shared/config.js';
import { NIGHTLY_METRICS } from '../shared/metrics.js';
import { STAGING_ROOT } from '../shared/staging.js';
import { grantHistoryQueries, grantRunAccess, grantStagingAccess, type DataLocations } from './access.js';
import type { DeployConfig } from './config.js';
import { BiReaderPolicy } from './constructs/bi-reader-policy.js';
import { EngineFunction } from './constructs/engine-function.js';
import { FannedOutNight } from './constructs/fanned-out-night.js';
import { NodeFunction } from './constructs/node-function.js';
import { NotifyingAlarm } from './constructs/notifying-alarm.js';
import { PrivateBucket } from './constructs/private-bucket.js';
import { QueryWorkGroup } from './constructs/query-work-group.js';
import { SlackCommand, SlackReplayTable, SlackSecret } from './constructs/slack-command.js';
import { SlackWorker } from './constructs/slack-worker.js';
import { acknowledgeInvokeVersions } from './nag.js';

const ATHENA_RESULTS_PREFIX = 'athena-results/';

/**
 * Athena's own result files of the pipeline's queries (UNLOAD writes its Parquet to the run's
 * staging folder; this holds Athena's manifests and metadata): scratch, expired with the staging area.
 */
const PIPELINE_RESULTS = `${STAGING_ROOT}athena-results/`;

/** The fan-out's phases: one bundle (functions/fanout.ts), one exported handler each. */
const FANOUT_ENTRY = 'functions/fanout.ts';

export interface CrmMetricsStackProps extends StackProps {
  readonly config: DeployConfig;
}

export class CrmMetricsStack extends Stack {
  readonly nightly: EngineFunction;
  /** With `orchestration: "step-functions"` only. */
  readonly fanOutStateMachine?: sfn.StateMachine;

  constructor(scope: Construct, id: string, props: CrmMetricsStackProps) {
    super(scope, id, props);
    const { config } = props;

    // Storage.
    const accessLogs = new PrivateBucket(this, 'AccessLogs', { lifecycleRules: [{ expiration: Duration.days(365) }] });
    Validations.of(accessLogs).acknowledge({ id: 'AwsSolutions-S1', reason: 'This is the access-log bucket; logging its own access would loop.' });
    const raw = new PrivateBucket(this, 'Raw', {
      bucketName: config.rawBucketName,
      // Extracts are the source of truth: an overwritten one stays recoverable for 30 days.
      versioned: true,
      lifecycleRules: [{ noncurrentVersionExpiration: Duration.days(30), abortIncompleteMultipartUploadAfter: Duration.days(1) }],
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'raw/',
    });
    const curated = new PrivateBucket(this, 'Curated', {
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
    const data: DataLocations = { raw, rawPrefix: config.rawPrefix, curated, curatedPrefix: config.curatedPrefix };
    const sourceUri = `s3://${raw.bucketName}/${config.rawPrefix}`;
    const destUri = `s3://${curated.bucketName}/${config.curatedPrefix}`;
    const stagingPrefix = `${config.curatedPrefix}${STAGING_ROOT}`;

    // The catalog: a Glue table per published table, a `_latest` view per snapshot table.
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
    const tableNames = tableInputs.map((t) => t.name);

    const workGroup = new QueryWorkGroup(this, 'WorkGroup', {
      name: config.athena.workGroup,
      description: 'crm-metrics: BI and Slack queries over the curated tables',
      bytesScannedCutoffGb: config.athena.bytesScannedCutoffGb,
      resultsLocation: `s3://${curated.bucketName}/${ATHENA_RESULTS_PREFIX}`,
    });
    // The run's own queries (engine.history athena or auto) scan the whole history, far more than a
    // BI query should: their own workgroup, limit and cost line.
    const pipelineWorkGroup = new QueryWorkGroup(this, 'PipelineWorkGroup', {
      name: `${config.athena.workGroup}-pipeline`,
      description: "crm-metrics: the nightly run's queries over the whole history",
      bytesScannedCutoffGb: config.athena.pipelineBytesScannedCutoffGb,
      resultsLocation: `s3://${curated.bucketName}/${config.curatedPrefix}${PIPELINE_RESULTS}`,
    });
    // Glue access to what the history queries read, not to every table (least privilege; and the
    // role's inline policy stays below IAM's size limit as tables are added).
    const historyQueries = { curated, workGroup: pipelineWorkGroup, glueDatabase: config.glueDatabase, tableNames: HISTORY_QUERY_TABLES };

    // The night.
    const failures = new sqs.Queue(this, 'NightlyFailures', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(failures).acknowledge({ id: 'AwsSolutions-SQS3', reason: 'This queue is the dead-letter destination of the nightly run itself.' });

    // What every engine function reads (functions/lambda-env.ts): where the data is, the run's configuration.
    const runEnv: Env = {
      SOURCE_URI: sourceUri,
      DEST_URI: destUri,
      POWERTOOLS_LOG_LEVEL: 'INFO',
      // The defaults need not travel: the environment holds 4 KB for all variables together.
      CONFIG_JSON: Object.keys(config.pipeline).length > 0 ? JSON.stringify(config.pipeline) : undefined,
    };
    // The history queries' engine when `engine.history` is athena (or auto, past the envelope).
    const historyEnv: Env = { ATHENA_WORKGROUP: pipelineWorkGroup.name, GLUE_DATABASE: config.glueDatabase };
    const nightSize = {
      memorySize: config.lambda.memoryMb,
      timeout: Duration.minutes(config.lambda.timeoutMinutes),
      ephemeralStorageSize: Size.mebibytes(config.lambda.ephemeralStorageMb),
    };

    // Deployed with either orchestration: with the fanned-out night it remains for a one-off run by hand.
    this.nightly = new EngineFunction(this, 'Nightly', {
      entry: 'functions/nightly.ts',
      description: 'crm-metrics nightly run: ingest the day, score RFM, CLV and the holdout, publish tables',
      ...nightSize,
      // One run at a time: two runs of a date must never interleave their publishing.
      reservedConcurrentExecutions: 1,
      // A run is idempotent but long; a failure goes to the queue and an alarm, not a blind retry.
      retryAttempts: 0,
      onFailure: new SqsDestination(failures),
      env: { ...runEnv, ...historyEnv },
    });
    grantRunAccess(this.nightly, data);
    grantHistoryQueries(this.nightly, historyQueries);

    // What the schedule invokes: the whole run, or the starter of the fanned-out run.
    let scheduled: lambda.Function = this.nightly;
    let fannedOutNight: FannedOutNight | undefined;
    if (config.orchestration === 'step-functions') {
      const { fanout } = config;
      const phase = (phaseId: string, handler: 'prepare' | 'finish', description: string, env: Env = {}) => {
        // Each phase is as heavy as the single-function night at its worst (ingest + fit; build + publish).
        const fn = new EngineFunction(this, phaseId, { entry: FANOUT_ENTRY, handler, description, ...nightSize, env: { ...runEnv, ...historyEnv, ...env } });
        grantRunAccess(fn, data);
        grantHistoryQueries(fn, historyQueries);
        return fn;
      };
      // The lock Prepare hands over must outlast the execution, or another run could take it mid-Map.
      const prepare = phase('FanOutPrepare', 'prepare', 'crm-metrics fan-out: ingest the day, fit the models, stage the shard files', {
        FANOUT_LEASE_HOURS: String(fanout.timeoutHours),
      });
      const finish = phase('FanOutFinish', 'finish', 'crm-metrics fan-out: build every table from the shard scores and publish');
      const scoreShard = new EngineFunction(this, 'FanOutScore', {
        entry: FANOUT_ENTRY,
        handler: 'scoreShard',
        description: 'crm-metrics fan-out: score one shard of the customer summary with the fitted parameters',
        memorySize: fanout.shardMemoryMb,
        timeout: Duration.minutes(fanout.shardTimeoutMinutes),
        ephemeralStorageSize: Size.mebibytes(fanout.shardEphemeralStorageMb),
        // Scoring a shard queries nothing: no history engine.
        env: runEnv,
      });
      grantStagingAccess(scoreShard, curated, stagingPrefix);
      fannedOutNight = new FannedOutNight(this, 'FanOut', {
        prepare,
        scoreShard,
        finish,
        curated,
        stagingPrefix,
        maxConcurrency: fanout.maxConcurrency,
        timeout: Duration.hours(fanout.timeoutHours),
        logGroup: new logs.LogGroup(this, 'FanOutLogs', {
          // Under /aws/vendedlogs/ CloudWatch Logs needs no resource policy entry per log group.
          logGroupName: `/aws/vendedlogs/states/${this.stackName}-FanOut`,
          retention: logs.RetentionDays.THREE_MONTHS,
          removalPolicy: RemovalPolicy.DESTROY,
        }),
      });
      this.fanOutStateMachine = fannedOutNight.stateMachine;
      // Starts nothing while an execution runs, and names the execution after the run date: one
      // night at a time, which the single function's reserved concurrency of 1 guards, without
      // reserving any concurrency for the fan-out's functions.
      scheduled = new NodeFunction(this, 'FanOutStart', {
        entry: 'functions/fanout-start.ts',
        description: 'crm-metrics nightly start: starts the fan-out state machine, the execution named after the run date',
        memorySize: 512,
        timeout: Duration.seconds(30),
        // The execution name makes a repeated start harmless, so Lambda's own retries may run; what
        // still fails lands in the queue the alarms' operators already watch.
        onFailure: new SqsDestination(failures),
        env: { STATE_MACHINE_ARN: fannedOutNight.stateMachine.stateMachineArn, POWERTOOLS_LOG_LEVEL: 'INFO' },
      });
      fannedOutNight.grantStartNight(scheduled);
    }

    // Alarms.
    const alarmTopic = new sns.Topic(this, 'Alarms', { displayName: 'crm-metrics alarms', enforceSSL: true });
    Validations.of(alarmTopic).acknowledge({
      id: 'AwsSolutions-SNS2',
      reason: 'Alarm notifications carry no customer data, and CloudWatch cannot publish to a topic under the AWS-managed SNS key.',
    });
    if (config.alarmEmail) alarmTopic.addSubscription(new EmailSubscription(config.alarmEmail));
    new NotifyingAlarm(this, 'NightlyErrors', {
      topic: alarmTopic,
      alarmDescription: 'The nightly run failed (see the NightlyFailures queue and the function logs).',
      metric: this.nightly.metricErrors({ period: Duration.hours(1), statistic: 'Sum' }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    new NotifyingAlarm(this, 'NightlyNearTimeout', {
      topic: alarmTopic,
      alarmDescription: 'A nightly run took over 80 % of the timeout: raise memory/timeout or move to the Athena engine.',
      metric: this.nightly.metricDuration({ period: Duration.hours(1), statistic: 'Maximum' }),
      threshold: config.lambda.timeoutMinutes * 60_000 * 0.8,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    });
    // RunsSucceeded is emitted by the handler (Powertools, dimension service); 26 empty hours in a
    // row means no night has published for over a day.
    new NotifyingAlarm(this, 'NoSuccessfulRun', {
      topic: alarmTopic,
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
    });
    if (fannedOutNight) {
      // The fanned-out night fails in the state machine (a phase's error ends the execution), not
      // in the nightly function the alarms above watch.
      const machine = fannedOutNight.stateMachine;
      new NotifyingAlarm(this, 'FanOutFailed', {
        topic: alarmTopic,
        alarmDescription: "A fanned-out nightly execution failed, timed out or was aborted (see the state machine's executions).",
        metric: new cloudwatch.MathExpression({
          expression: 'failed + timedOut + aborted',
          usingMetrics: { failed: machine.metricFailed(), timedOut: machine.metricTimedOut(), aborted: machine.metricAborted() },
          period: Duration.hours(1),
        }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      });
    }

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

    // Readers: BI tools, and the Slack command, which queries through their policy.
    const biReader = new BiReaderPolicy(this, 'BiReader', {
      workGroup,
      glueDatabase: config.glueDatabase,
      tableNames,
      tables: TABLES,
      // `rejects` holds raw input lines, which can carry personal data; whoever fixes the extracts
      // needs access granted apart from this policy.
      hidden: [rejects],
      curated,
      curatedPrefix: config.curatedPrefix,
      resultsPrefix: ATHENA_RESULTS_PREFIX,
    });
    const slackSecret = new SlackSecret(this, 'SlackSecret');
    const slackWorker = new SlackWorker(this, 'SlackWorker', {
      queryPolicy: biReader,
      workGroupName: workGroup.name,
      glueDatabase: config.glueDatabase,
      destUri,
      nightly: this.nightly,
      fannedOutNight,
      scheduleTimezone: config.schedule.timezone,
      display: ConfigSchema.parse(config.pipeline).display,
    });
    const slackReplays = new SlackReplayTable(this, 'SlackReplays');
    const slackCommand = new SlackCommand(this, 'SlackCommand', { secret: slackSecret, worker: slackWorker, replays: slackReplays, access: config.slack });

    new CfnOutput(this, 'RawBucket', { value: raw.bucketName, description: `Drop extracts at ${config.rawPrefix}transactions/dt=YYYY-MM-DD/` });
    new CfnOutput(this, 'CuratedLocation', { value: destUri });
    new CfnOutput(this, 'NightlyFunction', { value: this.nightly.functionName });
    if (this.fanOutStateMachine) new CfnOutput(this, 'FanOutStateMachine', { value: this.fanOutStateMachine.stateMachineArn });
    new CfnOutput(this, 'GlueDatabase', { value: config.glueDatabase });
    new CfnOutput(this, 'AthenaWorkGroup', { value: workGroup.name });
    new CfnOutput(this, 'SlackCommandUrl', { value: slackCommand.url, description: 'Request URL of the /crm slash command in the Slack app' });
    new CfnOutput(this, 'BiReaderPolicy', { value: biReader.managedPolicyArn, description: 'Attach to the role or user a BI tool connects with' });
  }
}
