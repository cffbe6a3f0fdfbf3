/**
 * The first three seconds of a `/crm` request: verify Slack's signature, check who asks from where,
 * understand the command, hand the work to the worker and answer at once. Nothing here waits for a
 * query or a run: Slack gives up on a slash command after 3 seconds.
 */
import { z } from 'zod';
import { helpMessage, notice } from './answers.js';
import type { SlackMessage } from './blocks.js';
import { CommandError, parseCommand, type SlackCommand } from './commands.js';
import type { ReplayGuard } from './replay.js';
import { REPLAY_WINDOW_SECONDS, verifySlackSignature } from './signature.js';

/**
 * The largest request body accepted, in bytes. A slash command's form (ids, names, response URL,
 * trigger id and the typed text) is well under 2 KiB for any command /crm understands; 16 KiB
 * leaves room for long text while a larger body is refused before it is decoded or hashed.
 */
export const MAX_BODY_BYTES = 16 * 1024;

/** Who may use the command: Slack team (workspace) and channel ids, and who may start runs. */
export const SlackAccessSchema = z.strictObject({
  teams: z.array(z.string()).default([]),
  channels: z.array(z.string()).default([]),
  /** User ids allowed to `run` (it costs compute and replaces published results with --force). */
  runUsers: z.array(z.string()).default([]),
});
export type SlackAccess = z.infer<typeof SlackAccessSchema>;

/** What the worker receives: the understood command and where to answer. */
export interface SlackJob {
  command: SlackCommand;
  responseUrl: string;
  teamId: string;
  channelId: string;
  userId: string;
}

/** The request as a Lambda function URL delivers it. */
export interface FunctionUrlRequest {
  headers: Readonly<Record<string, string | undefined>>;
  body?: string;
  isBase64Encoded?: boolean;
}

export interface FunctionUrlResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

export interface AckDeps {
  signingSecret: string;
  access: SlackAccess;
  /** Hands the job to the worker without waiting for it (an asynchronous Lambda invoke). */
  dispatch: (job: SlackJob) => Promise<void>;
  nowSeconds: () => number;
  /** One line per command: who, where, what, and how it ended. */
  audit: (entry: Record<string, string>) => void;
  /** Remembers accepted requests so that each is accepted once (shared by every container). */
  replay: ReplayGuard;
}

const json = (statusCode: number, message: SlackMessage | { error: string }): FunctionUrlResponse => ({
  statusCode,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(message),
});

/** The body's size in bytes, from the string as delivered: nothing is decoded or copied to measure it. */
function bodyBytes(request: FunctionUrlRequest): number {
  return Buffer.byteLength(request.body ?? '', request.isBase64Encoded ? 'base64' : 'utf8');
}

export async function acknowledge(request: FunctionUrlRequest, deps: AckDeps): Promise<FunctionUrlResponse> {
  // Before anything else: an unsigned megabyte costs nothing but this check.
  if (bodyBytes(request) > MAX_BODY_BYTES) {
    deps.audit({ outcome: 'rejected', reason: 'body too large' });
    return json(413, { error: `request body over ${MAX_BODY_BYTES} bytes` });
  }
  const rawBody = request.isBase64Encoded ? Buffer.from(request.body ?? '', 'base64').toString('utf8') : (request.body ?? '');
  const verdict = verifySlackSignature({ headers: request.headers, rawBody }, deps.signingSecret, deps.nowSeconds());
  if (!verdict.ok) {
    deps.audit({ outcome: 'rejected', reason: verdict.reason });
    return json(401, { error: 'invalid request signature' });
  }
  // Only signed requests are remembered, so junk cannot fill the store. The signature check accepts
  // this request until its timestamp plus the window; it must be remembered at least that long.
  let first: boolean;
  try {
    first = await deps.replay.firstUse({ timestamp: verdict.timestamp, signature: verdict.signature }, Number(verdict.timestamp) + REPLAY_WINDOW_SECONDS);
  } catch (error) {
    // Unable to tell a replay from a first use: refuse (Slack shows the failure; the user retries).
    deps.audit({ outcome: 'failed', reason: `replay check: ${error instanceof Error ? error.message : String(error)}` });
    return json(503, { error: 'could not check the request for replay; try again' });
  }
  if (!first) {
    deps.audit({ outcome: 'rejected', reason: 'replayed' });
    return json(401, { error: 'request already received' });
  }
  const form = new URLSearchParams(rawBody);
  const who = { team: form.get('team_id') ?? '', channel: form.get('channel_id') ?? '', user: form.get('user_id') ?? '' };
  const refuse = (outcome: string, text: string) => {
    deps.audit({ ...who, outcome });
    return json(200, notice(text));
  };
  if (!deps.access.teams.includes(who.team) || !deps.access.channels.includes(who.channel)) {
    return refuse('refused: channel', 'Sorry, /crm is not enabled in this channel. Ask the CRM analytics team to add it.');
  }
  let command: SlackCommand;
  try {
    command = parseCommand(form.get('text') ?? '');
  } catch (error) {
    if (error instanceof CommandError) return refuse('bad command', error.message);
    throw error;
  }
  if (command.name === 'help') {
    deps.audit({ ...who, command: 'help', outcome: 'answered' });
    return json(200, helpMessage());
  }
  if (command.name === 'run' && !deps.access.runUsers.includes(who.user)) {
    return refuse('refused: run', 'Sorry, you may ask questions here but not start runs. Ask the CRM analytics team for access.');
  }
  const responseUrl = form.get('response_url');
  if (!responseUrl) return refuse('bad request', 'Slack sent no response_url; please try again.');
  await deps.dispatch({ command, responseUrl, teamId: who.team, channelId: who.channel, userId: who.user });
  deps.audit({ ...who, command: command.name, outcome: 'dispatched' });
  const working = command.name === 'run' ? `Starting the run${command.date ? ` for ${command.date}` : ''}…` : 'Working on it…';
  return json(200, notice(working));
}
