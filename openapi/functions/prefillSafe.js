/**
 * Swagger UI's "Try it out" fills an optional parameter with its example (or first of `examples`)
 * or its schema's `default`, and sends it unless the user clears it. Only the value the server
 * applies anyway when the parameter is absent, the schema's `default`, is safe for every caller:
 * any other pre-filled value (an application id, an idempotency key, an entity tag) changes or
 * breaks the call. Examples of such parameters belong in their description.
 */
const isDeepStrictEqual = (a, b) => JSON.stringify(a) === JSON.stringify(b);

function prefilledValues(parameter) {
  const values = [];
  const schema = parameter.schema ?? {};
  if ('example' in parameter) values.push(['example', parameter.example]);
  for (const [name, example] of Object.entries(parameter.examples ?? {})) values.push([`examples.${name}`, example?.value]);
  for (const [type, media] of Object.entries(parameter.content ?? {})) {
    if ('example' in media) values.push([`content.${type}.example`, media.example]);
    for (const [name, example] of Object.entries(media.examples ?? {})) values.push([`content.${type}.examples.${name}`, example?.value]);
  }
  if ('example' in schema) values.push(['schema.example', schema.example]);
  for (const [i, example] of (schema.examples ?? []).entries()) values.push([`schema.examples[${i}]`, example]);
  return values;
}

export default function prefillSafe(parameter) {
  if (!parameter || typeof parameter !== 'object' || parameter.required === true) return [];
  const schema = parameter.schema ?? {};
  return prefilledValues(parameter)
    .filter(([, value]) => !('default' in schema) || !isDeepStrictEqual(value, schema.default))
    .map(([where, value]) => ({
      message: `Optional parameter "${parameter.name}" pre-fills ${JSON.stringify(value)} (${where}) in Swagger UI, which is not its default: move the example into the description.`,
    }));
}
