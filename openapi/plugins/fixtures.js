// Example fixtures: one file per resource in components/fixtures/, each a map of fixture names
// (the resource itself, then its states) to values. An example value refers to one with
// `x-fixture: <name>`; the keys beside it replace the fixture's keys whole (a shallow merge: a
// free-form object such as `output` or `inputMapping` is replaced, never mixed with the fixture's,
// and `null` sets null). A nested resource derives from its own fixture with its own `x-fixture`.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseYaml } from '@redocly/openapi-core';

export const FIXTURE_KEY = 'x-fixture';

export class FixtureError extends Error {}

/** Reads every fixture file of a folder; a fixture's name is its file's name or starts with it and "-". */
export function loadFixtures(dir) {
  const fixtures = new Map();
  for (const file of readdirSync(dir)
    .filter((name) => name.endsWith('.yaml'))
    .sort()) {
    const resource = path.basename(file, '.yaml');
    const entries = parseYaml(readFileSync(path.join(dir, file), 'utf8'));
    for (const [name, value] of Object.entries(entries ?? {})) {
      if (name !== resource && !name.startsWith(`${resource}-`)) {
        throw new FixtureError(`fixture "${name}" in ${file}: its name must be "${resource}" or start with "${resource}-"`);
      }
      if (fixtures.has(name)) throw new FixtureError(`fixture "${name}" is defined twice`);
      fixtures.set(name, value);
    }
  }
  return fixtures;
}

/** Returns `value` with every `x-fixture` object, at any depth, replaced by the fixture merged with its keys. */
export function expandFixtures(value, fixtures, via = []) {
  if (Array.isArray(value)) return value.map((item) => expandFixtures(item, fixtures, via));
  if (value === null || typeof value !== 'object') return value;
  const expanded = {};
  if (FIXTURE_KEY in value) {
    const name = value[FIXTURE_KEY];
    if (!fixtures.has(name)) {
      const from = via.length ? ` in fixture "${via.at(-1)}"` : '';
      throw new FixtureError(`unknown fixture "${name}"${from}; the fixtures are: ${[...fixtures.keys()].join(', ')}`);
    }
    if (via.includes(name)) throw new FixtureError(`fixture cycle: ${[...via, name].join(' -> ')}`);
    Object.assign(expanded, expandFixtures(fixtures.get(name), fixtures, [...via, name]));
  }
  for (const [key, item] of Object.entries(value)) {
    if (key !== FIXTURE_KEY) expanded[key] = expandFixtures(item, fixtures, via);
  }
  return expanded;
}
