/** `npm run docs`: rewrites the README's generated sections (table and configuration references). */
import { readFile, writeFile } from 'node:fs/promises';
import { regenerateReadme } from '../shared/docs/readme.js';

const path = new URL('../README.md', import.meta.url);
await writeFile(path, regenerateReadme(await readFile(path, 'utf8')));
