#!/usr/bin/env node
import { reportError } from './errors.js';
import { buildProgram } from './program.js';

buildProgram()
  .parseAsync()
  .catch((err: unknown) => {
    process.exit(reportError(err, (line) => process.stderr.write(`${line}\n`)));
  });
