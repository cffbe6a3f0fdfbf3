/**
 * The CRM kinds' typing (shared/ingest/kinds.ts): each hostile value of each kind gets the reason
 * that names its field and value, clean rows their typed values, and a source's column mapping
 * reaches the staging.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDbEngine } from '../shared/adapters/duckdb.js';
import { kindFields, SOURCE_KINDS, validateKindSql, type SourceKind } from '../shared/ingest/kinds.js';
import { literal } from '../shared/sql/dialect.js';

const RUN_DATE = '2024-06-30';
const kind = (name: SourceKind['name']): SourceKind => SOURCE_KINDS.find((k) => k.name === name)!;

let engine: DuckDbEngine;
beforeAll(async () => {
  engine = await DuckDbEngine.open();
});
afterAll(async () => {
  await engine?.close();
});

/** Stages rows of text (missing keys NULL), one per line, and types them; returns each line's reason or typed row. */
async function typedRows(k: SourceKind, rows: readonly Partial<Record<string, string>>[]): Promise<Record<string, unknown>[]> {
  const names = k.fields.map((f) => f.name);
  const value = (v: string | undefined) => (v === undefined ? 'CAST(NULL AS VARCHAR)' : literal(v));
  const tuples = rows.map((row, i) => `(0, 'x.csv', ${i + 1}, 'raw ${i + 1}', CAST(NULL AS VARCHAR), ${names.map((n) => value(row[n])).join(', ')})`);
  const stage = `SELECT * FROM (VALUES ${tuples.join(', ')}) AS s(file_index, source_file, source_line, raw, reason, ${names.map((n) => `f_${n}`).join(', ')})`;
  return engine.query(`SELECT * EXCLUDE (file_index, source_file) FROM (${validateKindSql(k, stage, RUN_DATE)}) ORDER BY source_line`);
}
const reasons = (rows: Record<string, unknown>[]) => rows.map((r) => r['reason'] ?? null);

describe('CRM kinds', () => {
  it('customers: a profile needs an id and a valid update time no later than the run date; consents are booleans', async () => {
    const ok = { customer_id: 'C1', updated_at: '2024-06-30T23:59:59', signed_up_at: '2024-01-02', referred_by: 'C9', acquisition_channel: 'Referral', email_consent: 'true', sms_consent: 'false', push_consent: '' };
    const rows = await typedRows(kind('customers'), [
      ok,
      { ...ok, customer_id: '  ' },
      { ...ok, updated_at: undefined },
      { ...ok, updated_at: '2024-07-01T00:00:00' },
      { ...ok, signed_up_at: 'yesterday' },
      { ...ok, email_consent: 'maybe' },
    ]);
    expect(reasons(rows)).toEqual([
      null,
      'missing customer_id',
      'missing updated_at',
      'updated_at is after the run date: "2024-07-01T00:00:00"',
      'signed_up_at is not a valid date/time: "yesterday"',
      'email_consent is not a boolean: "maybe"',
    ]);
    expect(rows[0]).toMatchObject({ customer_id: 'C1', referred_by: 'C9', acquisition_channel: 'referral', email_consent: true, sms_consent: false, push_consent: null, raw: null });
    expect(rows[1]!['raw']).toBe('raw 2');
  });

  it('crm_events: ids, customer, time, channel and type required; an unknown event type is named; channels and types lower-cased', async () => {
    const ok = { event_id: 'E1', customer_id: 'C1', occurred_at: '2024-06-01T09:00:00Z', channel: 'Email', campaign_id: 'NL-1', event_type: 'OPENED' };
    const rows = await typedRows(kind('crm_events'), [ok, { ...ok, event_id: undefined }, { ...ok, channel: '' }, { ...ok, event_type: 'openned' }, { ...ok, occurred_at: '2024-13-01' }, { ...ok, campaign_id: undefined }]);
    expect(reasons(rows)).toEqual([null, 'missing event_id', 'missing channel', 'unknown event_type: "openned"', 'occurred_at is not a valid date/time: "2024-13-01"', null]);
    expect(rows[0]).toMatchObject({ channel: 'email', event_type: 'opened' });
    expect(rows[5]!['campaign_id']).toBeNull();
  });

  it('surveys: a score is an integer from 0 to 10', async () => {
    const ok = { response_id: 'S1', customer_id: 'C1', answered_at: '2024-06-02', score: '10', survey: 'nps' };
    const rows = await typedRows(kind('surveys'), [ok, { ...ok, score: '11' }, { ...ok, score: '-1' }, { ...ok, score: '7.5' }, { ...ok, score: undefined }, { ...ok, score: '0' }]);
    expect(reasons(rows)).toEqual([null, 'score is outside 0–10: "11"', 'score is outside 0–10: "-1"', 'score is not an integer: "7.5"', 'missing score', null]);
    expect(rows[5]!['score']).toBe(0);
  });

  it('crm_costs: a date (or the date of a date-time) no later than the run date, a channel and an amount', async () => {
    const ok = { cost_date: '2024-06-30', channel: 'SMS', campaign_id: '', amount: '12.50', currency: 'EUR' };
    const rows = await typedRows(kind('crm_costs'), [ok, { ...ok, cost_date: '2024-07-01' }, { ...ok, amount: '12,50' }, { ...ok, cost_date: '2024-06-01T10:00:00' }, { ...ok, channel: undefined }]);
    expect(reasons(rows)).toEqual([null, 'cost_date is after the run date: "2024-07-01"', 'amount is not a number: "12,50"', null, 'missing channel']);
    expect(rows[0]).toMatchObject({ channel: 'sms', campaign_id: null, amount: '12.5000', currency: 'EUR' });
    expect(rows[3]!['cost_date']).toBe('2024-06-01');
  });

  it("a source's column mapping and the required fields reach the staging", () => {
    const fields = kindFields(kind('surveys'), { score: 'NPS Score' });
    expect(fields.fields).toEqual(['response_id', 'customer_id', 'answered_at', 'score', 'survey']);
    expect(fields.required).toEqual(['response_id', 'customer_id', 'answered_at', 'score']);
    expect([fields.column('score'), fields.column('survey')]).toEqual(['NPS Score', 'survey']);
  });
});
