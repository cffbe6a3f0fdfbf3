/**
 * The `/crm` slash command's endpoint (a Lambda function URL): verify, authorize, hand the work to
 * the worker Lambda (asynchronous invoke) and answer within Slack's 3 seconds. The signing secret
 * comes from Secrets Manager (cached by the middleware), never from an environment variable; each
 * accepted request is remembered in the replay table, so a captured one cannot be sent again.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import secretsManager from '@middy/secrets-manager';
import { z } from 'zod';
import { acknowledge, SlackAccessSchema, type FunctionUrlRequest, type FunctionUrlResponse } from '../shared/slack/ack.js';
import { dynamoDbReplayGuard } from '../shared/adapters/dynamodb-replay.js';
import { readEnv } from './env.js';

const logger = new Logger({ serviceName: 'crm-metrics-slack' });

const env = readEnv(['SLACK_SECRET_ARN', 'WORKER_FUNCTION', 'REPLAY_TABLE'], ['SLACK_ACCESS_JSON']);
// No access list: the command answers nobody.
const access = SlackAccessSchema.parse(JSON.parse(env.SLACK_ACCESS_JSON ?? '{}'));
const lambda = new LambdaClient({});
const replay = dynamoDbReplayGuard(new DynamoDBClient({}), env.REPLAY_TABLE);

/** The secret holds `{ "signing_secret": "…", "bot_token": "…" }` (set after deploying). */
const SlackSecretSchema = z.object({ signing_secret: z.string().min(1) });

export const handler = middy<FunctionUrlRequest, FunctionUrlResponse, Error, { slack: unknown }>()
  .use(injectLambdaContext(logger))
  .use(secretsManager({ fetchData: { slack: env.SLACK_SECRET_ARN }, setToContext: true, cacheExpiry: 15 * 60_000 }))
  .handler((request, context) =>
    acknowledge(request, {
      signingSecret: SlackSecretSchema.parse(context.slack).signing_secret,
      access,
      nowSeconds: () => Math.floor(Date.now() / 1000),
      audit: (entry) => logger.info('slack command', entry),
      replay,
      dispatch: async (job) => {
        // InvocationType Event: Lambda queues the job and answers 202 at once.
        await lambda.send(new InvokeCommand({ FunctionName: env.WORKER_FUNCTION, InvocationType: 'Event', Payload: JSON.stringify(job) }));
      },
    }),
  );
