/**
 * Typing and validation of staged rows, the same for every file format: each row either gets typed
 * values or a reason naming the field and the bad value. Rows are not dropped here; the caller
 * splits them into rejects and candidates.
 */
import type { InputConfig } from '../config.js';
import { dateLiteral, literal } from '../sql/dialect.js';

/** Columns of the `typed` staging table, created once per run. */
export const TYPED_TABLE = `CREATE TEMP TABLE typed (
  file_index INTEGER, source_file VARCHAR, source_line BIGINT, raw VARCHAR, reason VARCHAR,
  transaction_id VARCHAR, customer_id VARCHAR, ordered_at TIMESTAMP, amount DECIMAL(18,4),
  quantity INTEGER, channel VARCHAR, currency VARCHAR, is_return BOOLEAN)`;

const text = (field: string) => `nullif(trim(f_${field}), '')`;
/** A bad value quoted in a reason, cut short so one huge field cannot bloat the rejects table. */
const shown = (expr: string) => `'"' || left(${expr}, 80) || '"'`;

/**
 * Date-time text -> TIMESTAMP (UTC): ISO 8601 by default, else the strptime format. Only text
 * with a zone suffix after the seconds (Z, +hh:mm, -hh:mm) takes the slower TIMESTAMPTZ cast that
 * converts it to UTC; a plain TIMESTAMP cast would silently ignore the offset.
 */
export function parseTimestamp(expr: string, format: string | undefined): string {
  return format ? `try_strptime(${expr}, ${literal(format)})` : parseIsoTimestamp(expr);
}

/**
 * Text without its surrounding blanks, NULL when empty. trim() decodes every character (~1 s on
 * 10M rows × 4 columns); a non-empty ASCII value that neither starts nor ends with a space is what
 * it would return, so only other values take it.
 */
export function trimmed(expr: string): string {
  return `CASE WHEN strlen(${expr}) = length(${expr}) AND ${expr} NOT LIKE ' %' AND ${expr} NOT LIKE '% ' AND ${expr} <> '' THEN ${expr}
      ELSE nullif(trim(${expr}), '') END`;
}

/** Whole-number text -> INTEGER, NULL otherwise: a plain cast would round "2.5" to 3. */
export function wholeNumber(expr: string): string {
  return `CASE WHEN regexp_full_match(${expr}, '[+-]?[0-9]+') THEN try_cast(${expr} AS INTEGER) END`;
}

/** ISO 8601 text -> TIMESTAMP (UTC), NULL when invalid. */
export function parseIsoTimestamp(expr: string): string {
  return `CASE WHEN strlen(${expr}) > 19 AND regexp_matches(substr(${expr}, 20), '[zZ+-]')
    THEN CAST(try_cast(${expr} AS TIMESTAMPTZ) AS TIMESTAMP) ELSE try_cast(${expr} AS TIMESTAMP) END`;
}

/** SELECT over a staging relation (fields as text) producing rows shaped like the `typed` table. */
export function validateSql(stage: string, input: InputConfig, runDate: string): string {
  const unitPriced = Boolean(input.columns.unit_price);
  const amount = unitPriced ? `try_cast(unit_price_text AS DECIMAL(18,4)) * quantity` : `try_cast(amount_text AS DECIMAL(18,4))`;
  const texts = `SELECT file_index, source_file, source_line, raw, reason AS parse_reason,
      ${text('transaction_id')} AS transaction_id, ${text('customer_id')} AS customer_id,
      ${text('ordered_at')} AS ordered_at_text, ${text('amount')} AS amount_text, ${text('unit_price')} AS unit_price_text,
      ${text('quantity')} AS quantity_text, ${text('channel')} AS channel, ${text('currency')} AS currency,
      ${text('is_return')} AS is_return_text
    FROM (${stage})`;
  const values = `SELECT *, ${amount} AS amount FROM (
      SELECT *, ${parseTimestamp('ordered_at_text', input.timestamp_format)} AS ordered_at,
        ${wholeNumber('quantity_text')} AS quantity, try_cast(is_return_text AS BOOLEAN) AS is_return_flag
      FROM (${texts}))`;
  return verdictSql(values, input, runDate);
}

/**
 * The verdict on typed values: the first failed check names the reason. `values` holds the typed
 * columns and, beside each, its text (`*_text`) for messages and to tell missing from invalid.
 */
export function verdictSql(values: string, input: InputConfig, runDate: string): string {
  const unitPriced = Boolean(input.columns.unit_price);
  const amountText = unitPriced ? 'unit_price_text' : 'amount_text';
  const returnByPrefix = input.return_id_prefix
    ? ` OR starts_with(transaction_id, ${literal(input.return_id_prefix)})`
    : '';
  const checks = [
    `WHEN customer_id IS NULL THEN 'missing customer_id'`,
    input.transaction_id_from ? '' : `WHEN transaction_id IS NULL THEN 'missing transaction_id'`,
    `WHEN ordered_at_text IS NULL THEN 'missing ordered_at'`,
    `WHEN ordered_at IS NULL THEN 'ordered_at is not a valid date/time: ' || ${shown('ordered_at_text')}`,
    `WHEN ordered_at >= ${dateLiteral(runDate)} + INTERVAL 1 DAY THEN 'ordered_at is after the run date: ' || ${shown('ordered_at_text')}`,
    `WHEN quantity_text IS NOT NULL AND quantity IS NULL THEN 'quantity is not an integer: ' || ${shown('quantity_text')}`,
    unitPriced ? `WHEN quantity IS NULL THEN 'missing quantity (needed with unit_price)'` : '',
    `WHEN ${amountText} IS NULL THEN 'missing ${unitPriced ? 'unit_price' : 'amount'}'`,
    `WHEN amount IS NULL THEN '${unitPriced ? 'unit_price' : 'amount'} is not a number: ' || ${shown(amountText)}`,
    `WHEN is_return_text IS NOT NULL AND is_return_flag IS NULL THEN 'is_return is not a boolean: ' || ${shown('is_return_text')}`,
  ].filter(Boolean);
  const verdicts = `SELECT *, coalesce(parse_reason, CASE ${checks.join('\n      ')} END) AS reason,
      coalesce(is_return_flag, false) OR amount < 0${returnByPrefix} AS is_return
    FROM (${values})`;
  return `SELECT file_index, source_file, source_line, CASE WHEN reason IS NOT NULL THEN raw END AS raw, reason,
      transaction_id, customer_id, ordered_at,
      CASE WHEN is_return THEN -abs(amount) ELSE amount END AS amount,
      CASE WHEN is_return THEN -abs(quantity) ELSE quantity END AS quantity,
      channel, currency, is_return
    FROM (${verdicts})`;
}
