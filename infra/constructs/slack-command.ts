import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import type { SlackAccess } from '../../shared/slack/ack.js';
import { REPLAY_EXPIRY_ATTRIBUTE, REPLAY_KEY_ATTRIBUTE } from '../../shared/slack/replay.js';
import { acknowledgeInvokeVersions } from '../nag.js';
import { NodeFunction } from './node-function.js';

/**
 * Concurrent executions reserved for (and capping) the public /crm endpoint. An acknowledgement
 * takes well under a second, so 5 serve dozens of commands a second, far beyond a team's use; a
 * flood of requests to the public URL holds at most 5 of the account's executions (the rest are
 * throttled, HTTP 429, before any code runs), leaving the rest to the worker and other functions.
 */
const SLACK_ENDPOINT_CONCURRENCY = 5;

/** The Slack app's signing secret and bot token, set by hand after deploying. */
export class SlackSecret extends secretsmanager.Secret {
  constructor(scope: Construct, id: string) {
    super(scope, id, { description: 'crm-metrics Slack app: set to {"signing_secret": "…", "bot_token": "xoxb-…"} after deploying' });
    Validations.of(this).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason: 'Slack issues and rotates the signing secret and bot token; AWS cannot rotate them.',
    });
  }
}

/**
 * Each accepted /crm request, remembered until its signature's window has closed, so that a
 * captured request cannot be sent again (functions/slack.ts; key and TTL attributes as
 * shared/slack/replay.ts names them).
 */
export class SlackReplayTable extends dynamodb.Table {
  constructor(scope: Construct, id: string) {
    super(scope, id, {
      partitionKey: { name: REPLAY_KEY_ATTRIBUTE, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: REPLAY_EXPIRY_ATTRIBUTE,
      // Nothing in it outlives five minutes' use: losing it loses nothing.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    Validations.of(this).acknowledge({
      id: 'AwsSolutions-DDB3',
      reason: 'Items are needed for five minutes only (the replay window); a restored copy would protect nothing.',
    });
  }
}

export interface SlackCommandProps {
  /** The Slack app's secret; the endpoint reads its signing secret (never an environment variable). */
  readonly secret: secretsmanager.ISecret;
  /** The worker each accepted command is handed to (asynchronous invoke). */
  readonly worker: lambda.IFunction;
  /** Where accepted requests are remembered; the endpoint may only put into it. */
  readonly replays: dynamodb.ITable;
  /** Who may use the command: teams and channels (both must match), and who may `run`. */
  readonly access: SlackAccess;
  /**
   * Concurrent executions reserved for (and capping) the endpoint.
   * @default 5
   */
  readonly reservedConcurrentExecutions?: number;
}

/**
 * The `/crm` slash command's endpoint (functions/slack.ts) on a public function URL: verifies the
 * request's signature, authorizes it, hands it to the worker and acknowledges within Slack's 3
 * seconds.
 */
export class SlackCommand extends NodeFunction {
  /** The Request URL to give the slash command in the Slack app. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: SlackCommandProps) {
    super(scope, id, {
      entry: 'functions/slack.ts',
      description: 'crm-metrics /crm endpoint: verifies, authorizes and acknowledges slash commands',
      memorySize: 256,
      timeout: Duration.seconds(10),
      reservedConcurrentExecutions: props.reservedConcurrentExecutions ?? SLACK_ENDPOINT_CONCURRENCY,
      env: {
        SLACK_SECRET_ARN: props.secret.secretArn,
        WORKER_FUNCTION: props.worker.functionName,
        SLACK_ACCESS_JSON: JSON.stringify(props.access),
        REPLAY_TABLE: props.replays.tableName,
      },
    });
    // The conditional put only: the endpoint never reads, updates or deletes what it remembered.
    this.addToRolePolicy(new iam.PolicyStatement({ actions: ['dynamodb:PutItem'], resources: [props.replays.tableArn] }));
    props.secret.grantRead(this);
    props.worker.grantInvoke(this);
    acknowledgeInvokeVersions(this, props.worker, 'The Slack endpoint');
    // Slack cannot sign AWS requests: the URL is public and every request must carry Slack's
    // signature, which the function verifies before anything else.
    this.url = this.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE }).url;
  }
}
