/** The holdout's exclusion list: the control group's customer ids as CSV, for the sending tool to import. */
import { literal } from '../sql/dialect.js';

export function controlExportSql(assignment: string, path: string): string {
  return `COPY (SELECT customer_id FROM (${assignment}) AS a WHERE holdout_group = 'control'
    ORDER BY customer_id) TO ${literal(path)} (FORMAT csv, HEADER)`;
}
