// Writes src/generated/resources.gen.ts from the bundled spec: the SDK's resources, one method per
// operation. Runs after openapi-ts, whose functions (sdk.gen.ts) and types (types.gen.ts) it wraps.
//
// Naming, by convention:
//   resource = the operation's first tag in camelCase ("API keys" -> apiKeys)
//   method   = the operationId's verb, once its resource noun is taken off:
//              listAgents -> agents.list, pauseAgent -> agents.pause,
//              listAgentVersions -> agents.versions.list, getAgentVersion -> agents.versions.get
// and where the convention needs help, next to the operationId in the path file:
//   x-sdk-resource: webhookEndpoints     x-sdk-method: rotateSecret (or versions.list)
//   x-sdk-skip: <why>                    not generated: hand-written in client.ts, or raw only
//
// Signatures: path parameters in path order, then the body, then the query, then the options,
// whose type follows the request headers the operation takes (HEADER_OPTIONS below).
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const SPEC = require.resolve('@switchboard/openapi/dist/openapi.json');
const TYPES = new URL('../src/generated/types.gen.ts', import.meta.url);
const OUT = new URL('../src/generated/resources.gen.ts', import.meta.url);

const MAX_LINE = 160;
const DOC_WIDTH = 100;
const METHODS = ['get', 'put', 'post', 'patch', 'delete'];
const EXTENSIONS = new Set(['x-sdk-resource', 'x-sdk-method', 'x-sdk-skip']);

/** Per-call options for the request headers an operation takes: the header each one sends. */
const HEADER_OPTIONS = {
  'idempotency-key': 'idempotent',
  'if-match': 'ifMatch',
  'switchboard-user': 'endUser',
};
/** The options type of each set of those headers (sorted); another set needs a type in call-options.ts first. */
const OPTIONS_TYPES = {
  '': 'RequestOptions',
  'idempotency-key': 'WriteOptions',
  'if-match': 'ConditionalOptions',
  'idempotency-key,switchboard-user': 'RunCreateOptions',
};
/** Headers not offered per call: the client sends X-App-Id itself, and always reads documents whole. */
const CLIENT_HEADERS = new Set(['x-app-id', 'if-none-match']);

/** Members of the client class a resource must not shadow. */
const CLIENT_MEMBERS = new Set(['client', 'baseUrl', 'rawRequest', 'operations', 'constructor']);

const spec = JSON.parse(readFileSync(SPEC, 'utf8'));
const exportedTypes = new Set([...readFileSync(TYPES, 'utf8').matchAll(/^export type (\w+)\b/gm)].map((m) => m[1]));

const fail = (operationId, message) => {
  throw new Error(`${operationId}: ${message} (see sdk/scripts/generate-resources.mjs)`);
};
const resolve = (node) =>
  node?.$ref
    ? node.$ref
        .slice(2)
        .split('/')
        .reduce((o, key) => o[key], spec)
    : node;
const refName = (node) => node?.$ref?.split('/').pop();

const words = (name) => name.match(/[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+/g) ?? [];
const capitalize = (w) => w[0].toUpperCase() + w.slice(1);
const camel = (ws) => ws.map((w, i) => (i ? capitalize(w.toLowerCase()) : w.toLowerCase())).join('');
const pascal = (name) => capitalize(name);
const singular = (w) => (/ies$/i.test(w) ? w.slice(0, -3) + 'y' : /s$/i.test(w) ? w.slice(0, -1) : w);
const plural = (w) => (/[^aeiou]y$/i.test(w) ? w.slice(0, -1) + 'ies' : /s$/i.test(w) ? w : w + 's');
const isIdentifier = (name) => /^[A-Za-z_$][\w$]*$/.test(name);

/** `agents.list` from listAgents: the verb, under the sub-resource the rest of the noun names. */
function conventionalMethod(operationId, resource) {
  const [verb, ...noun] = words(operationId);
  const own = words(resource).map((w) => w.toLowerCase());
  const forms = [own, [...own.slice(0, -1), singular(own.at(-1))]];
  const named = forms.find((form) => form.every((w, i) => noun[i]?.toLowerCase() === w));
  if (!named) fail(operationId, `the operationId does not name its resource "${resource}": add x-sdk-method (or x-sdk-resource)`);
  const rest = noun.slice(named.length);
  return rest.length ? `${camel([...rest.slice(0, -1), plural(rest.at(-1))])}.${verb}` : verb;
}

/** The TypeScript type of a path parameter: its primitive type, or the generated one. */
function pathParamType(operationId, param) {
  const schema = resolve(param.schema) ?? {};
  const primitive = { string: 'string', integer: 'number', number: 'number', boolean: 'boolean' }[schema.type];
  return primitive && !schema.enum ? primitive : `T.${pascal(operationId)}Data['path']['${param.name}']`;
}

/** A named schema's generated type when openapi-ts exported it under that name, else `fallback`. */
const namedType = (schema, fallback) => (exportedTypes.has(refName(schema)) ? `T.${refName(schema)}` : fallback);
/** A request body's type: the schema's `...Writable` variant when it has one (its write-only members, e.g. a credential, are only there). */
const bodyType = (schema, fallback) => (exportedTypes.has(`${refName(schema)}Writable`) ? `T.${refName(schema)}Writable` : namedType(schema, fallback));

const jsonSchema = (content) => (content?.['application/json'] ?? Object.values(content ?? {})[0])?.schema;

/** A paginated list's page and item types: a named page schema whose `data` items are a named schema. */
function pageTypes(operationId, op) {
  const schema = jsonSchema(resolve(op.responses?.['200'])?.content);
  const item = resolve(schema)?.properties?.data?.items;
  if (!exportedTypes.has(refName(schema)) || !exportedTypes.has(refName(item)))
    fail(operationId, 'a list with `page` answers 200 with a named page schema of named `data` items');
  return { type: `T.${refName(schema)}`, item: `T.${refName(item)}` };
}

function describeOperation(path, pathItem, op) {
  const { operationId } = op;
  for (const key of Object.keys(op)) if (key.startsWith('x-sdk-') && !EXTENSIONS.has(key)) fail(operationId, `unknown extension ${key}`);
  const skip = op['x-sdk-skip'];
  if (skip !== undefined && (typeof skip !== 'string' || !skip.trim())) fail(operationId, 'x-sdk-skip takes the reason the operation is not generated');
  if (skip) return { operationId, skip };

  const tag = op.tags?.[0];
  if (!tag && !op['x-sdk-resource']) fail(operationId, 'an operation needs a tag (or x-sdk-resource)');
  const resource = op['x-sdk-resource'] ?? camel(tag.split(/[^A-Za-z0-9]+/).filter(Boolean));
  if (!/^[a-z][A-Za-z0-9]*$/.test(resource) || CLIENT_MEMBERS.has(resource)) fail(operationId, `"${resource}" cannot name a resource of the client`);
  const methodPath = op['x-sdk-method'] ?? conventionalMethod(operationId, resource);
  if (!/^[a-z][A-Za-z0-9]*(\.[a-z][A-Za-z0-9]*)*$/.test(methodPath)) fail(operationId, `"${methodPath}" is not a method name`);

  const params = [...(pathItem.parameters ?? []), ...(op.parameters ?? [])].map(resolve);
  const located = (where) => params.filter((p) => p.in === where);
  const pathParams = [...path.matchAll(/\{([^}]+)\}/g)].map(([, name]) => {
    const param = located('path').find((p) => p.name === name);
    if (!param) fail(operationId, `the path parameter {${name}} is not declared`);
    return { name, arg: isIdentifier(name) ? name : camel(words(name)), type: pathParamType(operationId, param) };
  });
  const query = located('query');
  const headers = located('header')
    .map((p) => p.name.toLowerCase())
    .filter((name) => !CLIENT_HEADERS.has(name));
  for (const name of headers) if (!HEADER_OPTIONS[name]) fail(operationId, `the header ${name} has no per-call option: add one to HEADER_OPTIONS`);
  const optionsType = OPTIONS_TYPES[[...headers].sort().join(',')];
  if (!optionsType) fail(operationId, `no options type for the headers ${headers.join(', ')}: add one to OPTIONS_TYPES`);

  const body = op.requestBody && resolve(op.requestBody);
  const page = query.some((p) => p.name === 'page') ? pageTypes(operationId, op) : undefined;
  // A file of text lines (NDJSON) is read as the text it is: the client would otherwise make a Blob of any application/* type.
  const answers = Object.entries(op.responses ?? {})
    .filter(([status]) => status.startsWith('2'))
    .flatMap(([, response]) => Object.keys(resolve(response).content ?? {}));
  const text = answers.length > 0 && answers.every((type) => type.startsWith('text/') || type === 'application/x-ndjson');

  return {
    operationId,
    resource,
    tag,
    methodPath: methodPath.split('.'),
    doc: [op.summary, op.description].filter(Boolean).join('\n\n'),
    pathParams,
    body: body && { required: Boolean(body.required), type: bodyType(jsonSchema(body.content), `T.${pascal(operationId)}Data['body']`) },
    query: query.length > 0 && { required: query.some((p) => p.required) },
    headers: headers.map((name) => HEADER_OPTIONS[name]),
    optionsType,
    page,
    text,
  };
}

/** Text wrapped at `width` columns, paragraphs kept. */
const wrap = (text, width) =>
  text.split(/\n\s*\n/).flatMap((paragraph, i) => {
    const lines = [];
    let line = '';
    for (const word of paragraph.split(/\s+/).filter(Boolean)) {
      if (line && line.length + 1 + word.length > width) {
        lines.push(line);
        line = '';
      }
      line = line ? `${line} ${word}` : word;
    }
    return [...(i ? [''] : []), ...lines, line];
  });

const jsDoc = (text, indent) => {
  const lines = wrap(text.replaceAll('*/', '*\\/'), DOC_WIDTH - indent.length - 3);
  return lines.length === 1
    ? `${indent}/** ${lines[0]} */\n`
    : `${indent}/**\n${lines.map((l) => `${indent} *${l ? ` ${l}` : ''}`).join('\n')}\n${indent} */\n`;
};

function renderMethod(op, indent) {
  const signature = [
    ...op.pathParams.map((p) => `${p.arg}: ${p.type}`),
    ...(op.body ? [`body${op.body.required ? '' : '?'}: ${op.body.type}`] : []),
    ...(op.query ? [`query${op.query.required ? '' : '?'}: T.${pascal(op.operationId)}Data['query']`] : []),
    `o?: ${op.optionsType}`,
  ].join(', ');
  const headers = op.headers.length === 1 ? `${op.headers[0]}(o)` : `{ ${op.headers.map((h) => `...${h}(o)`).join(', ')} }`;
  const options = [
    ...(op.pathParams.length ? [`path: { ${op.pathParams.map((p) => (p.arg === p.name ? p.name : `'${p.name}': ${p.arg}`)).join(', ')} }`] : []),
    ...(op.body ? ['body'] : []),
    ...(op.query ? [op.page ? 'query: { ...query, page }' : 'query'] : []),
    ...(op.headers.length ? [`headers: ${headers}`] : []),
    ...(op.text ? [`parseAs: 'text' as const`] : []),
  ];
  const args = options.length ? `{ ...c, ${options.join(', ')} }` : 'c';
  const run = op.page
    ? `list<${op.page.item}, ${op.page.type}>((page, c) => api.${op.operationId}(${args}), query, o)`
    : `call((c) => api.${op.operationId}(${args}), o)`;
  const head = `${indent}${op.methodPath.at(-1)}: (${signature}) =>`;
  return `${jsDoc(op.doc, indent)}${head.length + run.length + 2 <= MAX_LINE ? `${head} ${run},` : `${head}\n${indent}  ${run},`}\n`;
}

/** A resource's methods, sub-resources (agents.versions) as nested objects. */
function renderMembers(node, indent) {
  return [...node.entries()]
    .map(([name, member]) =>
      member instanceof Map ? `${indent}${name}: {\n${renderMembers(member, indent + '  ')}${indent}},\n` : renderMethod(member, indent),
    )
    .join('');
}

const operations = Object.entries(spec.paths).flatMap(([path, pathItem]) =>
  METHODS.filter((m) => pathItem[m]).map((m) => describeOperation(path, pathItem, pathItem[m])),
);

const resources = new Map();
for (const op of operations.filter((o) => !o.skip)) {
  if (!resources.has(op.resource)) resources.set(op.resource, { tag: op.tag, members: new Map() });
  let node = resources.get(op.resource).members;
  for (const name of op.methodPath.slice(0, -1)) {
    if (!node.has(name)) node.set(name, new Map());
    node = node.get(name);
    if (!(node instanceof Map)) fail(op.operationId, `${op.resource}.${op.methodPath.join('.')} is under a method`);
  }
  const name = op.methodPath.at(-1);
  if (node.has(name)) fail(op.operationId, `${op.resource}.${op.methodPath.join('.')} is already taken`);
  node.set(name, op);
}

const used = new Set(operations.filter((o) => !o.skip).flatMap((o) => [o.optionsType, ...o.headers]));
const optionImports = [...new Set([...Object.values(HEADER_OPTIONS), ...Object.values(OPTIONS_TYPES)])].filter((name) => used.has(name));
const resourceDoc = (name, { tag }) => spec.tags?.find((t) => t.name === tag)?.description ?? `The ${name} resource.`;

const methodsOf = (node) => [...node.values()].flatMap((member) => (member instanceof Map ? methodsOf(member) : [member]));
/** The runner helpers a resource's methods use: `call` for one result, `list` for pages. */
const helpers = (node) => {
  const methods = methodsOf(node);
  return [...(methods.some((m) => !m.page) ? ['call'] : []), ...(methods.some((m) => m.page) ? ['list'] : [])].join(', ');
};

const source = `// Generated by sdk/scripts/generate-resources.mjs from the bundled spec (npm run generate): do not edit.
// Not generated (x-sdk-skip):
${operations
  .filter((o) => o.skip)
  .map((o) => `//   ${o.operationId}: ${o.skip}`)
  .join('\n')}

import { ${optionImports.map((name) => (/^[A-Z]/.test(name) ? `type ${name}` : name)).join(', ')} } from '../call-options.js';
import type { OperationRunner } from '../operation.js';
import * as api from './sdk.gen.js';
import type * as T from './types.gen.js';

/** The API version this SDK was generated for: its requests send it as Switchboard-Version unless told another. */
export const API_VERSION = '${spec.info.version}';
${[...resources.entries()]
  .map(([name, resource]) => {
    const type = `${pascal(name)}Resource`;
    return `
const ${name}Methods = ({ ${helpers(resource.members)} }: OperationRunner) => ({
${renderMembers(resource.members, '  ')}});
${jsDoc(resourceDoc(name, resource), '')}export interface ${type} extends ReturnType<typeof ${name}Methods> {}
export const ${name}: (operations: OperationRunner) => ${type} = ${name}Methods;
`;
  })
  .join('')}
/**
 * Every resource of the API, one method per operation. The client supplies how operations run and
 * adds the methods that are more than one operation (streams, signed trigger calls, claims).
 */
export abstract class Resources {
  /** How operations run: the client's transport, retries, errors and pagination. */
  protected abstract readonly operations: OperationRunner;
  // Looked up at each call: the client sets \`operations\` after these fields are made.
  readonly #operations: OperationRunner = {
    call: (operation, o) => this.operations.call(operation, o),
    list: (fetchPage, query, o) => this.operations.list(fetchPage, query, o),
  };
${[...resources.entries()].map(([name, resource]) => `${jsDoc(resourceDoc(name, resource), '  ')}  readonly ${name} = ${name}(this.#operations);\n`).join('')}}
`;

writeFileSync(OUT, source);
