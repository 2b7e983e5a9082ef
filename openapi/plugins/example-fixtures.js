// Redocly plugin: expands `x-fixture` references in example values (see fixtures.js) and writes
// `x-server-sent-events` examples out as event-stream text (see server-sent-events.js). It is a
// preprocessor, not a decorator, so that `redocly lint` on the source checks the expanded
// examples against their schemas exactly as `redocly bundle` writes them.
import path from 'node:path';
import { FixtureError, expandFixtures, loadFixtures } from './fixtures.js';
import { SERVER_SENT_EVENTS_KEY, isServerSentEvents, serverSentEventsText } from './server-sent-events.js';

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
        const value = expandFixtures(node[field], fixtures);
        node[field] = isServerSentEvents(value) ? serverSentEventsText(value[SERVER_SENT_EVENTS_KEY]) : value;
      } catch (error) {
        if (!(error instanceof FixtureError)) throw error;
        throw new FixtureError(`${ctx.location.child([field]).absolutePointer}: ${error.message}`);
      }
    }
  };
  return Object.fromEntries(Object.entries(EXAMPLE_FIELDS).map(([type, fields]) => [type, { enter: expandFields(fields) }]));
}

export default function exampleFixtures({ contentDir }) {
  const fixtures = loadFixtures(path.join(contentDir, 'components', 'fixtures'));
  return {
    id: 'example-fixtures',
    preprocessors: { oas3: { expand: () => expandExamples(fixtures) } },
  };
}
