/**
 * The declared checks of a table, run on the file written for it before anything is published:
 * NULLs in required columns (from the columns' declarations), repeated keys (the table's grain,
 * unless its build keeps it unique by construction), values outside an accepted list, and row
 * rules. The first violation fails the run, naming the table, the check and a row.
 */
import { acceptedValues, type Table } from '../catalog.js';
import type { Config } from '../config.js';
import type { SqlEngine } from '../engine/sql-engine.js';
import { ident, literal, nullCountsSql, readParquet } from '../sql/dialect.js';

export class CheckError extends Error {
  override name = 'CheckError';
}

/** Each declared check as a query returning at most one offending row (none when the check holds). */
export function checkQueries(table: Table, relation: string, config: Config): { check: string; sql: string }[] {
  const queries: { check: string; sql: string }[] = [];
  if (table.key && !table.checks?.keyUniqueByBuild) {
    const key = table.key.map(ident).join(', ');
    queries.push({
      check: `unique (${table.key.join(', ')})`,
      sql: `SELECT ${key}, CAST(count(*) AS INTEGER) AS rows FROM (${relation}) AS t GROUP BY ${key} HAVING count(*) > 1 LIMIT 1`,
    });
  }
  for (const [column, values] of Object.entries(acceptedValues(table))) {
    const list = values(config).map(literal).join(', ');
    queries.push({ check: `accepted values of ${column}`, sql: `SELECT * FROM (${relation}) AS t WHERE ${ident(column)} NOT IN (${list}) LIMIT 1` });
  }
  for (const [name, rule] of Object.entries(table.checks?.rules ?? {})) {
    queries.push({ check: `rule ${name}: ${rule}`, sql: `SELECT * FROM (${relation}) AS t WHERE NOT coalesce(${rule}, false) LIMIT 1` });
  }
  return queries;
}

/** Runs a table's checks on its written file; throws on the first violation. */
export async function checkTable(engine: SqlEngine, table: Table, file: string, config: Config): Promise<void> {
  const relation = `SELECT * FROM ${readParquet([file])}`;
  // A NULL in a required column is a bug upstream; every NULL is counted, by column.
  const nulls = nullCountsSql(table, file);
  const footer = nulls ? await engine.query<{ column: string; nulls: number | null; known: boolean }>(nulls) : [];
  const bad: string[] = [];
  for (const { column, nulls: counted, known } of footer) {
    const n = known ? counted! : (await engine.query<{ n: number }>(`SELECT CAST(count(*) AS DOUBLE) AS n FROM (${relation}) AS t WHERE ${ident(column)} IS NULL`))[0]!.n;
    if (n > 0) bad.push(`${column} (${n} rows)`);
  }
  if (bad.length) throw new CheckError(`${table.name}: NULL in required column(s) ${bad.join(', ')}`);
  for (const { check, sql } of checkQueries(table, relation, config)) {
    const [row] = await engine.query(sql);
    // Rows arrive JSON-safe (BIGINT and DECIMAL as text).
    if (row) throw new CheckError(`${table.name}: check ${check} failed, e.g. ${JSON.stringify(row)}`);
  }
}
