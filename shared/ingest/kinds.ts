/**
 * The CRM platform's kinds of extract beside the transactions (the input contract's names, kept
 * exactly: BI users and upstream exports depend on them): customer profiles, CRM messages' events,
 * survey answers and programme costs. Each kind declares its fields once — canonical name, the
 * catalog type it is typed as, and what makes a value unusable — and the staging (its two parser
 * paths, `stage-sql.ts`) and the typing here derive from that declaration.
 *
 * Typing is as for transactions: every staged row gets its typed values or the first reason, in
 * field order, that names the field and the bad value; rows are not dropped here.
 */
import type { ColumnType } from '../catalog.js';
import { dateLiteral, literal } from '../sql/dialect.js';
import type { FieldMap } from './stage-sql.js';
import { parseTimestamp, trimmed, wholeNumber } from './validate-sql.js';

export interface KindField {
  /** Canonical name: the column it is read from unless mapped, and the curated column. */
  readonly name: string;
  readonly type: Extract<ColumnType, 'string' | 'int' | 'money' | 'date' | 'timestamp' | 'boolean'>;
  /** What the value means: the curated table's column description. */
  readonly description: string;
  /** A row without a value is rejected ("missing <name>"). */
  readonly required?: true;
  /** Stored lower-cased (channels, event types arrive as "Email", "SMS"). */
  readonly lowerCase?: true;
  /** The values allowed (after lower-casing); another is rejected ("unknown <name>"). */
  readonly accepted?: readonly string[];
  /** Inclusive bounds of an integer. */
  readonly range?: readonly [number, number];
  /** A date or time after the run date cannot have happened yet: rejected. */
  readonly notAfterRunDate?: true;
}

export interface SourceKind {
  readonly name: 'customers' | 'crm_events' | 'surveys' | 'crm_costs';
  readonly fields: readonly KindField[];
  /**
   * The fields identifying a row: a row repeating them (in the extract or on an earlier night) is a
   * duplicate. Without a key, a row's identity is all its fields and its occurrence number in the
   * extract (as for transactions without ids): identical rows of one extract stay distinct, a
   * re-delivered extract is recognised.
   */
  readonly key?: readonly string[];
  /**
   * Rows name a referrer (`customer_id` referred by `referred_by`): a row whose referral cannot
   * count — self, unknown referrer, a cycle — is rejected at ingest.
   */
  readonly referrals?: true;
}

/** The event types a CRM platform reports, in the order of a message's life. */
export const EVENT_TYPES = ['sent', 'delivered', 'opened', 'clicked', 'unsubscribed', 'bounced', 'complained'] as const;

export const SOURCE_KINDS = [
  {
    name: 'customers',
    fields: [
      { name: 'customer_id', type: 'string', description: 'Customer id as the CRM platform knows it (the transactions\' customer_id).', required: true },
      { name: 'updated_at', type: 'timestamp', description: 'When this version of the profile was written (UTC): the latest per customer is the current profile.', required: true, notAfterRunDate: true },
      { name: 'signed_up_at', type: 'timestamp', description: 'When the customer signed up (UTC).', notAfterRunDate: true },
      { name: 'referred_by', type: 'string', description: 'customer_id of the customer who referred this one.' },
      { name: 'acquisition_channel', type: 'string', description: 'How the customer was acquired (lower-cased), e.g. referral, organic_search.', lowerCase: true },
      { name: 'email_consent', type: 'boolean', description: 'Consent to receive email.' },
      { name: 'sms_consent', type: 'boolean', description: 'Consent to receive SMS.' },
      { name: 'push_consent', type: 'boolean', description: 'Consent to receive push notifications.' },
    ],
    key: ['customer_id', 'updated_at'],
    referrals: true,
  },
  {
    name: 'crm_events',
    fields: [
      { name: 'event_id', type: 'string', description: 'Event id from the CRM platform.', required: true },
      { name: 'customer_id', type: 'string', description: 'Customer the message was for.', required: true },
      { name: 'occurred_at', type: 'timestamp', description: 'When the event happened (UTC).', required: true, notAfterRunDate: true },
      { name: 'channel', type: 'string', description: 'CRM channel (lower-cased): email, sms, push, in_app, direct_mail or another.', required: true, lowerCase: true },
      { name: 'campaign_id', type: 'string', description: 'Campaign (or triggered programme) the message belongs to.' },
      { name: 'event_type', type: 'string', description: 'sent, delivered, opened, clicked, unsubscribed, bounced or complained.', required: true, lowerCase: true, accepted: EVENT_TYPES },
    ],
    key: ['event_id'],
  },
  {
    name: 'surveys',
    fields: [
      { name: 'response_id', type: 'string', description: 'Survey response id.', required: true },
      { name: 'customer_id', type: 'string', description: 'Customer who answered.', required: true },
      { name: 'answered_at', type: 'timestamp', description: 'When the answer was given (UTC).', required: true, notAfterRunDate: true },
      { name: 'score', type: 'int', description: 'Likelihood to recommend, 0 to 10.', required: true, range: [0, 10] },
      { name: 'survey', type: 'string', description: 'Which survey (e.g. post_purchase).' },
    ],
    key: ['response_id'],
  },
  {
    name: 'crm_costs',
    fields: [
      { name: 'cost_date', type: 'date', description: 'Day the cost was incurred.', required: true, notAfterRunDate: true },
      { name: 'channel', type: 'string', description: 'CRM channel the cost belongs to (lower-cased).', required: true, lowerCase: true },
      { name: 'campaign_id', type: 'string', description: 'Campaign the cost belongs to; empty for the channel\'s fixed costs.' },
      { name: 'amount', type: 'money', description: 'Cost in the currency\'s units.', required: true },
      { name: 'currency', type: 'string', description: 'ISO currency code.' },
    ],
  },
] as const satisfies readonly SourceKind[];

/** The current profile's consent field of each CRM channel that asks for one. */
export const CONSENT_FIELDS = { email: 'email_consent', sms: 'sms_consent', push: 'push_consent' } as const;
/** A profile consents to some CRM channel (SQL over the profile's columns). */
export const ANY_CONSENT = Object.values(CONSENT_FIELDS).join(' OR ');

/** A kind by name. */
export function sourceKind(name: SourceKind['name']): SourceKind {
  return SOURCE_KINDS.find((kind) => kind.name === name)!;
}

/** A kind's staging fields under a source's column mapping (canonical name → source column). */
export function kindFields(kind: SourceKind, columns: Readonly<Partial<Record<string, string>>> = {}): FieldMap {
  return {
    fields: kind.fields.map((f) => f.name),
    required: kind.fields.filter((f) => f.required).map((f) => f.name),
    column: (field) => columns[field] ?? field,
  };
}

const TYPE_SQL: Record<KindField['type'], string> = {
  string: 'VARCHAR',
  int: 'INTEGER',
  money: 'DECIMAL(18,4)',
  date: 'DATE',
  timestamp: 'TIMESTAMP',
  boolean: 'BOOLEAN',
};

const NOT_A: Record<KindField['type'], string> = {
  string: '',
  int: 'an integer',
  money: 'a number',
  date: 'a valid date',
  timestamp: 'a valid date/time',
  boolean: 'a boolean',
};

/** A bad value quoted in a reason, cut short so one huge field cannot bloat the rejects table. */
const shown = (expr: string) => `'"' || left(${expr}, 80) || '"'`;

/** The typed value of a field's text (NULL when it does not parse). */
function typed(field: KindField, text: string, timestampFormat: string | undefined): string {
  switch (field.type) {
    case 'string':
      return field.lowerCase ? `lower(${text})` : text;
    case 'timestamp':
      return parseTimestamp(text, timestampFormat);
    case 'date':
      // A date, or the date of a date-time.
      return `coalesce(try_cast(${text} AS DATE), CAST(${parseTimestamp(text, timestampFormat)} AS DATE))`;
    case 'int':
      return wholeNumber(text);
    default:
      return `try_cast(${text} AS ${TYPE_SQL[field.type]})`;
  }
}

/**
 * SELECT over a staging relation (file_index, source_file, source_line, raw, reason as the parse
 * reason, and each field's text as `f_<name>`) giving each row's typed fields, or its reason and
 * raw text: columns file_index, source_file, source_line, raw, reason, then the kind's fields.
 */
export function validateKindSql(kind: SourceKind, stage: string, runDate: string, timestampFormat?: string): string {
  // Each field's text once, then its value from it: the checks read both.
  const texts = kind.fields.map((f) => `${trimmed(`f_${f.name}`)} AS ${f.name}_text`);
  const values = kind.fields.map((f) => `${typed(f, `${f.name}_text`, timestampFormat)} AS ${f.name}`);
  const checks = kind.fields.flatMap((f) => {
    const [value, raw] = [f.name, `${f.name}_text`];
    return [
      f.required ? `WHEN ${raw} IS NULL THEN 'missing ${f.name}'` : '',
      f.type === 'string' ? '' : `WHEN ${raw} IS NOT NULL AND ${value} IS NULL THEN '${f.name} is not ${NOT_A[f.type]}: ' || ${shown(raw)}`,
      f.accepted ? `WHEN ${value} NOT IN (${f.accepted.map(literal).join(', ')}) THEN 'unknown ${f.name}: ' || ${shown(raw)}` : '',
      f.range ? `WHEN ${value} NOT BETWEEN ${f.range[0]} AND ${f.range[1]} THEN '${f.name} is outside ${f.range[0]}–${f.range[1]}: ' || ${shown(raw)}` : '',
      f.notAfterRunDate
        ? `WHEN ${f.type === 'date' ? `${value} > ${dateLiteral(runDate)}` : `${value} >= ${dateLiteral(runDate)} + INTERVAL 1 DAY`} THEN '${f.name} is after the run date: ' || ${shown(raw)}`
        : '',
    ].filter(Boolean);
  });
  return `SELECT file_index, source_file, source_line, CASE WHEN reason IS NOT NULL THEN raw END AS raw, reason,
    ${kind.fields.map((f) => f.name).join(', ')}
  FROM (SELECT *, coalesce(parse_reason, CASE ${checks.join('\n      ')} END) AS reason
    FROM (SELECT *, ${values.join(', ')}
      FROM (SELECT file_index, source_file, source_line, raw, reason AS parse_reason, ${texts.join(', ')} FROM (${stage}))))`;
}
