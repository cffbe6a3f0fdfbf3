/** The README's table reference is the catalog's: regenerate with `npm run docs` after a change. */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { CATALOG } from '../shared/catalog.js';
import { tableReference, withTableReference } from '../shared/docs/table-reference.js';

describe('README table reference', () => {
  it('is up to date with the catalog', async () => {
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(tableReference());
    expect(withTableReference(readme)).toBe(readme);
  });

  it('lists every column of every table', () => {
    const reference = tableReference();
    for (const table of CATALOG) {
      expect(reference).toContain(`### \`${table.name}\``);
      for (const column of table.columns) expect(reference).toContain(`| \`${column.name}\` |`);
    }
  });
});
