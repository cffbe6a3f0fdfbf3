/**
 * The Block Kit subset the answers use, number formatting for the configured locale and currency,
 * and a plain-text rendering of a message (for `crm-metrics slack --text` and notifications).
 */
import type { Config } from '../config.js';

export type Display = Config['display'];

export type Block =
  | { type: 'header'; text: { type: 'plain_text'; text: string } }
  | { type: 'section'; text: { type: 'mrkdwn'; text: string }; fields?: { type: 'mrkdwn'; text: string }[] }
  | { type: 'context'; elements: { type: 'mrkdwn'; text: string }[] }
  | { type: 'divider' };

export interface SlackMessage {
  /** "ephemeral" answers only the asker; "in_channel" is seen by the channel. */
  response_type: 'ephemeral' | 'in_channel';
  /** Fallback for notifications and clients without blocks. */
  text: string;
  blocks: Block[];
}

/**
 * Slack's Block Kit limits (https://docs.slack.dev/reference/block-kit/blocks), in characters. The
 * builders below cut to them, so no answer, whatever text it echoes, is refused by Slack.
 */
const LIMITS = {
  sectionText: 3000,
  fields: 10,
  fieldText: 2000,
  headerText: 150,
  /** A context element is a text object: at most 3,000 characters. */
  contextText: 3000,
  blocks: 50,
  /** The fallback text: Slack truncates at 40,000 and has long advised under 4,000 (longer may be split). */
  messageText: 4000,
} as const;

const ELLIPSIS = '…';
/** The fences around a table's section text: "```\n" and "\n```". */
const FENCE_CHARS = 8;
/** A table cell's width at most: wider, a monospaced table no longer reads, and rows must fit a section. */
const TABLE_CELL_CHARS = 80;

/**
 * `text` cut to at most `max` characters, ending in "…" when cut. Length is counted in UTF-16 code
 * units, never fewer than the characters Slack counts, and a surrogate pair is never split. In
 * mrkdwn, the cut never falls inside an entity (`&amp;`) or a `<link|label>`, which Slack would
 * show half-parsed: `escape` leaves `&` and `<` only as the start of one.
 */
export function clip(text: string, max: number, mrkdwn = false): string {
  if (text.length <= max) return text;
  let end = max - ELLIPSIS.length;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  if (mrkdwn) {
    const amp = text.lastIndexOf('&', end - 1);
    // The longest entity, `&amp;`, is 5 characters.
    if (amp !== -1 && amp > end - 5 && !text.slice(amp, end).includes(';')) end = amp;
    const open = text.lastIndexOf('<', end - 1);
    if (open !== -1 && text.lastIndexOf('>', end - 1) < open) end = open;
  }
  return text.slice(0, end) + ELLIPSIS;
}

/** A message within Slack's limits: the fallback text cut, blocks beyond the 50th replaced by a note. */
export function slackMessage(text: string, blocks: Block[], responseType: SlackMessage['response_type']): SlackMessage {
  const shown =
    blocks.length <= LIMITS.blocks ? blocks : [...blocks.slice(0, LIMITS.blocks - 1), context(`${blocks.length - LIMITS.blocks + 1} more blocks not shown.`)];
  return { response_type: responseType, text: clip(text, LIMITS.messageText), blocks: shown };
}

export const header = (text: string): Block => ({ type: 'header', text: { type: 'plain_text', text: clip(text, LIMITS.headerText) } });
export const section = (text: string, fields?: string[]): Block => ({
  type: 'section',
  text: { type: 'mrkdwn', text: clip(text, LIMITS.sectionText, true) },
  ...(fields ? { fields: fields.slice(0, LIMITS.fields).map((f) => ({ type: 'mrkdwn' as const, text: clip(f, LIMITS.fieldText, true) })) } : {}),
});
export const context = (text: string): Block => ({ type: 'context', elements: [{ type: 'mrkdwn', text: clip(text, LIMITS.contextText, true) }] });
export const divider: Block = { type: 'divider' };

/** User text shown in mrkdwn: Slack's three control characters escaped, as its docs require. */
export function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * A table as monospaced text, split into sections under Slack's size limit, each repeating the
 * column heads. Numbers are right-aligned (columns whose every value starts with a digit, sign or
 * currency). Cells are cut to TABLE_CELL_CHARS and rows to what fits beside the heads, so every
 * section stays a closed code block.
 */
export function tableSections(head: string[], rows: string[][]): Block[] {
  const cells = rows.map((r) => r.map((c) => clip(c, TABLE_CELL_CHARS)));
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const numeric = head.map((_, i) => cells.length > 0 && cells.every((r) => /^[-+−]?[\p{Sc}A-Z]{0,3}\s?[\d.,]|^–$/u.test(r[i]!)));
  const line = (row: string[]) => row.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const heads = escape(line(head));
  // Escaping can lengthen a row up to five times; one row must always fit under the heads.
  const room = LIMITS.sectionText - FENCE_CHARS - heads.length - 1;
  const fenced = (chunk: string[]) => section('```\n' + chunk.join('\n') + '\n```');
  const blocks: Block[] = [];
  let chunk = [heads];
  for (const row of cells.map((r) => clip(escape(line(r)), room, true))) {
    if (chunk.length > 1 && [...chunk, row].join('\n').length + FENCE_CHARS > LIMITS.sectionText) {
      blocks.push(fenced(chunk));
      chunk = [heads];
    }
    chunk.push(row);
  }
  blocks.push(fenced(chunk));
  return blocks;
}

/** Number formatting for one locale and currency; NULL shows as "–". */
export function formatter(display: Display) {
  const cache = new Map<string, Intl.NumberFormat>();
  const format = (options: Intl.NumberFormatOptions) => {
    const key = JSON.stringify(options);
    if (!cache.has(key)) cache.set(key, new Intl.NumberFormat(display.locale, options));
    return cache.get(key)!;
  };
  const orDash = (value: number | null | undefined, render: (v: number) => string) =>
    value === null || value === undefined || Number.isNaN(value) ? '–' : render(value);
  return {
    /** "EUR 12,300" (whole units unless `digits`), "+EUR 12,300" with `signed`. */
    money: (value: number | null | undefined, signed = false, digits = 0) =>
      orDash(value, (v) =>
        format({ style: 'currency', currency: display.currency, currencyDisplay: 'code', minimumFractionDigits: digits, maximumFractionDigits: digits, signDisplay: signed ? 'exceptZero' : 'auto' }).format(v),
      ),
    /** Grouped number without currency, e.g. "4,100". */
    number: (value: number | null | undefined, digits = 0) =>
      orDash(value, (v) => format({ maximumFractionDigits: digits, minimumFractionDigits: digits }).format(v)),
    percent: (value: number | null | undefined, digits = 1) =>
      orDash(value, (v) => format({ style: 'percent', maximumFractionDigits: digits, minimumFractionDigits: digits }).format(v)),
  };
}

/** The message as plain text: headers underlined, code fences and mrkdwn emphasis removed. */
export function toPlainText(message: SlackMessage): string {
  const plain = (text: string) =>
    text
      .replace(/```\n?/g, '')
      .replace(/<([^|>]+)\|([^>]+)>/g, '$2: $1')
      .replace(/(^|\s)[*_](\S[^*_\n]*?)[*_](?=\s|$|[.,:;])/g, '$1$2')
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&amp;/g, '&');
  const out: string[] = [];
  for (const block of message.blocks) {
    if (block.type === 'header') out.push(block.text.text, '='.repeat(block.text.text.length));
    // A field is "*Label*\nvalue": one line "Label: value" in text.
    else if (block.type === 'section') out.push(plain(block.text.text), ...(block.fields ?? []).map((f) => plain(f.text).replace('\n', ': ')));
    else if (block.type === 'context') out.push(...block.elements.map((e) => plain(e.text)));
    else out.push('');
  }
  return out.join('\n').trimEnd();
}
