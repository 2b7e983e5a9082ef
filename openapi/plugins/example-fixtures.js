// Redocly plugin: expands `x-fixture` references in example values (see fixtures.js). It is a
// preprocessor, not a decorator, so that `redocly lint` on the source checks the expanded
// examples against their schemas exactly as `redocly bundle` writes them.
import path from 'node:path';
import { FixtureError, expandFixtures, loadFixtures } from './fixtures.js';

// The example-bearing fields of each node type that can hold an example.
const EXAMPLE_FIELDS = {
  Example: ['value'],
  MediaType: ['example'],
  Parameter: ['example'],
  Header: ['example'],
  Schema: ['example', 'examples'],
};

function expandExamples(fixtures) {
  const expandFields = (fields) => (node, ctx) => {
    for (const field of fields) {
      if (node[field] === undefined) continue;
      try {
        node[field] = expandFixtures(node[field], fixtures);
      } catch (error) {
        if (!(error instanceof FixtureError)) throw error;
        throw new FixtureError(`${ctx.location.source.absoluteRef}#${ctx.location.pointer}/${field}: ${error.message}`);
      }
    }
  };
  return Object.fromEntries(
    Object.entries(EXAMPLE_FIELDS).map(([type, fields]) => [type, { enter: expandFields(fields) }]),
  );
}

export default function exampleFixtures({ contentDir }) {
  const fixtures = loadFixtures(path.join(contentDir, 'components', 'fixtures'));
  return {
    id: 'example-fixtures',
    preprocessors: { oas3: { expand: () => expandExamples(fixtures) } },
  };
}
