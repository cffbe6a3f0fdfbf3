/**
 * Slack request signing (https://api.slack.com/authentication/verifying-requests-from-slack):
 * `X-Slack-Signature: v0=<hex HMAC-SHA256("v0:" + X-Slack-Request-Timestamp + ":" + raw body)>`,
 * keyed by the app's signing secret. Pure: the caller supplies the clock.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export type SignatureVerdict =
  /** The timestamp and signature exactly as sent: together they name this request (for replay refusal). */
  | { ok: true; timestamp: string; signature: string }
  | { ok: false; reason: 'missing headers' | 'malformed timestamp' | 'stale timestamp' | 'malformed signature' | 'bad signature' };

const SIGNATURE_HEADER = 'x-slack-signature';
const TIMESTAMP_HEADER = 'x-slack-request-timestamp';
/** Slack's documented replay window: a request is accepted this many seconds either side of its timestamp. */
export const REPLAY_WINDOW_SECONDS = 300;
/** ASCII digits only (no sign, space, decimal point or exponent); 15 digits always convert to a Number exactly. */
const TIMESTAMP_PATTERN = /^[0-9]{1,15}$/;
/** Only version 0 exists; lower-case hex is what Slack sends, so anything else was not made by Slack. */
const SIGNATURE_PATTERN = /^v0=([0-9a-f]{64})$/;

/** What a header lookup found: nothing, one value, or several different values under differently-cased names. */
type HeaderValue = { kind: 'missing' } | { kind: 'value'; value: string } | { kind: 'conflict' };

/** HTTP header names are case-insensitive, so a record may spell one header several ways. */
function header(headers: Readonly<Record<string, string | undefined>>, name: string): HeaderValue {
  let found: string | undefined;
  for (const [key, value] of Object.entries(headers)) {
    if (value === undefined || key.toLowerCase() !== name) continue;
    // Two different values for one header are ambiguous; picking either would let an attacker choose.
    if (found !== undefined && found !== value) return { kind: 'conflict' };
    found = value;
  }
  return found === undefined ? { kind: 'missing' } : { kind: 'value', value: found };
}

function requireSecret(signingSecret: string): void {
  // An empty key still yields an HMAC, which anyone could compute: fail loudly instead of "verifying".
  if (signingSecret.length === 0) throw new Error('Slack signing secret is empty: the app is misconfigured');
}

function hmac(rawBody: string, timestamp: string, signingSecret: string): Buffer {
  return createHmac('sha256', signingSecret).update(`v0:${timestamp}:${rawBody}`, 'utf8').digest();
}

/** The `v0=…` signature Slack would send, for local tools and tests. */
export function slackSignature(rawBody: string, timestamp: string | number, signingSecret: string): string {
  requireSecret(signingSecret);
  if (typeof timestamp === 'number' && !Number.isSafeInteger(timestamp)) {
    throw new RangeError(`Slack timestamps are whole seconds, got ${timestamp}`);
  }
  return `v0=${hmac(rawBody, String(timestamp), signingSecret).toString('hex')}`;
}

/** Headers as a Lambda function URL delivers them (lower-case names), but look names up case-insensitively. */
export function verifySlackSignature(
  request: { headers: Readonly<Record<string, string | undefined>>; rawBody: string },
  signingSecret: string,
  nowSeconds: number,
  toleranceSeconds: number = REPLAY_WINDOW_SECONDS,
): SignatureVerdict {
  requireSecret(signingSecret);
  // Bad clocks or windows are programming errors; NaN would otherwise make every age comparison false.
  if (!Number.isFinite(nowSeconds)) throw new RangeError(`nowSeconds must be finite, got ${nowSeconds}`);
  if (!Number.isFinite(toleranceSeconds) || toleranceSeconds < 0) {
    throw new RangeError(`toleranceSeconds must be finite and non-negative, got ${toleranceSeconds}`);
  }

  const timestamp = header(request.headers, TIMESTAMP_HEADER);
  const signature = header(request.headers, SIGNATURE_HEADER);
  if (timestamp.kind === 'missing' || signature.kind === 'missing') return { ok: false, reason: 'missing headers' };

  if (timestamp.kind === 'conflict' || !TIMESTAMP_PATTERN.test(timestamp.value)) {
    return { ok: false, reason: 'malformed timestamp' };
  }
  // Too old is a possible replay; too far ahead means a wrong clock or a request minted for later.
  if (Math.abs(nowSeconds - Number(timestamp.value)) > toleranceSeconds) return { ok: false, reason: 'stale timestamp' };

  const match = signature.kind === 'value' ? SIGNATURE_PATTERN.exec(signature.value) : null;
  if (match?.[1] === undefined) return { ok: false, reason: 'malformed signature' };

  // The pattern guarantees 64 lower-case hex digits, so both sides are exactly 32 bytes, as
  // timingSafeEqual requires; a constant-time comparison leaks nothing about how much matched.
  // The HMAC covers the timestamp exactly as sent, so it cannot be swapped for another spelling.
  const expected = hmac(request.rawBody, timestamp.value, signingSecret);
  const given = Buffer.from(match[1], 'hex');
  return timingSafeEqual(given, expected) ? { ok: true, timestamp: timestamp.value, signature: match[0] } : { ok: false, reason: 'bad signature' };
}
