/**
 * The whole product on AWS, one stack: raw and curated buckets, the nightly Lambda on an
 * EventBridge Scheduler schedule, the Glue tables and `_latest` views BI tools query through an
 * Athena workgroup, alarms, and a managed policy to hand to BI readers.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CfnOutput, Duration, RemovalPolicy, Size, Stack, TimeZone, Validations, type StackProps } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
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
import type { Construct } from 'constructs';
import { glueCatalogInputs } from '../shared/athena/tables.js';
import { CATALOG } from '../shared/catalog.js';
import { ConfigSchema } from '../shared/config.js';
import { NIGHTLY_METRICS } from '../shared/metrics.js';
import { STAGING_ROOT } from '../shared/pipeline.js';
import type { DeployConfig } from './config.js';

const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The engine's native binding cannot be bundled: these packages are copied beside the bundle. */
const NATIVE_PACKAGES = ['@duckdb/node-api', '@duckdb/node-bindings', '@duckdb/node-bindings-linux-x64', 'detect-libc'];

/** Share of the function's memory given to DuckDB; Node, the SDK and the fits need the rest. */
const ENGINE_MEMORY_SHARE = 0.6;

/** The Lambda environment holds 4 KB for all variables together. */
const LAMBDA_ENVIRONMENT_BYTES = 4096;

const ATHENA_RESULTS_PREFIX = 'athena-results/';

export interface CrmMetricsStackProps extends StackProps {
  readonly config: DeployConfig;
}

export class CrmMetricsStack extends Stack {
  readonly nightly: NodejsFunction;

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
      ENGINE_MEMORY_LIMIT: `${Math.floor(memoryMb * ENGINE_MEMORY_SHARE)}MB`,
      // DuckDB looks for a home directory; Lambda's file system is read-only outside /tmp.
      HOME: '/tmp',
      POWERTOOLS_LOG_LEVEL: 'INFO',
    };
    if (Object.keys(config.pipeline).length > 0) environment['CONFIG_JSON'] = JSON.stringify(config.pipeline);
    const environmentBytes = Object.entries(environment).reduce((n, [k, v]) => n + k.length + v.length, 0);
    if (environmentBytes > LAMBDA_ENVIRONMENT_BYTES / 2) {
      // Tokens (bucket names) resolve to longer strings at deploy time; keep half the room for them.
      throw new Error(`pipeline config too large for the Lambda environment (${environmentBytes} bytes); shorten it`);
    }

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
    this.grantNightlyAccess(raw, curated, config);

    const alarmTopic = new sns.Topic(this, 'Alarms', { displayName: 'crm-metrics alarms', enforceSSL: true });
    Validations.of(alarmTopic).acknowledge({
      id: 'AwsSolutions-SNS2',
      reason: 'Alarm notifications carry no customer data, and CloudWatch cannot publish to a topic under the AWS-managed SNS key.',
    });
    if (config.alarmEmail) alarmTopic.addSubscription(new EmailSubscription(config.alarmEmail));
    this.addAlarms(alarmTopic, timeoutMinutes);

    new scheduler.Schedule(this, 'NightlySchedule', {
      description: `crm-metrics nightly run at ${config.schedule.hour}:${String(config.schedule.minute).padStart(2, '0')} ${config.schedule.timezone}`,
      schedule: scheduler.ScheduleExpression.cron({
        hour: String(config.schedule.hour),
        minute: String(config.schedule.minute),
        timeZone: TimeZone.of(config.schedule.timezone),
      }),
      enabled: config.schedule.enabled,
      target: new LambdaInvoke(this.nightly, {
        // The handler runs the day before the scheduled time's date in this zone.
        input: scheduler.ScheduleTargetInput.fromObject({ time: scheduler.ContextAttribute.scheduledTime, timezone: config.schedule.timezone }),
        deadLetterQueue: failures,
        retryAttempts: 3,
        maxEventAge: Duration.hours(6),
      }),
    });
    // The target's role is created at the stack's root, shared by schedules of the same target.
    acknowledgeInvokeVersions(this, this.nightly, "The scheduler's role");

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

    const workGroup = new athena.CfnWorkGroup(this, 'WorkGroup', {
      name: config.athena.workGroup,
      description: 'crm-metrics: BI and Slack queries over the curated tables',
      recursiveDeleteOption: true,
      workGroupConfiguration: {
        // Clients cannot point results elsewhere or switch encryption off.
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        bytesScannedCutoffPerQuery: Math.round(config.athena.bytesScannedCutoffGb * 1024 ** 3),
        engineVersion: { selectedEngineVersion: 'Athena engine version 3' },
        resultConfiguration: {
          outputLocation: `s3://${curated.bucketName}/${ATHENA_RESULTS_PREFIX}`,
          encryptionConfiguration: { encryptionOption: 'SSE_S3' },
        },
      },
    });

    const biReader = this.biReaderPolicy(curated, config, workGroup, tableInputs.map((t) => t.name));
    const slackUrl = this.slackCommand(config, biReader, workGroup, destUri);

    new CfnOutput(this, 'RawBucket', { value: raw.bucketName, description: `Drop extracts at ${config.rawPrefix}transactions/dt=YYYY-MM-DD/` });
    new CfnOutput(this, 'CuratedLocation', { value: destUri });
    new CfnOutput(this, 'NightlyFunction', { value: this.nightly.functionName });
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
        ...(nativeEngine
          ? {
              externalModules: NATIVE_PACKAGES,
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
        SCHEDULE_TIMEZONE: config.schedule.timezone,
        CONFIG_JSON: JSON.stringify({ display: ConfigSchema.parse(config.pipeline).display }),
      },
    });
    worker.role!.addManagedPolicy(biReader);
    this.nightly.grantInvoke(worker);
    acknowledgeInvokeVersions(worker, this.nightly, 'The Slack worker');
    const endpoint = this.nodeFunction('SlackCommand', 'functions/slack.ts', {
      description: 'crm-metrics /crm endpoint: verifies, authorizes and acknowledges slash commands',
      memorySize: 256,
      timeout: Duration.seconds(10),
      environment: {
        SLACK_SECRET_ARN: secret.secretArn,
        WORKER_FUNCTION: worker.functionName,
        SLACK_ACCESS_JSON: JSON.stringify(config.slack),
      },
    });
    secret.grantRead(endpoint);
    worker.grantInvoke(endpoint);
    acknowledgeInvokeVersions(endpoint, worker, 'The Slack endpoint');
    // Slack cannot sign AWS requests: the URL is public and every request must carry Slack's
    // signature, which the function verifies before anything else.
    return endpoint.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE }).url;
  }

  /** Read the extract prefix, read and write the curated prefix; nothing else in either bucket. */
  private grantNightlyAccess(raw: s3.Bucket, curated: s3.Bucket, config: DeployConfig): void {
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
    for (const statement of statements) this.nightly.addToRolePolicy(statement);
    acknowledgeObjectWildcards(this.nightly, 'The run reads extracts and writes tables named by date, under these prefixes only.', [
      [raw, `${extracts}*`],
      [curated, `${config.curatedPrefix}*`],
    ]);
  }

  /**
   * What a BI tool (or the Slack command) needs to query: run queries in this workgroup only, read
   * this database's tables, read the curated prefix, write query results.
   */
  private biReaderPolicy(curated: s3.Bucket, config: DeployConfig, workGroup: athena.CfnWorkGroup, tableNames: string[]): iam.ManagedPolicy {
    const glueArn = (resource: string) => this.formatArn({ service: 'glue', resource, resourceName: undefined });
    const tableFolders = CATALOG.map((table) => table.name);
    const policy = new iam.ManagedPolicy(this, 'BiReader', {
      description: 'crm-metrics: query the curated tables through the Athena workgroup',
      statements: [
        new iam.PolicyStatement({
          actions: ['athena:StartQueryExecution', 'athena:GetQueryExecution', 'athena:GetQueryResults', 'athena:StopQueryExecution', 'athena:GetWorkGroup'],
          resources: [this.formatArn({ service: 'athena', resource: 'workgroup', resourceName: workGroup.name })],
        }),
        new iam.PolicyStatement({
          actions: ['glue:GetDatabase', 'glue:GetTable', 'glue:GetTables', 'glue:GetPartition', 'glue:GetPartitions'],
          // Each table and view by name: the catalog lists them all, so no wildcard is needed.
          resources: [glueArn('catalog'), glueArn(`database/${config.glueDatabase}`), ...tableNames.map((name) => glueArn(`table/${config.glueDatabase}/${name}`))],
        }),
        new iam.PolicyStatement({ actions: ['s3:GetBucketLocation'], resources: [curated.bucketArn] }),
        new iam.PolicyStatement({
          actions: ['s3:ListBucket'],
          resources: [curated.bucketArn],
          conditions: { StringLike: { 's3:prefix': [`${config.curatedPrefix}*`, `${ATHENA_RESULTS_PREFIX}*`] } },
        }),
        // The tables and reports only: not the staging area, nor the holdout export.
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

  private addAlarms(topic: sns.Topic, timeoutMinutes: number): void {
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
    for (const alarm of alarms) alarm.addAlarmAction(action);
  }
}

/**
 * cdk-nag names each wildcard finding by the resource as written in the template; acknowledging
 * exactly those (and no others) keeps any wildcard added later a finding.
 */
function acknowledgeObjectWildcards(scope: Construct, reason: string, objects: [s3.Bucket, string][]): void {
  for (const [bucket, pattern] of objects) {
    const logicalId = Stack.of(bucket).getLogicalId(bucket.node.defaultChild as s3.CfnBucket);
    Validations.of(scope).acknowledge({ id: `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>/${pattern}]`, reason });
  }
}

/** `grantInvoke` also allows the function's versions (`<arn>:*`): still that one function only. */
function acknowledgeInvokeVersions(scope: Construct, target: lambda.Function, who: string): void {
  const logicalId = Stack.of(target).getLogicalId(target.node.defaultChild as lambda.CfnFunction);
  Validations.of(scope).acknowledge({
    id: `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>:*]`,
    reason: `${who} may invoke one function (any of its versions) and nothing else.`,
  });
}
