#!/usr/bin/env node
import { reportError } from './cli/errors.js';
import { buildProgram } from './cli/program.js';

buildProgram()
  .parseAsync()
  .catch((err: unknown) => {
    process.exit(reportError(err, (line) => process.stderr.write(`${line}\n`)));
  });
