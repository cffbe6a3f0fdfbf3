import { Arn, ArnFormat, Duration, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { acknowledgeInvokeVersions, acknowledgeWildcards } from '../nag.js';

/**
 * Errors of the Lambda service itself (not of the handler) a task retries: the invocation did not
 * run or its answer was lost. Throttling is among them: up to `maxConcurrency` shard functions
 * start at once and may meet the account's concurrency limit.
 */
const LAMBDA_SERVICE_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.ClientExecutionTimeoutException',
  'Lambda.TooManyRequestsException',
];

/** The Distributed Map's label: names its map runs (and scopes the permission to redrive them). */
const SCORE_SHARDS_LABEL = 'ScoreShards';

export interface FannedOutNightProps {
  /** Ingests the day and fits the models, staging one customer-summary file per shard (functions/fanout.ts `prepare`). */
  readonly prepare: lambda.IFunction;
  /** Scores one shard file with the fitted parameters (`scoreShard`): once per file, in parallel. */
  readonly scoreShard: lambda.IFunction;
  /** Builds every table from the shard scores and publishes (`finish`). */
  readonly finish: lambda.IFunction;
  /** The bucket of the staging area, whose shard files the Distributed Map lists. */
  readonly curated: s3.IBucket;
  /** The staging area's prefix in `curated`: the Map may list nothing else. */
  readonly stagingPrefix: string;
  /** Shard functions running at once: bounds the account concurrency the night takes. */
  readonly maxConcurrency: number;
  /** The whole execution (prepare, every shard, finish) is stopped after this. */
  readonly timeout: Duration;
  /**
   * Every execution's transitions, with their data. Given rather than created here: it is named
   * (under /aws/vendedlogs/), and the stack owns it at its root, where its logical id has always been.
   */
  readonly logGroup: logs.ILogGroup;
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
 * Whatever starts it (see {@link grantStartNight}) names the execution after the run date: Step
 * Functions allows one execution of a name (for 90 days), so a repeated or retried trigger cannot
 * run a date twice (a forced re-run gets a suffixed name).
 *
 * The state machine is this construct's `Default` child, which CDK leaves out of logical ids: it and
 * its role and policies keep the ids they had when the stack created the state machine itself.
 */
export class FannedOutNight extends Construct {
  readonly stateMachine: sfn.StateMachine;

  constructor(scope: Construct, id: string, props: FannedOutNightProps) {
    super(scope, id);
    const invoke = (stateId: string, fn: lambda.IFunction, outputPath?: string) => {
      // payloadResponseOnly: the state's input is the handler's event and its output the handler's
      // return value, with no Lambda response envelope around them (the payload contract of fanout.ts).
      const task = new tasks.LambdaInvoke(this, stateId, { lambdaFunction: fn, payloadResponseOnly: true, retryOnServiceExceptions: false, outputPath });
      // A handler's own error is not retried: a run is not retried blindly (as with the single function).
      return task.addRetry({ errors: LAMBDA_SERVICE_ERRORS, interval: Duration.seconds(2), maxAttempts: 6, backoffRate: 2, jitterStrategy: sfn.JitterType.FULL });
    };
    const failed = new sfn.Fail(this, 'NightFailed', {
      comment: 'A phase failed: the date stays unpublished (Finish removes an old manifest first and moves the new one last).',
      errorPath: '$.error.Error',
      causePath: '$.error.Cause',
    });
    const catchAll = { resultPath: '$.error' };

    const prepare = invoke('Prepare', props.prepare).addCatch(failed, catchAll);
    const scoreShards = new sfn.DistributedMap(this, 'ScoreShards', {
      comment: 'One child execution per shard file Prepare staged.',
      itemReader: new ShardListingReader(props.curated, props.stagingPrefix),
      // The shard file's key names its run (`_staging/<run>/shards/input/…`): all a shard needs.
      itemSelector: { key: sfn.JsonPath.stringAt('$$.Map.Item.Value.Key') },
      maxConcurrency: props.maxConcurrency,
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
    scoreShards.itemProcessor(invoke('ScoreShard', props.scoreShard, sfn.JsonPath.DISCARD));
    scoreShards.addCatch(failed, catchAll);
    const finish = invoke('Finish', props.finish).addCatch(failed, catchAll);

    const definition = prepare.next(
      new sfn.Choice(this, 'Prepared?', { comment: 'No extract for the date, or already published: nothing to score.' })
        .when(sfn.Condition.stringEquals('$.status', 'prepared'), scoreShards.next(finish).next(new sfn.Succeed(this, 'Published')))
        .otherwise(new sfn.Succeed(this, 'NothingToDo')),
    );
    this.stateMachine = new sfn.StateMachine(this, 'Default', {
      comment: 'crm-metrics fanned-out night: prepare, score the shards in parallel, publish',
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromChainable(definition),
      timeout: props.timeout,
      // Every state's transitions, with their data: payloads are dates, run ids, S3 keys and counts,
      // never customer rows. (cdk-nag AwsSolutions-SF1 asks for ALL.)
      logs: { destination: props.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
      // AwsSolutions-SF2.
      tracingEnabled: true,
    });
    for (const fn of [props.prepare, props.scoreShard, props.finish]) acknowledgeInvokeVersions(this.stateMachine, fn, 'The state machine');
    Validations.of(this.stateMachine).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Only the log-delivery actions CDK grants for the execution log (logs:*LogDelivery*, PutResourcePolicy, Describe*) and X-Ray trace upload, none of which supports resource-level permissions.',
    });
    acknowledgeChildExecutions(this.stateMachine, SCORE_SHARDS_LABEL);
  }

  /** Start executions of the night (a forced re-run first lists the running ones): this state machine's only. */
  grantStartNight(fn: lambda.IFunction): void {
    this.stateMachine.grantStartExecution(fn);
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['states:ListExecutions'], resources: [this.stateMachine.stateMachineArn] }));
  }
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
