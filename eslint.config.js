// ESLint for every workspace: typescript-eslint's strict type-checked rules, no import cycles, and
// imports in server/src that only point down the layers of docs/architecture.md.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';
import { importX } from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import globals from 'globals';

const root = import.meta.dirname;
const server = (p) => path.join(root, 'server/src', p);

/**
 * server/src from the top down; a layer may import the ones below it, never one above.
 * Layers on one row are peers. The composition root (main.ts, server.ts, index.ts, bootstrap.ts, models-from-environment.ts)
 * and the generated spec types (generated/) are outside the rows: the first may import anything,
 * the second anyone may import.
 */
// config is a leaf: the address policy's type and the master key's format live in config/, and security imports them.
const layers = [['http'], ['resources'], ['realtime'], ['auth', 'security', 'spec'], ['db'], ['problems'], ['util', 'config', 'observability']];

const layerZones = layers.flatMap((row, i) => {
  const above = layers.slice(0, i).flat();
  if (above.length === 0) return [];
  return row.map((folder) => ({
    target: server(folder),
    from: above.map(server),
    message: `server/src/${folder} is below ${above.join(', ')}: an import must point down a layer (docs/architecture.md).`,
  }));
});

/**
 * A resource uses another resource's store and state machine, never its handlers. A few domain modules are shared on
 * purpose: the event outbox every change records to, the run event log, the run lease lifecycle runners drive, whether a
 * runner can take a new run, the rules of runs on threads, the audit trail a handler describes its change to, who
 * may decide an approval (the inbox stream filters by it), the tasks runs check out (a run's end releases them), the
 * roll-up of tasks under goals and projects, who work can be given to, how budgets admit new runs and estimate calls, how a run waits
 * on a person, the envelope encryption of secrets, and how a run waits for a connection.
 */
const sharedDomainModules = [
  'webhooks/outbox',
  'runs/events',
  'runs/lifecycle',
  'runs/dispatch',
  'runs/leases',
  'threads/runs',
  'usage/pricing',
  'usage/attribution',
  'usage/reports',
  'budgets/enforcement',
  'budgets/admission',
  'gateway/estimate',
  'approvals/waits',
  'costs/report',
  'audit/trail',
  'approvals/deciders',
  'tasks/checkouts',
  'tasks/progress',
  'tasks/assignees',
  // The secrets a claim hands the runner that takes the lease.
  'secrets/delivery',
  // A knowledge base embeds its chunks and queries with the gateway's own calls, retries and fallbacks.
  'gateway/attempt',
  'gateway/openai',
  'gateway/retries',
  // How a run's input is resolved (schema defaults, an installation's defaults and locks), wherever a run starts.
  'agents/inputs',
  // An agent's validation rules, which installed agents are held to as well.
  'agents/validation',
  // Installed agents follow their source's channels when it changes.
  'installations/sync',
  // The JSON Schemas users send (approvals' payloads, agents' inputs), compiled safely.
  'approvals/user-schemas',
  // The data-key encryption of secrets, which connections' credentials and OAuth client secrets use too.
  'secrets/envelope',
  // How a run that needs a connection waits for it (the admission of new runs parks it).
  'connections/waits',
];
const resourceZones = readdirSync(server('resources'), { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map(({ name }) => ({
    target: server(`resources/${name}`),
    from: server('resources/*/**'),
    except: [
      server(`resources/${name}/**`),
      server('resources/*/store.ts'),
      server('resources/*/state-machine.ts'),
      server(`resources/{${sharedDomainModules.join(',')}}.ts`),
    ],
    message: `resources/${name} may import another resource's store.ts, state-machine.ts or ${sharedDomainModules.join('.ts, ')}.ts, never its handlers.`,
  }));

/** The packages depend one way: test -> cli -> sdk, test -> server -> sdk. */
const packageZones = [
  { target: 'sdk', from: ['server', 'cli', 'test'], message: 'The SDK stands alone: it imports no other workspace.' },
  { target: 'cli', from: ['server', 'test'], message: 'The CLI is a client of the API: it imports the SDK only.' },
  { target: 'server', from: ['cli', 'test'], message: 'The server imports no client and no test code.' },
];

const noRestrictedPaths = ['error', { basePath: root, zones: [...packageZones, ...layerZones, ...resourceZones] }];

export default defineConfig(
  { ignores: ['**/dist/', '**/generated/', '**/node_modules/', 'test/bench/results/'] },
  js.configs.recommended,
  tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['sdk/openapi-ts.config.ts'], defaultProject: 'tsconfig.base.json' }, tsconfigRootDir: root },
    },
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts', '.js', '.mjs'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [
        createTypeScriptImportResolver({
          noWarnOnMultipleProjects: true,
          project: ['server', 'sdk', 'cli', 'test'].map((p) => path.join(root, p, 'tsconfig.json')),
        }),
      ],
    },
    rules: {
      'import-x/no-restricted-paths': noRestrictedPaths,
      // A number prints as its decimal form: `${count} runs` is fine; undefined, null and objects still fail.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      // `(x) => log(x)` and `return print(x)` in a void function are shorthand; a void value used as a value still fails.
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true, ignoreVoidReturningFunctions: true }],
      // noUncheckedIndexedAccess types every index as possibly missing; `!` marks the accesses the code has checked.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // Handlers and interfaces return promises: `async` is how a synchronous body meets that type (no-floating-promises guards the awaits).
      '@typescript-eslint/require-await': 'off',
      // The objects deleted from are JSON documents (a merge patch, the CLI's profiles), where a Map does not fit.
      '@typescript-eslint/no-dynamic-delete': 'off',
      // Destructuring a field away (`const { secret: _secret, ...shown } = row`) is how a representation drops it.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
    },
  },
  {
    // Cycles matter in the products' code; checking the tests' helpers too would add a sixth to the test workspace's lint time.
    files: ['*/src/**'],
    rules: { 'import-x/no-cycle': 'error' },
  },
  {
    files: ['test/**'],
    rules: {
      // Tests read raw JSON responses on purpose (the HTTP helpers' bodies and JSON.parse are `any`, as are vitest's
      // asymmetric matchers such as expect.any): the assertions check the values the types would.
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      // A fixture assigned in beforeAll is typed as set, yet is undefined in afterAll when beforeAll failed: `server?.stop()` is deliberate.
      '@typescript-eslint/no-unnecessary-condition': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: globals.node },
  },
);
