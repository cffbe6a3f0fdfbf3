/**
 * The `/crm` edge against careless or hostile traffic: a body above the documented size refused
 * before any signature work, and a signed request accepted once (the acknowledgement with its replay
 * guard, and the DynamoDB guard against a loopback stand-in). Echoed text within Block Kit's limits:
 * test/slack-blocks.test.ts.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { acknowledge, type AckDeps, type SlackJob } from '../shared/slack/ack.js';
import { dynamoDbReplayGuard } from '../shared/adapters/dynamodb-replay.js';
import { REPLAY_EXPIRY_ATTRIBUTE, REPLAY_KEY_ATTRIBUTE, type ReplayGuard, type SignedRequestId } from '../shared/slack/replay.js';
import { slackSignature } from '../shared/slack/signature.js';
import { fakeDynamoDb } from './fake-dynamodb.js';

// The real createHmac, wrapped so a test can see whether any signature work was done.
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, createHmac: vi.fn(actual.createHmac) };
});

const SECRET = 'edge-signing-secret';
const NOW = 1_711_000_000;
/** Slack's replay window, as its request-verification page states it. */
const WINDOW_SECONDS = 300;
/** The documented body limit (README, Slack command). */
const BODY_LIMIT = 16 * 1024;

const fields = (text: string, extra: Record<string, string> = {}) => ({
  command: '/crm',
  text,
  team_id: 'T-CRM',
  channel_id: 'C-CRM',
  user_id: 'U-ANALYST',
  response_url: 'https://hooks.slack.com/commands/T-CRM/1/abc',
  ...extra,
});
const signedBody = (body: string, timestamp = NOW, secret = SECRET) => ({
  headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': String(timestamp), 'x-slack-signature': slackSignature(body, timestamp, secret) },
  body,
});
const signed = (form: Record<string, string>, secret = SECRET) => signedBody(new URLSearchParams(form).toString(), NOW, secret);

/** A guard remembering what it was asked, as a store of (timestamp, signature) would. */
function recordingGuard() {
  const seen: { request: SignedRequestId; expiresAt: number }[] = [];
  const guard: ReplayGuard = {
    firstUse: async (request, expiresAt) => {
      if (seen.some((s) => s.request.timestamp === request.timestamp && s.request.signature === request.signature)) return false;
      seen.push({ request, expiresAt });
      return true;
    },
  };
  return { guard, seen };
}

function setup(replay: ReplayGuard = recordingGuard().guard) {
  const dispatched: SlackJob[] = [];
  const audit: Record<string, string>[] = [];
  const deps: AckDeps = {
    signingSecret: SECRET,
    access: { teams: ['T-CRM'], channels: ['C-CRM'], runUsers: [] },
    nowSeconds: () => NOW,
    audit: (entry) => audit.push(entry),
    dispatch: async (job) => {
      dispatched.push(job);
    },
    replay,
  };
  return { deps, dispatched, audit };
}

afterEach(() => vi.mocked(createHmac).mockClear());

describe('/crm body size limit', () => {
  /** A signed `status` request padded (with a field the command ignores) to exactly `bytes` bytes. */
  const padded = (bytes: number) => {
    const base = new URLSearchParams(fields('status', { trigger_id: '' })).toString();
    return base + 'x'.repeat(bytes - Buffer.byteLength(base));
  };

  it(`accepts a body of exactly ${BODY_LIMIT} bytes and refuses one byte more with 413, without computing an HMAC`, async () => {
    const atLimit = setup();
    const fits = signedBody(padded(BODY_LIMIT));
    expect(Buffer.byteLength(fits.body)).toBe(BODY_LIMIT);
    vi.mocked(createHmac).mockClear();
    expect((await acknowledge(fits, atLimit.deps)).statusCode).toBe(200);
    expect(atLimit.dispatched.map((j) => j.command)).toEqual([{ name: 'status' }]);
    expect(createHmac).toHaveBeenCalledTimes(1);

    const over = setup();
    const tooBig = signedBody(padded(BODY_LIMIT + 1));
    vi.mocked(createHmac).mockClear();
    const response = await acknowledge(tooBig, over.deps);
    expect(response.statusCode).toBe(413);
    expect(JSON.parse(response.body)).toEqual({ error: `request body over ${BODY_LIMIT} bytes` });
    expect(createHmac).not.toHaveBeenCalled();
    expect(over.dispatched).toEqual([]);
    expect(over.audit).toEqual([{ outcome: 'rejected', reason: 'body too large' }]);
  });

  it('measures the decoded bytes of a base64 body (as function URLs deliver forms), and refuses a huge unsigned one with 413, not 401', async () => {
    const { deps } = setup();
    const tooBig = signedBody(padded(BODY_LIMIT + 1));
    const encoded = { ...tooBig, body: Buffer.from(tooBig.body).toString('base64'), isBase64Encoded: true };
    expect((await acknowledge(encoded, deps)).statusCode).toBe(413);
    const fits = signedBody(padded(BODY_LIMIT));
    expect((await acknowledge({ ...fits, body: Buffer.from(fits.body).toString('base64'), isBase64Encoded: true }, deps)).statusCode).toBe(200);
    // Text counts by its bytes, not its characters: 6,000 euro signs are 18,000 bytes.
    const wide = '€'.repeat(6000);
    expect((await acknowledge(signedBody(wide), deps)).statusCode).toBe(413);

    vi.mocked(createHmac).mockClear();
    expect((await acknowledge({ headers: {}, body: 'x'.repeat(1 << 20) }, deps)).statusCode).toBe(413);
    expect(createHmac).not.toHaveBeenCalled();
  });
});

describe('/crm replay refusal', () => {
  it('accepts a signed request once: the same timestamp and signature again is refused', async () => {
    const { guard, seen } = recordingGuard();
    const { deps, dispatched, audit } = setup(guard);
    const request = signed(fields('status'));
    expect((await acknowledge(request, deps)).statusCode).toBe(200);
    const replay = await acknowledge(request, deps);
    expect(replay.statusCode).toBe(401);
    expect(JSON.parse(replay.body)).toEqual({ error: 'request already received' });
    expect(dispatched).toHaveLength(1);
    // Remembered by (timestamp, signature) until the end of the window its timestamp opens.
    expect(seen).toEqual([{ request: { timestamp: String(NOW), signature: request.headers['x-slack-signature'] }, expiresAt: NOW + WINDOW_SECONDS }]);
    // Another command in the same second is another request.
    expect((await acknowledge(signed(fields('segments')), deps)).statusCode).toBe(200);
    expect(dispatched).toHaveLength(2);
    expect(audit.map((a) => [a['outcome'], a['reason']])).toEqual([
      ['dispatched', undefined],
      ['rejected', 'replayed'],
      ['dispatched', undefined],
    ]);
  });

  it('a request failing its signature is never remembered (junk cannot fill the store)', async () => {
    const { guard, seen } = recordingGuard();
    const { deps } = setup(guard);
    expect((await acknowledge(signed(fields('status'), 'another-secret'), deps)).statusCode).toBe(401);
    expect(seen).toEqual([]);
  });

  it('refuses with 503 when the replay store cannot answer, rather than risk a replay', async () => {
    const { deps, dispatched, audit } = setup({ firstUse: () => Promise.reject(new Error('DynamoDB unreachable')) });
    const response = await acknowledge(signed(fields('status')), deps);
    expect(response.statusCode).toBe(503);
    expect(JSON.parse(response.body)).toEqual({ error: 'could not check the request for replay; try again' });
    expect(dispatched).toEqual([]);
    expect(audit).toEqual([{ outcome: 'failed', reason: 'replay check: DynamoDB unreachable' }]);
  });
});

describe('DynamoDB replay guard (conditional PutItem with a TTL) against a loopback DynamoDB', () => {
  const TABLE = 'crm-metrics-slack-replays';
  const clients: DynamoDBClient[] = [];
  const closers: (() => void)[] = [];
  afterEach(() => {
    clients.splice(0).forEach((c) => c.destroy());
    closers.splice(0).forEach((c) => c());
  });
  const start = async () => {
    const fake = await fakeDynamoDb({ [TABLE]: { key: REPLAY_KEY_ATTRIBUTE } });
    closers.push(fake.close);
    const client = new DynamoDBClient({ endpoint: fake.endpoint, region: 'eu-west-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, maxAttempts: 1 });
    clients.push(client);
    return { fake, client };
  };
  const id = (signature: string): SignedRequestId => ({ timestamp: String(NOW), signature });

  it('puts each request once, with its expiry as the TTL attribute; the second put of the same one is refused', async () => {
    const { fake, client } = await start();
    const guard = dynamoDbReplayGuard(client, TABLE);
    const first = id(`v0=${'a'.repeat(64)}`);
    expect(await guard.firstUse(first, NOW + WINDOW_SECONDS)).toBe(true);
    expect(await guard.firstUse(first, NOW + WINDOW_SECONDS)).toBe(false);
    expect(await guard.firstUse(id(`v0=${'b'.repeat(64)}`), NOW + WINDOW_SECONDS)).toBe(true);

    const puts = fake.calls('PutItem');
    expect(puts).toHaveLength(3);
    for (const put of puts) expect(put['TableName']).toBe(TABLE);
    // The key names the timestamp and the signature; the TTL is epoch seconds, a number attribute.
    expect(fake.items(TABLE)).toEqual({
      [`${NOW}:v0=${'a'.repeat(64)}`]: { [REPLAY_KEY_ATTRIBUTE]: { S: `${NOW}:v0=${'a'.repeat(64)}` }, [REPLAY_EXPIRY_ATTRIBUTE]: { N: String(NOW + WINDOW_SECONDS) } },
      [`${NOW}:v0=${'b'.repeat(64)}`]: { [REPLAY_KEY_ATTRIBUTE]: { S: `${NOW}:v0=${'b'.repeat(64)}` }, [REPLAY_EXPIRY_ATTRIBUTE]: { N: String(NOW + WINDOW_SECONDS) } },
    });
  });

  it('lets any other DynamoDB error through (the endpoint then refuses with 503)', async () => {
    const { client } = await start();
    await expect(dynamoDbReplayGuard(client, 'no-such-table').firstUse(id('v0=c'), NOW)).rejects.toThrow(/Requested resource not found/);
  });
});
