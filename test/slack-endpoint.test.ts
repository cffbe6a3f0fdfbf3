/**
 * The deployed `/crm` endpoint as wired in functions/slack.ts: the middy secrets middleware and the
 * real AWS SDK clients, against a loopback stand-in for Secrets Manager (GetSecretValue, awsJson1_1)
 * and Lambda (Invoke, REST). Response shapes follow the AWS API references: GetSecretValue returns
 * ARN, Name, VersionId, SecretString, VersionStages, CreatedDate; an `Event` Invoke answers 202
 * with an empty body.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { slackSignature } from '../shared/slack/signature.js';

const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:crm-metrics-slack-AbCdEf';
const SIGNING_SECRET = 'e2e-signing-secret';
const requests: { kind: 'secret' | 'invoke'; invocationType?: string; path?: string; body: string }[] = [];
let close: () => void;

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
    } else if (req.url?.startsWith('/2015-03-31/functions/')) {
      requests.push({ kind: 'invoke', invocationType: String(req.headers['x-amz-invocation-type']), path: req.url, body });
      res.writeHead(202).end();
    } else {
      res.writeHead(400).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  close = () => server.close();
  vi.stubEnv('AWS_ENDPOINT_URL_SECRETS_MANAGER', endpoint);
  vi.stubEnv('AWS_ENDPOINT_URL_LAMBDA', endpoint);
  vi.stubEnv('AWS_REGION', 'eu-west-1');
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'test');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
  vi.stubEnv('SLACK_SECRET_ARN', SECRET_ARN);
  vi.stubEnv('WORKER_FUNCTION', 'crm-metrics-slack-worker');
  vi.stubEnv('SLACK_ACCESS_JSON', JSON.stringify({ teams: ['T1'], channels: ['C1'], runUsers: [] }));
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

  it('rejects a request signed with another secret without invoking anything', async () => {
    const { handler } = await import('../functions/slack.js');
    const event = functionUrlEvent('status');
    event.headers['x-slack-signature'] = slackSignature(Buffer.from(event.body, 'base64').toString(), event.headers['x-slack-request-timestamp'], 'another-secret');
    const before = requests.length;
    expect((await handler(event, lambdaContext as never)).statusCode).toBe(401);
    expect(requests.slice(before).filter((r) => r.kind === 'invoke')).toEqual([]);
  });
});
