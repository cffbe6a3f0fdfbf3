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

/** Slack's limit on a section's text. */
const SECTION_CHARS = 3000;

export const header = (text: string): Block => ({ type: 'header', text: { type: 'plain_text', text: text.slice(0, 150) } });
export const section = (text: string, fields?: string[]): Block => ({
  type: 'section',
  text: { type: 'mrkdwn', text },
  ...(fields ? { fields: fields.map((f) => ({ type: 'mrkdwn' as const, text: f })) } : {}),
});
export const context = (text: string): Block => ({ type: 'context', elements: [{ type: 'mrkdwn', text }] });
export const divider: Block = { type: 'divider' };

/** User text shown in mrkdwn: Slack's three control characters escaped, as its docs require. */
export function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * A table as monospaced text, split into sections under Slack's size limit. Numbers are
 * right-aligned (columns whose every value starts with a digit, sign or currency).
 */
export function tableSections(head: string[], rows: string[][]): Block[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const numeric = head.map((_, i) => rows.length > 0 && rows.every((r) => /^[-+−]?[\p{Sc}A-Z]{0,3}\s?[\d.,]|^–$/u.test(r[i]!)));
  const line = (cells: string[]) => cells.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const lines = [line(head), ...rows.map(line)].map(escape);
  const blocks: Block[] = [];
  let chunk: string[] = [];
  for (const l of lines) {
    if ([...chunk, l].join('\n').length + 8 > SECTION_CHARS) {
      blocks.push(section('```\n' + chunk.join('\n') + '\n```'));
      chunk = [lines[0]!];
    }
    chunk.push(l);
  }
  blocks.push(section('```\n' + chunk.join('\n') + '\n```'));
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
    /** "EUR 12,300" (whole units), "+EUR 12,300" with `signed`. */
    money: (value: number | null | undefined, signed = false) =>
      orDash(value, (v) =>
        format({ style: 'currency', currency: display.currency, currencyDisplay: 'code', maximumFractionDigits: 0, signDisplay: signed ? 'exceptZero' : 'auto' }).format(v),
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
