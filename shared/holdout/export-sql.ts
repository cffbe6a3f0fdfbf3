/** The holdout's exclusion lists: the control group's customer ids as CSV, and each channel's, for the sending tools to import. */
import { literal } from '../sql/dialect.js';
import { inChannelControlSql } from './assign-sql.js';

/**
 * One field of control.csv, as SQL over the text column `column`. The list is opened in
 * spreadsheets too, which run a cell that starts with `=`, `+`, `-`, `@`, tab or CR as a formula
 * (CSV injection): such an id is written behind a single quote and in double quotes, as OWASP
 * advises, so that it shows as text. So is an id that starts with a single quote itself, so that
 * dropping one leading quote gives every id back exactly. Other ids are written as they are,
 * quoted (RFC 4180) only when they hold a comma, a double quote or a line break.
 */
function controlCsvField(column: string): string {
  const quoted = (prefix: string) => `'"${prefix}' || replace(${column}, '"', '""') || '"'`;
  return `CASE WHEN regexp_matches(${column}, '^[=+\\-@\\t\\r'']') THEN ${quoted("''")}
    WHEN regexp_matches(${column}, '[",\\n\\r]') THEN ${quoted('')} ELSE ${column} END`;
}

/**
 * Writes the control group of `assignment` to `path` (the fields rendered here: the writer quotes
 * nothing); with a channel, the treatment customers held out of that channel only.
 */
export function controlExportSql(assignment: string, path: string, channel?: string): string {
  const held = channel ? `holdout_group = 'treatment' AND ${inChannelControlSql('channel_controls', literal(channel))}` : `holdout_group = 'control'`;
  return `COPY (SELECT ${controlCsvField('id')} AS customer_id FROM (SELECT customer_id AS id FROM (${assignment}) AS a
    WHERE ${held}) AS c ORDER BY id) TO ${literal(path)} (FORMAT csv, HEADER, QUOTE '')`;
}
