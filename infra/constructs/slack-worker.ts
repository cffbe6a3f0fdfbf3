import { Duration } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import type { Config } from '../../shared/config.js';
import { acknowledgeInvokeVersions } from '../nag.js';
import type { FannedOutNight } from './fanned-out-night.js';
import { NodeFunction } from './node-function.js';

export interface SlackWorkerProps {
  /** What the worker queries with: the BI readers' policy, so that an answer shows what a reader may see. */
  readonly queryPolicy: iam.IManagedPolicy;
  /** The readers' workgroup, whose name the policy grants. */
  readonly workGroupName: string;
  readonly glueDatabase: string;
  /** Where the tables and reports are published (`status` links the report). */
  readonly destUri: string;
  /** The nightly function: `run` invokes it and waits for its outcome. */
  readonly nightly: lambda.IFunction;
  /**
   * With the fanned-out night, `run` starts its execution instead of invoking the nightly function.
   * @default none: `run` invokes the nightly function
   */
  readonly fannedOutNight?: FannedOutNight;
  /** The schedule's time zone: the default run date is yesterday there. */
  readonly scheduleTimezone: string;
  /** How answers show numbers and money (the run configuration's `display`). */
  readonly display: Config['display'];
}

/**
 * The `/crm` worker (functions/slack-worker.ts), invoked asynchronously by the endpoint: answers
 * from Athena or runs the night, and posts the answer to Slack.
 */
export class SlackWorker extends NodeFunction {
  constructor(scope: Construct, id: string, props: SlackWorkerProps) {
    super(scope, id, {
      entry: 'functions/slack-worker.ts',
      description: 'crm-metrics /crm worker: answers from Athena or runs the night, posts to Slack',
      memorySize: 512,
      // A `run` waits for the nightly function, which may take its whole timeout.
      timeout: Duration.minutes(15),
      // An answer is posted once; a failed one is logged, not retried into a second post.
      retryAttempts: 0,
      env: {
        ATHENA_WORKGROUP: props.workGroupName,
        GLUE_DATABASE: props.glueDatabase,
        DEST_URI: props.destUri,
        NIGHTLY_FUNCTION: props.nightly.functionName,
        STATE_MACHINE_ARN: props.fannedOutNight?.stateMachine.stateMachineArn,
        SCHEDULE_TIMEZONE: props.scheduleTimezone,
        CONFIG_JSON: JSON.stringify({ display: props.display }),
      },
    });
    this.role!.addManagedPolicy(props.queryPolicy);
    if (props.fannedOutNight) {
      props.fannedOutNight.grantStartNight(this);
    } else {
      props.nightly.grantInvoke(this);
      acknowledgeInvokeVersions(this, props.nightly, 'The Slack worker');
    }
  }
}
