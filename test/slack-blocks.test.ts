/**
 * Echoed user text within Slack's Block Kit limits: whatever a command echoes (an unknown command,
 * a customer id, a segment, a table cell from the data), every text of the answer fits, cut where
 * Slack still renders it whole (never inside an entity, a link or a code block).
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../shared/config.js';
import type { SqlRow } from '../shared/engine/sql-engine.js';
import { acknowledge } from '../shared/slack/ack.js';
import { answer, ANSWER_SQL, type Question } from '../shared/slack/answers.js';
import type { SlackMessage } from '../shared/slack/blocks.js';
import { slackSignature } from '../shared/slack/signature.js';

const SECRET = 'blocks-signing-secret';
const NOW = 1_711_000_000;

/** A signed slash command from an allowed channel. */
function signed(text: string) {
  const body = new URLSearchParams({ command: '/crm', text, team_id: 'T-CRM', channel_id: 'C-CRM', user_id: 'U-ANALYST', response_url: 'https://hooks.slack.com/commands/T-CRM/1/abc' }).toString();
  return { headers: { 'x-slack-request-timestamp': String(NOW), 'x-slack-signature': slackSignature(body, NOW, SECRET) }, body };
}
const deps = {
  signingSecret: SECRET,
  access: { teams: ['T-CRM'], channels: ['C-CRM'], runUsers: [] },
  nowSeconds: () => NOW,
  audit: () => {},
  dispatch: async () => {},
  replay: { firstUse: async () => true },
};

describe('echoed user text within Block Kit limits', () => {
  /**
   * Every limit a message of these blocks can break, from Slack's Block Kit reference: section text
   * 3,000 characters, at most 10 fields of 2,000 each; header plain_text 150; context at most 10
   * elements, each a text object of at most 3,000; 50 blocks per message; and the fallback `text`
   * kept under Slack's long-standing 4,000 (it truncates at 40,000 and may split above 4,000).
   */
  function violations(message: SlackMessage): string[] {
    const found: string[] = [];
    const check = (what: string, text: string, max: number) => text.length > max && found.push(`${what}: ${text.length} > ${max}`);
    if (message.blocks.length > 50) found.push(`${message.blocks.length} blocks`);
    check('text', message.text, 4000);
    message.blocks.forEach((block, i) => {
      if (block.type === 'header') check(`header ${i}`, block.text.text, 150);
      if (block.type === 'section') {
        check(`section ${i}`, block.text.text, 3000);
        if ((block.fields?.length ?? 0) > 10) found.push(`section ${i}: ${block.fields!.length} fields`);
        block.fields?.forEach((f, j) => check(`section ${i} field ${j}`, f.text, 2000));
      }
      if (block.type === 'context') {
        if (block.elements.length > 10) found.push(`context ${i}: ${block.elements.length} elements`);
        block.elements.forEach((e, j) => check(`context ${i} element ${j}`, e.text, 3000));
      }
    });
    return found;
  }

  const display = parseConfig({}).display;
  const LONG = 'x'.repeat(10_000);
  /** User text full of Slack's control characters: each escapes to an entity of 4 or 5 characters. */
  const HOSTILE = '<&>'.repeat(3334);

  it('an unknown command of 10,000 characters: the refusal fits and still says what went wrong and what to type', async () => {
    const response = await acknowledge(signed(LONG), deps);
    expect(response.statusCode).toBe(200);
    const message = JSON.parse(response.body) as SlackMessage;
    expect(violations(message)).toEqual([]);
    const section = message.blocks[0]!;
    expect(section.type === 'section' && section.text.text).toMatch(/^unknown command "x{10,}…"\. Try: help, run, /);
  });

  /** Answers the questions' SQL with `rows` for the matching statement, the latest run otherwise. */
  const ctx = (rows: Partial<Record<keyof typeof ANSWER_SQL, SqlRow[]>>) => ({
    display,
    query: async (sql: string): Promise<SqlRow[]> => {
      if (sql === ANSWER_SQL.latestRun) return [{ dt: '2024-03-21' }];
      const name = (Object.keys(ANSWER_SQL) as (keyof typeof ANSWER_SQL)[]).find((k) => ANSWER_SQL[k] === sql || (k === 'top' && sql.includes('ORDER BY')));
      return (name && rows[name]) ?? [];
    },
  });
  const ask = (question: Question, rows: Parameters<typeof ctx>[0] = {}) => answer(question, ctx(rows));

  it('a customer id of 10,000 escaped characters: within the limits, cut between entities, never inside one', async () => {
    const message = await ask({ name: 'customer', id: HOSTILE });
    expect(violations(message)).toEqual([]);
    const section = message.blocks[0]!;
    if (section.type !== 'section') throw new Error('expected a section');
    expect(section.text.text.startsWith('No customer "&lt;&amp;&gt;')).toBe(true);
    expect(section.text.text.endsWith('…')).toBe(true);
    // What remains of the user text is whole entities: no raw control character, no half of one.
    const kept = section.text.text.slice('No customer "'.length, -1);
    expect(kept).toMatch(/^(&lt;|&amp;|&gt;)+$/);
  });

  it('a holdout segment of 10,000 characters that matches rows: the header is cut to 150', async () => {
    const row = { window: 'last_7_days', n_treatment: 900, n_control: 50, incremental_revenue: 1200, ci_low: 100, ci_high: 2300, p_value: 0.03, relative_lift: 0.1, srm_flag: false, verdict: 'significant' };
    const message = await ask({ name: 'holdout', date: '2024-03-21', segment: LONG }, { holdout: [row] });
    expect(violations(message)).toEqual([]);
    expect(message.blocks[0]).toEqual({ type: 'header', text: { type: 'plain_text', text: `Holdout: ${'x'.repeat(140)}…` } });
  });

  it('a table row longer than a section (a 10,000-character customer id in top): each section fits and stays a closed code block', async () => {
    const rows = [
      { dt: '2024-03-21', customer_id: HOSTILE, segment: 'Champions', grade: 'A', revenue: 1000, clv: 900 },
      { dt: '2024-03-21', customer_id: 'C2', segment: 'Loyal', grade: 'B', revenue: 500, clv: 400 },
    ];
    const message = await ask({ name: 'top', n: 2, by: 'clv' }, { top: rows });
    expect(violations(message)).toEqual([]);
    const sections = message.blocks.filter((b) => b.type === 'section');
    expect(sections.length).toBeGreaterThan(0);
    for (const s of sections) expect(s.text.text).toMatch(/^```\n[^]*\n```$/);
    expect(JSON.stringify(message.blocks)).toContain('C2');
  });
});
