#!/usr/bin/env node
// Committed rather than built, so that npm links the command at install time, before any build.
import { existsSync } from 'node:fs';

const built = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(built)) {
  process.stderr.write('switchboard: the command line is not built yet: run "npm run build" (or "npm start") in the repository first.\n');
  process.exit(1);
}
await import(built.href);
