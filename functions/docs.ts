/** `npm run docs`: rewrites the README's table reference from the catalog. */
import { readFile, writeFile } from 'node:fs/promises';
import { withTableReference } from '../shared/docs/table-reference.js';

const path = new URL('../README.md', import.meta.url);
await writeFile(path, withTableReference(await readFile(path, 'utf8')));
