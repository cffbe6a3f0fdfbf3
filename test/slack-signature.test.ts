/**
 * Slack request signing: Slack's published worked example, the replay window, header handling, and a
 * property over randomly mutated requests (accepted exactly when nothing signed has changed).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { slackSignature, verifySlackSignature, type SignatureVerdict } from '../shared/slack/signature.js';

// The real timingSafeEqual, wrapped so a test can see that the comparison goes through it.
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});

// The worked example on Slack's "Verifying requests from Slack" page
// (https://api.slack.com/authentication/verifying-requests-from-slack, now docs.slack.dev).
const DOC_SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const DOC_TIMESTAMP = '1531420618';
const DOC_BODY =
  'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar' +
  '&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com' +
  '%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
const DOC_SIGNATURE = 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503';

const SECRET = 'test-signing-secret';
const TS = 1_700_000_000;
const BODY = 'token=x&team_id=T1&channel_id=C1&user_id=U1&command=%2Fcrm&text=top+10&response_url=https%3A%2F%2Fhooks.slack.com%2Fx';

/** Signs with node:crypto directly, so the tests check the scheme rather than echo the module's own signer. */
const nodeSign = (timestamp: string, body: string, secret = SECRET) =>
  `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;

/** A request as a Lambda function URL delivers it: lower-case header names. */
const request = (headers: Record<string, string | undefined>, rawBody = BODY) => ({ headers, rawBody });
const signed = (timestamp = String(TS), body = BODY, secret = SECRET) =>
  request(
    {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': timestamp,
      'x-slack-signature': nodeSign(timestamp, body, secret),
    },
    body,
  );

/** Accepted (what it names is checked where it matters: the replay key). */
const OK = expect.objectContaining({ ok: true });
const fail = (reason: Extract<SignatureVerdict, { ok: false }>['reason']): SignatureVerdict => ({ ok: false, reason });

describe("Slack's published example", () => {
  it('slackSignature reproduces the published signature', () => {
    expect(slackSignature(DOC_BODY, DOC_TIMESTAMP, DOC_SECRET)).toBe(DOC_SIGNATURE);
    expect(slackSignature(DOC_BODY, Number(DOC_TIMESTAMP), DOC_SECRET)).toBe(DOC_SIGNATURE);
  });

  it('verifySlackSignature accepts it within five minutes of its timestamp, and not after', () => {
    const req = request({ 'x-slack-request-timestamp': DOC_TIMESTAMP, 'x-slack-signature': DOC_SIGNATURE }, DOC_BODY);
    const ts = Number(DOC_TIMESTAMP);
    expect(verifySlackSignature(req, DOC_SECRET, ts)).toEqual(OK);
    expect(verifySlackSignature(req, DOC_SECRET, ts + 120)).toEqual(OK);
    expect(verifySlackSignature(req, DOC_SECRET, ts + 300)).toEqual(OK);
    expect(verifySlackSignature(req, DOC_SECRET, ts + 301)).toEqual(fail('stale timestamp'));
    expect(verifySlackSignature(req, 'another-secret', ts + 120)).toEqual(fail('bad signature'));
  });
});

describe('verifySlackSignature', () => {
  it('accepts a validly signed request', () => {
    expect(verifySlackSignature(signed(), SECRET, TS)).toEqual(OK);
    expect(verifySlackSignature(signed(), SECRET, TS + 0.5)).toEqual(OK);
  });

  it('rejects a request signed with another secret', () => {
    expect(verifySlackSignature(signed(String(TS), BODY, 'other-secret'), SECRET, TS)).toEqual(fail('bad signature'));
    expect(verifySlackSignature(signed(), `${SECRET}x`, TS)).toEqual(fail('bad signature'));
  });

  it('rejects a tampered body: one character changed, appended or removed', () => {
    const { headers } = signed();
    const changed = BODY.replace('top+10', 'top+11');
    expect(changed).not.toBe(BODY);
    expect(verifySlackSignature(request(headers, changed), SECRET, TS)).toEqual(fail('bad signature'));
    expect(verifySlackSignature(request(headers, `${BODY}&`), SECRET, TS)).toEqual(fail('bad signature'));
    expect(verifySlackSignature(request(headers, BODY.slice(0, -1)), SECRET, TS)).toEqual(fail('bad signature'));
    expect(verifySlackSignature(request(headers, ''), SECRET, TS)).toEqual(fail('bad signature'));
  });

  it('accepts a timestamp exactly 300 s old and rejects one 301 s old (replay)', () => {
    expect(verifySlackSignature(signed(), SECRET, TS + 300)).toEqual(OK);
    expect(verifySlackSignature(signed(), SECRET, TS + 301)).toEqual(fail('stale timestamp'));
    expect(verifySlackSignature(signed(), SECRET, TS + 300.5)).toEqual(fail('stale timestamp'));
    expect(verifySlackSignature(signed(), SECRET, TS + 86_400)).toEqual(fail('stale timestamp'));
  });

  it('rejects a timestamp more than the tolerance in the future', () => {
    expect(verifySlackSignature(signed(), SECRET, TS - 300)).toEqual(OK);
    expect(verifySlackSignature(signed(), SECRET, TS - 301)).toEqual(fail('stale timestamp'));
    expect(verifySlackSignature(signed(), SECRET, TS - 86_400)).toEqual(fail('stale timestamp'));
  });

  it('honours a custom tolerance', () => {
    expect(verifySlackSignature(signed(), SECRET, TS + 60, 60)).toEqual(OK);
    expect(verifySlackSignature(signed(), SECRET, TS + 61, 60)).toEqual(fail('stale timestamp'));
    expect(verifySlackSignature(signed(), SECRET, TS + 1000, 1000)).toEqual(OK);
    expect(verifySlackSignature(signed(), SECRET, TS, 0)).toEqual(OK);
    expect(verifySlackSignature(signed(), SECRET, TS + 1, 0)).toEqual(fail('stale timestamp'));
  });

  it('rejects missing headers', () => {
    const { 'x-slack-signature': signature, 'x-slack-request-timestamp': timestamp } = signed().headers;
    expect(verifySlackSignature(request({ 'x-slack-request-timestamp': timestamp }), SECRET, TS)).toEqual(fail('missing headers'));
    expect(verifySlackSignature(request({ 'x-slack-signature': signature }), SECRET, TS)).toEqual(fail('missing headers'));
    expect(verifySlackSignature(request({ 'content-type': 'text/plain' }), SECRET, TS)).toEqual(fail('missing headers'));
    expect(verifySlackSignature(request({}), SECRET, TS)).toEqual(fail('missing headers'));
    // A name present with no value is as good as absent.
    expect(verifySlackSignature(request({ 'x-slack-request-timestamp': timestamp, 'x-slack-signature': undefined }), SECRET, TS)).toEqual(
      fail('missing headers'),
    );
    // Near-miss names are different headers.
    expect(
      verifySlackSignature(request({ 'x-slack-request-timestamp': timestamp, 'x-slack-signature-v0': signature }), SECRET, TS),
    ).toEqual(fail('missing headers'));
  });

  it('looks header names up case-insensitively', () => {
    const { 'x-slack-signature': signature, 'x-slack-request-timestamp': timestamp } = signed().headers;
    for (const [sigName, tsName] of [
      ['X-Slack-Signature', 'X-Slack-Request-Timestamp'],
      ['X-SLACK-SIGNATURE', 'X-SLACK-REQUEST-TIMESTAMP'],
      ['x-Slack-signaTURE', 'x-slack-request-timestamp'],
    ] as const) {
      expect(verifySlackSignature(request({ [sigName]: signature, [tsName]: timestamp }), SECRET, TS)).toEqual(OK);
    }
    const wrong = nodeSign(String(TS), `${BODY}x`);
    expect(verifySlackSignature(request({ 'X-Slack-Signature': wrong, 'X-Slack-Request-Timestamp': timestamp }), SECRET, TS)).toEqual(
      fail('bad signature'),
    );
  });

  it('treats one header spelled twice: same value is fine, different values are refused', () => {
    const { 'x-slack-signature': signature, 'x-slack-request-timestamp': timestamp } = signed().headers;
    const other = nodeSign(String(TS), 'forged=1');
    expect(
      verifySlackSignature(request({ 'x-slack-signature': signature, 'X-Slack-Signature': signature, 'x-slack-request-timestamp': timestamp }), SECRET, TS),
    ).toEqual(OK);
    // Both orders: whichever spelling comes first, a conflicting second value must not be ignored.
    expect(
      verifySlackSignature(request({ 'x-slack-signature': signature, 'X-Slack-Signature': other, 'x-slack-request-timestamp': timestamp }), SECRET, TS),
    ).toEqual(fail('malformed signature'));
    expect(
      verifySlackSignature(request({ 'X-Slack-Signature': other, 'x-slack-signature': signature, 'x-slack-request-timestamp': timestamp }), SECRET, TS),
    ).toEqual(fail('malformed signature'));
    expect(
      verifySlackSignature(
        request({ 'x-slack-signature': signature, 'x-slack-request-timestamp': timestamp, 'X-Slack-Request-Timestamp': String(TS + 1) }),
        SECRET,
        TS,
      ),
    ).toEqual(fail('malformed timestamp'));
  });

  it('rejects timestamps that are not a plain integer number of seconds', () => {
    const body = BODY;
    for (const timestamp of ['', ' ', `${TS} `, ` ${TS}`, `+${TS}`, `-${TS}`, `${TS}.0`, `${TS}.5`, '1.7e9', '0x6553f100', 'abc', `${TS}s`, '１７００００００００', '1'.repeat(16), `${TS},${TS}`]) {
      // Signed over the exact string, so only the format check can refuse it.
      const req = request({ 'x-slack-request-timestamp': timestamp, 'x-slack-signature': nodeSign(timestamp, body) }, body);
      expect(verifySlackSignature(req, SECRET, TS), JSON.stringify(timestamp)).toEqual(fail('malformed timestamp'));
    }
  });

  it('rejects signatures that are not v0= and 64 lower-case hex digits', () => {
    const good = nodeSign(String(TS), BODY);
    const hex = good.slice(3);
    for (const signature of [
      '',
      hex,
      `v1=${hex}`,
      `V0=${hex}`,
      `v0:${hex}`,
      `v0==${hex}`,
      `sha256=${hex}`,
      `v0=${hex.toUpperCase()}`,
      `v0=${hex.slice(0, 63)}`,
      `v0=${hex}0`,
      `v0=${hex.slice(0, 63)}g`,
      ` ${good}`,
      `${good} `,
      `${good}\n`,
      `${good},${good}`,
      `v0=${Buffer.from(hex, 'hex').toString('base64')}`,
    ]) {
      expect(verifySlackSignature(request({ 'x-slack-request-timestamp': String(TS), 'x-slack-signature': signature }), SECRET, TS), JSON.stringify(signature)).toEqual(
        fail('malformed signature'),
      );
    }
  });

  it('signs the timestamp exactly as sent: another spelling of the same second does not verify', () => {
    const padded = `0${TS}`;
    // A signature over the canonical spelling does not cover the padded one...
    const respelled = request({ 'x-slack-request-timestamp': padded, 'x-slack-signature': nodeSign(String(TS), BODY) });
    expect(verifySlackSignature(respelled, SECRET, TS)).toEqual(fail('bad signature'));
    // ...while a signature over the padded string itself does.
    const exact = request({ 'x-slack-request-timestamp': padded, 'x-slack-signature': nodeSign(padded, BODY) });
    expect(verifySlackSignature(exact, SECRET, TS)).toEqual(OK);
  });

  it('an accepted verdict names the request by its timestamp and signature exactly as sent (the replay key)', () => {
    const padded = `0${TS}`;
    const exact = request({ 'X-Slack-Request-Timestamp': padded, 'x-slack-signature': nodeSign(padded, BODY) });
    expect(verifySlackSignature(exact, SECRET, TS)).toEqual({ ok: true, timestamp: padded, signature: nodeSign(padded, BODY) });
  });

  it('checks in order: headers, timestamp format, age, signature format, signature', () => {
    const req = (timestamp: string, signature: string) => request({ 'x-slack-request-timestamp': timestamp, 'x-slack-signature': signature });
    expect(verifySlackSignature(req('soon', 'nope'), SECRET, TS)).toEqual(fail('malformed timestamp'));
    expect(verifySlackSignature(req(String(TS - 1000), 'nope'), SECRET, TS)).toEqual(fail('stale timestamp'));
    expect(verifySlackSignature(req(String(TS), 'nope'), SECRET, TS)).toEqual(fail('malformed signature'));
  });

  it('compares through crypto.timingSafeEqual on two 32-byte buffers', () => {
    const spy = vi.mocked(timingSafeEqual);
    spy.mockClear();
    const forged = request({ ...signed().headers, 'x-slack-signature': nodeSign(String(TS), `${BODY}x`) });
    expect(verifySlackSignature(forged, SECRET, TS)).toEqual(fail('bad signature'));
    expect(verifySlackSignature(signed(), SECRET, TS)).toEqual(OK);
    expect(spy).toHaveBeenCalledTimes(2);
    for (const [a, b] of spy.mock.calls) {
      expect(a.byteLength).toBe(32);
      expect(b.byteLength).toBe(32);
    }
    expect(spy.mock.results.map((r) => r.value)).toEqual([false, true]);
  });

  it('throws on an empty signing secret instead of verifying', () => {
    // Signed with the empty key: a request anyone could forge must not pass as "verified".
    const forged = request({ 'x-slack-request-timestamp': String(TS), 'x-slack-signature': nodeSign(String(TS), BODY, '') });
    expect(() => verifySlackSignature(forged, '', TS)).toThrow(/signing secret/);
    expect(() => verifySlackSignature(request({}), '', TS)).toThrow(/signing secret/);
    expect(() => slackSignature(BODY, TS, '')).toThrow(/signing secret/);
  });

  it('throws on a clock or tolerance that is not a usable number', () => {
    expect(() => verifySlackSignature(signed(), SECRET, Number.NaN)).toThrow(RangeError);
    expect(() => verifySlackSignature(signed(), SECRET, TS, Number.NaN)).toThrow(RangeError);
    expect(() => verifySlackSignature(signed(), SECRET, TS, -1)).toThrow(RangeError);
    expect(() => slackSignature(BODY, TS + 0.5, SECRET)).toThrow(RangeError);
  });
});

describe('slackSignature', () => {
  it('is v0= and the hex HMAC-SHA256 of "v0:<timestamp>:<body>" (UTF-8)', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', maxLength: 200 }),
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
        (body, ts, secret) => {
          const signature = slackSignature(body, ts, secret);
          expect(signature).toBe(nodeSign(String(ts), body, secret));
          expect(slackSignature(body, String(ts), secret)).toBe(signature);
        },
      ),
      { numRuns: 200 },
    );
    expect(slackSignature('é', TS, SECRET)).toBe(`v0=${createHmac('sha256', SECRET).update(Buffer.from(`v0:${TS}:\u00e9`, 'utf8')).digest('hex')}`);
  });
});

// ---------------------------------------------------------------------------------------------
// Property: mutate a valid request at random; the verifier accepts exactly when the mutated request
// is still the original (header names may change case; unrelated headers do not matter).

const SIG = 'x-slack-signature';
const TSH = 'x-slack-request-timestamp';
type Signed = typeof SIG | typeof TSH;
const HEX = '0123456789abcdef';

type Mutation =
  | { kind: 'drop'; name: Signed; pick: number }
  | { kind: 'hexCase'; pick: number; at: number }
  | { kind: 'flipHex'; pick: number; at: number; delta: number }
  | { kind: 'prefix'; pick: number; prefix: string }
  | { kind: 'shiftTimestamp'; pick: number; delta: number }
  | { kind: 'zeroPad'; pick: number; zeros: number }
  | { kind: 'whitespace'; name: Signed; pick: number; ws: string; where: 'start' | 'end' | 'both' }
  | { kind: 'duplicate'; name: Signed; caseMask: number; delta: number; first: boolean }
  | { kind: 'body'; op: 'append' | 'replace' | 'delete'; at: number; char: string }
  | { kind: 'renameCase'; name: Signed; pick: number; caseMask: number }
  | { kind: 'unrelated'; key: string; value: string }
  | { kind: 'undefinedAlias'; name: Signed; caseMask: number };

const signedName = fc.constantFrom<Signed>(SIG, TSH);
const pick = fc.nat(7);
const caseMask = fc.nat();
const delta = fc.integer({ min: 1, max: 1000 }).chain((d) => fc.constantFrom(d, -d));

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('drop' as const), name: signedName, pick }),
  fc.record({ kind: fc.constant('hexCase' as const), pick, at: fc.nat() }),
  fc.record({ kind: fc.constant('flipHex' as const), pick, at: fc.nat(), delta: fc.integer({ min: 1, max: 15 }) }),
  fc.record({ kind: fc.constant('prefix' as const), pick, prefix: fc.constantFrom('v1=', 'V0=', 'v=', '', 'v0:', 'v0==', 'v00=', 'sha256=', ' v0=') }),
  fc.record({ kind: fc.constant('shiftTimestamp' as const), pick, delta }),
  fc.record({ kind: fc.constant('zeroPad' as const), pick, zeros: fc.integer({ min: 1, max: 3 }) }),
  fc.record({
    kind: fc.constant('whitespace' as const),
    name: signedName,
    pick,
    ws: fc.constantFrom(' ', '\t', '\n', '\r\n', '\u00a0', '  '),
    where: fc.constantFrom('start' as const, 'end' as const, 'both' as const),
  }),
  fc.record({ kind: fc.constant('duplicate' as const), name: signedName, caseMask, delta, first: fc.boolean() }),
  fc.record({
    kind: fc.constant('body' as const),
    op: fc.constantFrom('append' as const, 'replace' as const, 'delete' as const),
    at: fc.nat(),
    char: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }),
  }),
  fc.record({ kind: fc.constant('renameCase' as const), name: signedName, pick, caseMask }),
  fc.record({
    kind: fc.constant('unrelated' as const),
    key: fc.constantFrom('user-agent', 'X-Forwarded-For', 'x-slack-retry-num', 'x-slack-signature-v1', 'x-slack-request-timestamp-ms', 'slack-signature'),
    value: fc.string({ maxLength: 80 }),
  }),
  fc.record({ kind: fc.constant('undefinedAlias' as const), name: signedName, caseMask }),
);

interface Mutable {
  headers: Record<string, string | undefined>;
  body: string;
}

/** `name` with the letters whose bit is set in `mask` upper-cased. */
const caseVariant = (name: string, mask: number) =>
  [...name].map((c, i) => ((mask >>> i % 31) & 1 ? c.toUpperCase() : c)).join('');

/** Keys that spell `name` (any case) and carry a value. */
const keysFor = (headers: Mutable['headers'], name: Signed) =>
  Object.keys(headers).filter((k) => k.toLowerCase() === name && headers[k] !== undefined);

function apply(state: Mutable, m: Mutation, original: { ts: number; body: string; secret: string }): void {
  const { headers } = state;
  const editValue = (name: Signed, which: number, edit: (value: string) => string) => {
    const keys = keysFor(headers, name);
    const key = keys[which % Math.max(keys.length, 1)];
    if (key !== undefined) headers[key] = edit(headers[key] ?? '');
  };
  switch (m.kind) {
    case 'drop': {
      const keys = keysFor(headers, m.name);
      const key = keys[m.pick % Math.max(keys.length, 1)];
      if (key !== undefined) delete headers[key];
      return;
    }
    case 'hexCase':
      return editValue(SIG, m.pick, (v) => {
        const letters = [...v].flatMap((c, i) => (/[a-f]/.test(c) ? [i] : []));
        const i = letters[m.at % Math.max(letters.length, 1)];
        return i === undefined ? v : v.slice(0, i) + v.charAt(i).toUpperCase() + v.slice(i + 1);
      });
    case 'flipHex':
      return editValue(SIG, m.pick, (v) => {
        const digits = [...v].flatMap((c, i) => (HEX.includes(c) ? [i] : []));
        const i = digits[m.at % Math.max(digits.length, 1)];
        return i === undefined ? v : v.slice(0, i) + HEX.charAt((HEX.indexOf(v.charAt(i)) + m.delta) % 16) + v.slice(i + 1);
      });
    case 'prefix':
      return editValue(SIG, m.pick, (v) => (v.startsWith('v0=') ? m.prefix + v.slice(3) : v));
    case 'shiftTimestamp':
      return editValue(TSH, m.pick, (v) => (/^[0-9]+$/.test(v) ? String(Number(v) + m.delta) : v));
    case 'zeroPad':
      // The same second spelled differently is still a different signed string.
      return editValue(TSH, m.pick, (v) => '0'.repeat(m.zeros) + v);
    case 'whitespace':
      return editValue(m.name, m.pick, (v) => (m.where === 'end' ? '' : m.ws) + v + (m.where === 'start' ? '' : m.ws));
    case 'duplicate': {
      // Another spelling of the name carrying a different, well-formed value: a forged signature for
      // another body, or another timestamp (possibly inside the window). Placed first or last, so
      // neither "first wins" nor "last wins" can pass by luck.
      const key = caseVariant(m.name, m.caseMask);
      const value =
        m.name === SIG ? nodeSign(String(original.ts), `${original.body}${m.delta}`, original.secret) : String(original.ts + m.delta);
      delete headers[key];
      state.headers = m.first ? { [key]: value, ...headers } : { ...headers, [key]: value };
      return;
    }
    case 'body': {
      // Code points, so the body stays well-formed UTF-16 (distinct strings then have distinct UTF-8 bytes).
      const cps = [...state.body];
      const i = m.at % Math.max(cps.length, 1);
      if (m.op === 'append') cps.push(m.char);
      else if (m.op === 'replace' && cps.length > 0) cps[i] = m.char;
      else if (m.op === 'delete') cps.splice(i, 1);
      state.body = cps.join('');
      return;
    }
    case 'renameCase': {
      const keys = keysFor(headers, m.name);
      const key = keys[m.pick % Math.max(keys.length, 1)];
      const renamed = caseVariant(m.name, m.caseMask);
      if (key === undefined || renamed in headers) return;
      headers[renamed] = headers[key];
      delete headers[key];
      return;
    }
    case 'unrelated':
      headers[m.key] = m.value;
      return;
    case 'undefinedAlias': {
      const alias = caseVariant(m.name, m.caseMask);
      if (!(alias in headers)) headers[alias] = undefined;
      return;
    }
  }
}

/**
 * The oracle, from the definition rather than the implementation: the body is unchanged and each
 * signed header still has its original value under every spelling that carries a value.
 */
function sameAsOriginal(state: Mutable, original: { body: string; headers: Record<Signed, string> }): boolean {
  if (state.body !== original.body) return false;
  return ([SIG, TSH] as const).every((name) => {
    const values = keysFor(state.headers, name).map((k) => state.headers[k]);
    return values.length > 0 && values.every((v) => v === original.headers[name]);
  });
}

describe('verifySlackSignature over mutated requests', () => {
  it('accepts if and only if the mutated request is still the original', () => {
    let accepted = 0;
    let rejected = 0;
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
        fc.oneof(fc.string({ unit: 'grapheme', maxLength: 120 }), fc.constant(BODY), fc.constant(DOC_BODY)),
        fc.integer({ min: 1_500_000_000, max: 2_000_000_000 }),
        fc.integer({ min: -300, max: 300 }),
        fc.array(mutation, { maxLength: 4 }),
        (secret, body, ts, skew, mutations) => {
          const timestamp = String(ts);
          const signature = nodeSign(timestamp, body, secret);
          const original = { body, headers: { [SIG]: signature, [TSH]: timestamp } };
          const state: Mutable = {
            body,
            headers: { 'content-type': 'application/x-www-form-urlencoded', [TSH]: timestamp, [SIG]: signature },
          };
          const now = ts + skew;
          expect(verifySlackSignature({ headers: { ...state.headers }, rawBody: body }, secret, now)).toEqual(OK);

          for (const m of mutations) apply(state, m, { ts, body, secret });
          const verdict = verifySlackSignature({ headers: state.headers, rawBody: state.body }, secret, now);
          expect(verdict.ok).toBe(sameAsOriginal(state, original));
          if (verdict.ok) accepted++;
          else rejected++;
        },
      ),
      { numRuns: 1000 },
    );
    // Not vacuous: both outcomes occur often.
    expect(accepted).toBeGreaterThan(100);
    expect(rejected).toBeGreaterThan(100);
  });
});
