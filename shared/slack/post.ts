/**
 * Delivering an answer: Slack's `response_url` accepts up to five JSON posts within 30 minutes of
 * the command.
 */
import type { SlackMessage } from './blocks.js';

/** Where Slack's response URLs live; the worker posts nowhere else. */
export const SLACK_RESPONSE_URL_PREFIX = 'https://hooks.slack.com/';

export async function postResponse(responseUrl: string, message: SlackMessage, allowedPrefix = SLACK_RESPONSE_URL_PREFIX): Promise<void> {
  // The URL came in a signed request, but the worker's payload is plain JSON: refuse to post
  // (possibly customer data) anywhere but Slack.
  if (!responseUrl.startsWith(allowedPrefix)) throw new Error(`response_url outside ${allowedPrefix}`);
  const response = await fetch(responseUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(message),
    signal: AbortSignal.timeout(10_000),
  });
  if (!response.ok) throw new Error(`Slack answered ${response.status} to the response_url post: ${(await response.text()).slice(0, 200)}`);
}
