/**
 * The deployed `/crm` functions as wired in functions/slack.ts and functions/slack-worker.ts: the
 * middy secrets middleware and the real AWS SDK clients, against a loopback stand-in for Secrets
 * Manager (GetSecretValue, awsJson1_1) and Lambda (Invoke, REST). Response shapes follow the AWS API
 * references: GetSecretValue returns ARN, Name, VersionId, SecretString, VersionStages, CreatedDate;
 * an `Event` Invoke answers 202 with an empty body; a synchronous one 200 with the function's result
 * (`X-Amz-Function-Error` when it threw), or 429 TooManyRequestsException when throttled. The
 * replay table is test/fake-dynamodb.ts (PutItem with its condition evaluated).
 */
import { createServer } from 'node:http';
import { mkdir, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { partitionKey } from '../shared/catalog.js';
import { REPLAY_KEY_ATTRIBUTE } from '../shared/slack/replay.js';
import { runManifest } from '../shared/tables/index.js';
import { EarlierDatesUnpublished } from '../shared/pipeline.js';
import { slackSignature } from '../shared/slack/signature.js';
import { fakeAwsJson } from './fake-aws.js';
import { fakeDynamoDb } from './fake-dynamodb.js';
import { tempDir } from './helpers.js';

const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:crm-metrics-slack-AbCdEf';
const SIGNING_SECRET = 'e2e-signing-secret';
const REPLAY_TABLE = 'crm-metrics-slack-replays';
let replays: Awaited<ReturnType<typeof fakeDynamoDb>>;
const requests: { kind: 'secret' | 'invoke'; invocationType?: string; path?: string; body: string }[] = [];
let close: () => void;
let endpoint: string;
const posts: { text: string }[] = [];
const nightlyReplies: { status: number; headers: Record<string, string>; body: unknown }[] = [];

beforeAll(async () => {
  const server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    if (req.headers['x-amz-target'] === 'secretsmanager.GetSecretValue') {
      requests.push({ kind: 'secret', body });
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(
        JSON.stringify({
          ARN: SECRET_ARN,
          Name: 'crm-metrics-slack',
          VersionId: 'EXAMPLE1-90ab-cdef-fedc-ba987SECRET1',
          SecretString: JSON.stringify({ signing_secret: SIGNING_SECRET, bot_token: 'xoxb-not-used' }),
          VersionStages: ['AWSCURRENT'],
          CreatedDate: 1523477145.713,
        }),
      );
    } else if (req.url?.startsWith('/2015-03-31/functions/crm-nightly/')) {
      requests.push({ kind: 'invoke', invocationType: String(req.headers['x-amz-invocation-type']), path: req.url, body });
      const reply = nightlyReplies.shift()!;
      res.writeHead(reply.status, reply.headers).end(JSON.stringify(reply.body));
    } else if (req.url?.startsWith('/2015-03-31/functions/')) {
      requests.push({ kind: 'invoke', invocationType: String(req.headers['x-amz-invocation-type']), path: req.url, body });
      res.writeHead(202).end();
    } else if (req.url === '/response-url') {
      posts.push(JSON.parse(body) as { text: string });
      res.writeHead(200).end('ok');
    } else {
      res.writeHead(400).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  replays = await fakeDynamoDb({ [REPLAY_TABLE]: { key: REPLAY_KEY_ATTRIBUTE } });
  close = () => {
    server.close();
    replays.close();
  };
  vi.stubEnv('AWS_ENDPOINT_URL_SECRETS_MANAGER', endpoint);
  vi.stubEnv('AWS_ENDPOINT_URL_DYNAMODB', replays.endpoint);
  vi.stubEnv('REPLAY_TABLE', REPLAY_TABLE);
  vi.stubEnv('AWS_ENDPOINT_URL_LAMBDA', endpoint);
  vi.stubEnv('AWS_REGION', 'eu-west-1');
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'test');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
  vi.stubEnv('SLACK_SECRET_ARN', SECRET_ARN);
  vi.stubEnv('WORKER_FUNCTION', 'crm-metrics-slack-worker');
  vi.stubEnv('SLACK_ACCESS_JSON', JSON.stringify({ teams: ['T1'], channels: ['C1'], runUsers: [] }));
  vi.stubEnv('ATHENA_WORKGROUP', 'crm-metrics');
  vi.stubEnv('GLUE_DATABASE', 'crm_metrics');
  vi.stubEnv('DEST_URI', 's3://crm-curated/curated/');
  vi.stubEnv('NIGHTLY_FUNCTION', 'crm-nightly');
  vi.stubEnv('SLACK_RESPONSE_URL_PREFIX', `${endpoint}/response-url`);
});

afterAll(() => {
  vi.unstubAllEnvs();
  close?.();
});

/** A function URL (payload 2.0) event carrying a signed slash command, body base64 as URLs deliver forms. */
function functionUrlEvent(text: string) {
  const body = new URLSearchParams({ command: '/crm', text, team_id: 'T1', channel_id: 'C1', user_id: 'U1', response_url: 'https://hooks.slack.com/commands/T1/2/x' }).toString();
  const timestamp = Math.floor(Date.now() / 1000);
  return {
    version: '2.0',
    rawPath: '/',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': String(timestamp), 'x-slack-signature': slackSignature(body, timestamp, SIGNING_SECRET) },
    requestContext: { http: { method: 'POST', path: '/' } },
    body: Buffer.from(body).toString('base64'),
    isBase64Encoded: true,
  };
}

const lambdaContext = { functionName: 'crm-metrics-slack', awsRequestId: 'req-1', getRemainingTimeInMillis: () => 9000 };

describe('/crm endpoint (functions/slack.ts)', () => {
  it('verifies with the secret from Secrets Manager and invokes the worker asynchronously', async () => {
    const { handler } = await import('../functions/slack.js');
    const first = await handler(functionUrlEvent('segments 2024-03-21'), lambdaContext as never);
    expect(first.statusCode).toBe(200);
    expect(JSON.parse(first.body)).toMatchObject({ response_type: 'ephemeral', text: 'Working on it…' });
    const second = await handler(functionUrlEvent('status'), lambdaContext as never);
    expect(second.statusCode).toBe(200);

    const invokes = requests.filter((r) => r.kind === 'invoke');
    expect(invokes.map((i) => i.invocationType)).toEqual(['Event', 'Event']);
    expect(invokes[0]!.path).toBe('/2015-03-31/functions/crm-metrics-slack-worker/invocations');
    expect(JSON.parse(invokes[0]!.body)).toMatchObject({ command: { name: 'segments', date: '2024-03-21' }, channelId: 'C1', userId: 'U1' });
    // The secret was fetched once and cached for the second request.
    const secretCalls = requests.filter((r) => r.kind === 'secret');
    expect(secretCalls).toHaveLength(1);
    expect(JSON.parse(secretCalls[0]!.body)).toEqual({ SecretId: SECRET_ARN });
  });

  it('accepts a signed request once: the same event again is refused without invoking the worker', async () => {
    const { handler } = await import('../functions/slack.js');
    // A command no other test sends: the same one signed in the same second would be a replay.
    const event = functionUrlEvent('top 3');
    const invokes = () => requests.filter((r) => r.kind === 'invoke').length;
    const before = invokes();
    expect((await handler(event, lambdaContext as never)).statusCode).toBe(200);
    const replayed = await handler(structuredClone(event), lambdaContext as never);
    expect(replayed.statusCode).toBe(401);
    expect(JSON.parse(replayed.body)).toEqual({ error: 'request already received' });
    expect(invokes()).toBe(before + 1);
    // Remembered in the replay table under its timestamp and signature.
    const key = `${event.headers['x-slack-request-timestamp']}:${event.headers['x-slack-signature']}`;
    expect(Object.keys(replays.items(REPLAY_TABLE))).toContain(key);
  });

  it('refuses a body above the limit with 413 before anything else', async () => {
    const { handler } = await import('../functions/slack.js');
    const event = { ...functionUrlEvent('status'), body: Buffer.from('x'.repeat(64 * 1024)).toString('base64') };
    const puts = replays.calls('PutItem').length;
    expect((await handler(event, lambdaContext as never)).statusCode).toBe(413);
    expect(replays.calls('PutItem')).toHaveLength(puts);
  });

  it('rejects a request signed with another secret without invoking anything', async () => {
    const { handler } = await import('../functions/slack.js');
    const event = functionUrlEvent('status');
    event.headers['x-slack-signature'] = slackSignature(Buffer.from(event.body, 'base64').toString(), event.headers['x-slack-request-timestamp'], 'another-secret');
    const before = requests.length;
    expect((await handler(event, lambdaContext as never)).statusCode).toBe(401);
    expect(requests.slice(before).filter((r) => r.kind === 'invoke')).toEqual([]);
  });
});

describe('/crm worker run (functions/slack-worker.ts)', () => {
  const runJob = (command: object) => ({ command, responseUrl: `${endpoint}/response-url`, teamId: 'T1', channelId: 'C1', userId: 'U1' });

  it('runs the nightly function synchronously and reports its outcome, its failure, or why it was not started', async () => {
    const { handler } = await import('../functions/slack-worker.js');
    // The refusal a nightly function throws when an earlier extract date is unpublished.
    const gapMessage = new EarlierDatesUnpublished('2024-03-24', ['2024-03-23']).message;
    const result = { runId: 'r', date: '2024-03-21', status: 'succeeded', extractLocation: 's3://raw/transactions/dt=2024-03-21/', filesRead: 1, rowsRead: 1200, rowsAccepted: 1190, rowsRejected: 10, rowsDuplicate: 0, ordersAdded: 1190, customersScored: 4000 };
    nightlyReplies.push(
      { status: 200, headers: { 'content-type': 'application/json' }, body: result },
      { status: 200, headers: { 'content-type': 'application/json', 'x-amz-function-error': 'Unhandled' }, body: { errorType: 'RunError', errorMessage: 'customer_scores: NULL in required column(s) segment (3 rows)' } },
      { status: 429, headers: { 'content-type': 'application/json', 'x-amzn-errortype': 'TooManyRequestsException' }, body: { Type: 'User', message: 'Rate Exceeded.', Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded' } },
      { status: 200, headers: { 'content-type': 'application/json', 'x-amz-function-error': 'Unhandled' }, body: { errorType: 'EarlierDatesUnpublished', errorMessage: gapMessage } },
    );
    await handler(runJob({ name: 'run', date: '2024-03-21', force: true }), lambdaContext as never);
    await handler(runJob({ name: 'run', date: '2024-03-21', force: true }), lambdaContext as never);
    await handler(runJob({ name: 'run', date: '2024-03-22', force: false }), lambdaContext as never);
    await handler(runJob({ name: 'run', date: '2024-03-24', force: false }), lambdaContext as never);

    const runs = requests.filter((r) => r.path?.includes('crm-nightly'));
    expect(runs.map((r) => [r.invocationType, JSON.parse(r.body)])).toEqual([
      ['RequestResponse', { date: '2024-03-21', force: true }],
      ['RequestResponse', { date: '2024-03-21', force: true }],
      // Throttled, and not retried: the refusal is the answer.
      ['RequestResponse', { date: '2024-03-22', force: false }],
      ['RequestResponse', { date: '2024-03-24', force: false }],
    ]);
    // A failure, and two refusals (another run; an unpublished earlier date), each said as such.
    expect(posts.map((p) => p.text)).toEqual([
      'Run for 2024-03-21 succeeded: 1,200 rows read, 1,190 accepted, 10 rejected, 0 duplicates; 4,000 customers scored.',
      'The run for 2024-03-21 failed: customer_scores: NULL in required column(s) segment (3 rows)',
      'The run for 2024-03-22 was not started: a run is already in progress; try again when it has finished',
      `The run for 2024-03-24 was not started: ${gapMessage}`,
    ]);
  });
});

describe('/crm worker run with the fanned-out night (STATE_MACHINE_ARN)', () => {
  const runJob = (command: object) => ({ command, responseUrl: `${endpoint}/response-url`, teamId: 'T1', channelId: 'C1', userId: 'U1' });

  it('starts the execution of the date, and answers a published date, a started one and a running one without starting', async () => {
    const stateMachineArn = 'arn:aws:states:eu-west-1:123456789012:stateMachine:CrmMetricsNight';
    const execution = (name: string) => `${stateMachineArn.replace('stateMachine', 'execution')}:${name}`;
    // Shapes from the AWS Step Functions API Reference (awsJson1_0, timestamps in epoch seconds).
    const sfnFake = await fakeAwsJson(
      { target: 'AWSStepFunctions', contentType: 'application/x-amz-json-1.0' },
      {
        StartExecution: [
          { body: { executionArn: execution('2024-03-21'), startDate: 1711000000 } },
          { status: 400, body: { __type: 'ExecutionAlreadyExists', message: 'Execution Already Exists: 2024-03-21' } },
        ],
        ListExecutions: [
          { body: { executions: [] } },
          { body: { executions: [] } },
          { body: { executions: [{ executionArn: execution('2024-03-21'), stateMachineArn, name: '2024-03-21', status: 'RUNNING', startDate: 1711000000 }] } },
        ],
      },
    );
    // A local destination where 2024-03-20 is published.
    const dest = await tempDir('worker-dest');
    await mkdir(join(dest, partitionKey(runManifest, '2024-03-20'), '..'), { recursive: true });
    await writeFile(join(dest, partitionKey(runManifest, '2024-03-20')), 'manifest');
    vi.stubEnv('DEST_URI', dest);
    vi.stubEnv('STATE_MACHINE_ARN', stateMachineArn);
    vi.stubEnv('AWS_ENDPOINT_URL_SFN', sfnFake.endpoint);
    const { handler } = await import('../functions/slack-worker.js');
    posts.length = 0;
    const invokesBefore = requests.filter((r) => r.kind === 'invoke').length;
    for (const command of [
      { name: 'run', date: '2024-03-21', force: false },
      { name: 'run', date: '2024-03-20', force: false },
      { name: 'run', date: '2024-03-21', force: false },
      { name: 'run', date: '2024-03-21', force: true },
    ]) {
      await handler(runJob(command), lambdaContext as never);
    }
    expect(posts.map((p) => p.text)).toEqual([
      'The run for 2024-03-21 started (execution 2024-03-21). "status" shows it once published.',
      '2024-03-20 is already published. Use "run 2024-03-20 --force" to run it again.',
      'The run for 2024-03-21 was already started (execution 2024-03-21). Use "run 2024-03-21 --force" to run it again.',
      'A night is running (execution 2024-03-21): the run for 2024-03-21 was not started. Try again when it has finished.',
    ]);
    expect(sfnFake.calls('StartExecution').map((c) => c['name'])).toEqual(['2024-03-21', '2024-03-21']);
    expect(sfnFake.calls('ListExecutions')).toHaveLength(3);
    // The nightly function is not invoked in this mode.
    expect(requests.filter((r) => r.kind === 'invoke')).toHaveLength(invokesBefore);
  });
});
