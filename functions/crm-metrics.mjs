#!/usr/bin/env node
// Package bin: runs the TypeScript CLI through tsx, so the checkout needs no build step.
import { tsImport } from 'tsx/esm/api';

const { main } = await tsImport('./cli.ts', import.meta.url);
process.exitCode = await main(process.argv.slice(2));
