/**
 * Replay refusal: a signed Slack request is accepted once. The signature alone admits a captured
 * request for the whole window Slack's timestamp check leaves open (5 minutes either side), so each
 * accepted request is remembered by its (timestamp, signature) until that window has closed.
 *
 * The memory must be shared: Lambda runs the endpoint in as many containers as traffic needs, and a
 * per-container cache would let a replay through whenever it reached another container. A DynamoDB
 * conditional put is atomic across all of them (of two puts of one key, exactly one succeeds), and
 * the item's TTL lets DynamoDB delete it once the window is over (deletion may lag by days, which
 * only keeps an already useless item longer): shared/adapters/dynamodb-replay.ts.
 */
/** The replay table's partition key (a string, `<timestamp>:<signature>`) and its TTL attribute (epoch seconds). */
export const REPLAY_KEY_ATTRIBUTE = 'request';
export const REPLAY_EXPIRY_ATTRIBUTE = 'expiresAt';

/** What names a signed request: its timestamp and signature headers exactly as sent. */
export interface SignedRequestId {
  timestamp: string;
  signature: string;
}

export interface ReplayGuard {
  /**
   * True the first time a request is seen, false for a replay; remembers it until `expiresAt`
   * (epoch seconds). Throws when it cannot tell: the caller must then refuse, not accept.
   */
  firstUse(request: SignedRequestId, expiresAt: number): Promise<boolean>;
}
