/**
 * A configuration reference generated from its zod schema, as the table reference is from the
 * catalog: one row per key (dotted path), with its type, default and meaning, so the README cannot
 * drift from the code. Each fact has one source: the meaning is the key's `.describe()` text, the
 * type is the schema's JSON Schema (as a user writes it), and the default is what the schema itself
 * makes of a missing key (it parses `undefined`), so it is the code's default by construction.
 */
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';

type JsonSchema = z.core.JSONSchema.BaseSchema;

/** A subschema; `true`/`false` (anything/nothing) do not occur in these configs' schemas. */
const sub = (schema: z.core.JSONSchema._JSONSchema): JsonSchema => (typeof schema === 'object' ? schema : {});

/** What a missing key becomes. */
export type KeyDefault =
  | { kind: 'value'; value: unknown }
  /** Optional without a default: the key's meaning says what its absence means. */
  | { kind: 'none' }
  /** Must be given (only within a list element or a value object). */
  | { kind: 'required' };

export interface ConfigKey {
  /** Dotted path; `[]` stands for every element of a list (`rfm.segments[].segment`). */
  key: string;
  /** Markdown. */
  type: string;
  default: KeyDefault;
  /** A section's keys are listed after it, with their own defaults. */
  section: boolean;
  description: string | undefined;
}

function keyDefault(schema: z.ZodType): KeyDefault {
  const parsed = schema.safeParse(undefined);
  if (!parsed.success) return { kind: 'required' };
  return parsed.data === undefined ? { kind: 'none' } : { kind: 'value', value: parsed.data };
}

/** The schema under its default, prefault and optional wrappers: what a given value is checked against. */
function unwrap(schema: z.ZodType): z.ZodType {
  let inner = schema;
  while (
    inner instanceof z.ZodDefault ||
    inner instanceof z.ZodPrefault ||
    inner instanceof z.ZodOptional ||
    inner instanceof z.ZodNullable
  ) {
    inner = inner.unwrap() as z.ZodType;
  }
  return inner;
}

/**
 * An object with optional keys is a section whose keys are listed one by one; one whose keys are all
 * required (`rfm.grade_min_score`) is a single value, given whole or not at all.
 */
function asSection(schema: z.ZodType): z.ZodObject | undefined {
  const inner = unwrap(schema);
  if (!(inner instanceof z.ZodObject)) return undefined;
  const fields = Object.values(inner.shape as Record<string, z.ZodType>);
  return fields.some((field) => keyDefault(field).kind !== 'required') ? inner : undefined;
}

/** Every key of `schema`, depth first in declaration order. */
export function configKeys(schema: z.ZodObject, prefix = ''): ConfigKey[] {
  return Object.entries(schema.shape as Record<string, z.ZodType>).flatMap(([name, field]) => {
    const key = prefix + name;
    const row: ConfigKey = {
      key,
      type: typeText(z.toJSONSchema(field, { io: 'input', unrepresentable: 'any' })),
      default: keyDefault(field),
      section: false,
      description: field.description,
    };
    const section = asSection(field);
    if (section) {
      // The table shows the section's default through its keys' defaults: a section default written
      // out by hand (`.default({ … })`) that disagrees with them would make the table wrong.
      const own = row.default.kind === 'value' ? row.default.value : undefined;
      if (own !== undefined && !isDeepStrictEqual(own, section.parse({}))) {
        throw new Error(`${key}: its default differs from its keys' defaults`);
      }
      return [{ ...row, section: true }, ...configKeys(section, `${key}.`)];
    }
    const inner = unwrap(field);
    const element = inner instanceof z.ZodArray ? asSection(inner.element as z.ZodType) : undefined;
    return element ? [row, ...configKeys(element, `${key}[].`)] : [row];
  });
}

const code = (text: string) => `\`${text}\``;
const literal = (value: unknown) => code(JSON.stringify(value));

function alternatives(items: string[]): string {
  return items.length < 2 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} or ${items.at(-1)}`;
}

function plural(text: string): string {
  return /^[a-z -]+$/.test(text) ? `${text}s` : text;
}

/** ` 1–120`, ` ≥ 0.01`, ` > 0, < 1`: the bounds a number is checked against (zod's int range is no bound). */
function bounds(schema: JsonSchema): string {
  const bound = (value: number | boolean | undefined) =>
    typeof value === 'number' && Math.abs(value) < Number.MAX_SAFE_INTEGER ? value : undefined;
  const [min, max] = [bound(schema.minimum), bound(schema.maximum)];
  if (min !== undefined && max !== undefined) return ` ${min}–${max}`;
  const [above, below] = [bound(schema.exclusiveMinimum), bound(schema.exclusiveMaximum)];
  const parts = [
    min !== undefined ? `≥ ${min}` : undefined,
    above !== undefined ? `> ${above}` : undefined,
    max !== undefined ? `≤ ${max}` : undefined,
    below !== undefined ? `< ${below}` : undefined,
  ].filter((part) => part !== undefined);
  return parts.length > 0 ? ` ${parts.join(', ')}` : '';
}

function stringText(schema: JsonSchema): string {
  if (schema.format === 'date') return `date ${code('YYYY-MM-DD')}`;
  if (schema.format === 'email') return 'email address';
  if (schema.minLength === 1 && schema.maxLength === 1) return 'one character';
  return schema.minLength ? 'non-empty string' : 'string';
}

/** The type of a value as a reader would say it, from its JSON Schema. */
function typeText(schema: JsonSchema): string {
  if (schema.anyOf) return alternatives(schema.anyOf.map((option) => typeText(sub(option))));
  if (schema.const !== undefined) return literal(schema.const);
  if (schema.enum) return alternatives(schema.enum.map(literal));
  switch (schema.type) {
    case 'integer':
    case 'number':
      return schema.type + bounds(schema);
    case 'string':
      return stringText(schema);
    case 'boolean':
      return 'boolean';
    case 'array': {
      if (schema.prefixItems) return `[${schema.prefixItems.map((item) => typeText(sub(item))).join(', ')}]`;
      const items = schema.items && !Array.isArray(schema.items) ? typeText(sub(schema.items)) : 'any';
      return `${schema.minItems ? 'non-empty ' : ''}list of ${plural(items)}`;
    }
    case 'object':
      return objectText(schema);
  }
  return 'any';
}

function objectText(schema: JsonSchema): string {
  const properties = Object.entries(schema.properties ?? {}).map(([name, property]) => [name, sub(property)] as const);
  if (properties.length > 0) {
    // A section (a key may be left out) is listed key by key after its row; a value object is one
    // value, so its row names its keys.
    const required = new Set(schema.required ?? []);
    if (properties.some(([name]) => !required.has(name))) return 'object';
    const types = properties.map(([, property]) => typeText(property));
    const names = properties.map(([name]) => code(name)).join(', ');
    return types.every((type) => type === types[0])
      ? `object of ${names} (each ${types[0]})`
      : `object of ${properties.map(([name], i) => `${code(name)} (${types[i]})`).join(', ')}`;
  }
  const values = sub(schema.additionalProperties ?? {});
  if (Object.keys(values).length > 0) {
    const names = sub(schema.propertyNames ?? {}).enum;
    return `object from ${names ? alternatives(names.map(literal)) : 'any key'} to ${typeText(values)}`;
  }
  return 'object';
}

/** Defaults longer than this fold away behind their size, so one key does not swamp the table. */
const INLINE_DEFAULT_CHARS = 80;

function defaultText(row: ConfigKey): string {
  if (row.section) return '';
  if (row.default.kind === 'none') return '*none*';
  if (row.default.kind === 'required') return '*required*';
  const json = JSON.stringify(row.default.value);
  if (json.length <= INLINE_DEFAULT_CHARS) return code(json);
  const size = Array.isArray(row.default.value) ? `${row.default.value.length} items` : 'value';
  const html = json.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\|/g, '&#124;');
  return `<details><summary>${size}</summary><code>${html}</code></details>`;
}

/** A table cell: one line, no unescaped pipe. */
function cell(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').replace(/\|/g, '\\|');
}

/** The Markdown table of every key of `schema`; a key without a description is an error. */
export function configReference(schema: z.ZodObject): string {
  const rows = configKeys(schema).map((row) => {
    if (!row.description) throw new Error(`${row.key} has no description: add .describe() to the schema`);
    return `| ${code(row.key)} | ${cell(row.type)} | ${cell(defaultText(row))} | ${cell(row.description)} |`;
  });
  return ['| key | type | default | meaning |', '|---|---|---|---|', ...rows].join('\n');
}
