/**
 * The README's generated sections are the code's: the table reference is the catalog's, the
 * configuration references are the zod schemas'. Regenerate with `npm run docs` after a change.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseDeployConfig } from '../infra/config.js';
import { TABLES } from '../shared/tables/index.js';
import { parseConfig } from '../shared/config.js';
import { configKeys, configReference } from '../shared/docs/config-reference.js';
import { markedBlock, withMarkedSection } from '../shared/docs/marked-section.js';
import {
  DEPLOY_CONFIG_REFERENCE,
  deployConfigReference,
  regenerateReadme,
  RUN_CONFIG_REFERENCE,
  runConfigReference,
} from '../shared/docs/readme.js';
import { tableReference, withTableReference } from '../shared/docs/table-reference.js';
import type { MarkedSection } from '../shared/docs/marked-section.js';

const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');

describe('README table reference', () => {
  it('is up to date with the catalog', () => {
    expect(readme).toContain(tableReference());
    expect(withTableReference(readme)).toBe(readme);
  });

  it('lists every column of every table', () => {
    const reference = tableReference();
    for (const table of TABLES) {
      expect(reference).toContain(`### \`${table.name}\``);
      for (const column of table.columns) expect(reference).toContain(`| \`${column.name}\` |`);
    }
  });
});

/** The README's rows of a marked config reference: key → default cell, read from the Markdown itself. */
function readmeDefaults(section: MarkedSection): Map<string, string> {
  const body = readme.slice(readme.indexOf(section.begin), readme.indexOf(section.end));
  const rows = new Map<string, string>();
  for (const line of body.split('\n')) {
    const cells = line.split(/(?<!\\)\|/).map((text) => text.trim()); // a cell's own pipes are escaped
    const key = /^`(.+)`$/.exec(cells[1] ?? '');
    if (cells.length === 6 && key) rows.set(key[1]!, cells[3]!);
  }
  return rows;
}

/** The value a default cell shows: inline JSON, or JSON folded in a <details> element. */
function cellValue(cell: string): unknown {
  const inline = /^`(.*)`$/.exec(cell);
  if (inline) return JSON.parse(inline[1]!);
  const folded = /<code>(.*)<\/code>/.exec(cell);
  if (!folded) throw new Error(`not a default value: ${cell}`);
  return JSON.parse(folded[1]!.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&#124;/g, '|').replace(/&amp;/g, '&'));
}

function at(value: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], value);
}

/** Dotted paths of a parsed config's values, down to plain objects' leaves. */
function leafPaths(value: unknown, prefix = ''): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || Object.keys(value).length === 0) {
    return [prefix];
  }
  return Object.entries(value).flatMap(([key, child]) => leafPaths(child, prefix ? `${prefix}.${key}` : key));
}

describe.each([
  { name: 'run config', section: RUN_CONFIG_REFERENCE, generate: runConfigReference, defaults: parseConfig({}) },
  { name: 'deploy config', section: DEPLOY_CONFIG_REFERENCE, generate: deployConfigReference, defaults: parseDeployConfig({}) },
])('README $name reference', ({ section, generate, defaults }) => {
  it('is the one generated from the schema', () => {
    expect(readme).toContain(markedBlock(section, generate()));
    expect(regenerateReadme(readme)).toBe(readme);
  });

  // Read back from the README's text and compared with what parsing `{}` yields, not with the
  // generator's own derivation: a hand-edited cell or a section default written out by hand that
  // disagrees with its keys' defaults both fail here.
  it('shows as each default what parsing {} yields, and none where parsing leaves the key out', () => {
    const rows = readmeDefaults(section);
    let checked = 0;
    for (const [key, cell] of rows) {
      if (key.includes('[]') || cell === '') continue; // list elements' keys; sections (their keys are rows)
      if (cell === '*none*') expect(at(defaults, key), key).toBeUndefined();
      else expect(cellValue(cell), key).toEqual(at(defaults, key));
      checked++;
    }
    expect(checked).toBeGreaterThan(20);
  });

  it('documents every value parsing {} yields', () => {
    const rows = readmeDefaults(section);
    for (const path of leafPaths(defaults)) {
      const documented = path.split('.').some((_, i, keys) => rows.has(keys.slice(0, i + 1).join('.')));
      expect(documented, path).toBe(true);
    }
  });
});

describe('config reference facts', () => {
  const deploy = readmeDefaults(DEPLOY_CONFIG_REFERENCE);
  const run = readmeDefaults(RUN_CONFIG_REFERENCE);

  it('gives the code defaults the README once got wrong or left out', () => {
    expect(parseDeployConfig({}).schedule.timezone).toBe('UTC');
    expect(deploy.get('schedule.timezone')).toBe('`"UTC"`');
    expect(parseConfig({}).holdout.winsor_quantile).toBe(0.99);
    expect(run.get('holdout.winsor_quantile')).toBe('`0.99`');
  });

  it('shows no default for keys without one', () => {
    expect(parseDeployConfig({}).alarmEmail).toBeUndefined();
    expect(deploy.get('alarmEmail')).toBe('*none*');
    expect(run.get('holdout.started_at')).toBe('*none*');
    expect(run.get('input.format')).toBe('*none*');
  });

  it("gives a list element's keys their own defaults", () => {
    expect(run.get('rfm.segments[].segment')).toBe('*required*');
    expect(run.get('rfm.segments[].m')).toBe('`[1,5]`');
  });

  it('labels the example deploy.json in the README as an example, and it is a valid one', () => {
    const before = readme.slice(0, readme.indexOf(DEPLOY_CONFIG_REFERENCE.begin));
    const start = before.lastIndexOf('```json\n');
    expect(before.slice(before.lastIndexOf('\n\n', start - 3), start)).toMatch(/An example \(not the defaults/);
    const example = before.slice(start + '```json\n'.length, before.indexOf('```', start + 3));
    expect(() => parseDeployConfig(JSON.parse(example))).not.toThrow();
  });
});

describe('configReference', () => {
  const schema = z.strictObject({
    size: z.int().min(1).max(9).default(3).describe('A size.'),
    label: z.string().optional().describe('A label.'),
    part: z
      .strictObject({ on: z.boolean().default(false).describe('Whether it is on.') })
      .prefault({})
      .describe('A part.'),
    rules: z
      .array(z.strictObject({ name: z.string().describe('A name.'), weight: z.number().default(1).describe('A weight.') }))
      .default([])
      .describe('Rules.'),
  });

  it('lists each key with its type, default and meaning', () => {
    expect(configReference(schema).split('\n')).toEqual([
      '| key | type | default | meaning |',
      '|---|---|---|---|',
      '| `size` | integer 1–9 | `3` | A size. |',
      '| `label` | string | *none* | A label. |',
      '| `part` | object |  | A part. |',
      '| `part.on` | boolean | `false` | Whether it is on. |',
      '| `rules` | list of objects | `[]` | Rules. |',
      '| `rules[].name` | string | *required* | A name. |',
      '| `rules[].weight` | number | `1` | A weight. |',
    ]);
  });

  it('refuses a key without a description', () => {
    expect(() => configReference(z.strictObject({ size: z.int().default(3) }))).toThrow(/size has no description/);
  });

  it('refuses a section whose own default disagrees with its keys', () => {
    const drifted = z.strictObject({
      part: z
        .strictObject({ hours: z.int().default(2).describe('Hours.') })
        .default({ hours: 3 })
        .describe('A part.'),
    });
    expect(() => configKeys(drifted)).toThrow(/part: its default differs/);
  });
});

describe('withMarkedSection', () => {
  const section = { begin: '<!-- x:begin -->', end: '<!-- x:end -->' };

  it('replaces only the marked body', () => {
    expect(withMarkedSection('a\n<!-- x:begin -->\nold\n<!-- x:end -->\nb', section, 'new')).toBe(
      'a\n<!-- x:begin -->\n\nnew\n\n<!-- x:end -->\nb',
    );
  });

  it('refuses a document without the markers, or with one twice', () => {
    expect(() => withMarkedSection('no markers', section, 'new')).toThrow(/markers/);
    expect(() => withMarkedSection(`${section.begin}${section.end}${section.end}`, section, 'new')).toThrow(/markers/);
  });
});
