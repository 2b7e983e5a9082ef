// What the scenarios create: a realistic agent (the spec's own example) and a runner for it.

/** The agent of the spec's example (openapi/components/examples/Agent.yaml), as created through the API. */
export const AGENT_BODY = {
  name: 'Support triage',
  description: 'Classifies incoming support tickets and drafts a first reply.',
  instructions: 'You are a support triage assistant. Classify each ticket as billing, bug or question, then draft a short, polite first reply.',
  model: 'gpt-4.1',
  tools: [
    {
      name: 'lookup_customer',
      description: 'Look up a customer by email address.',
      inputSchema: { type: 'object', properties: { email: { type: 'string', format: 'email', maxLength: 320 } }, required: ['email'] },
      kind: 'http',
      url: 'https://crm.example.com/tools/lookup_customer',
    },
  ],
  config: { temperature: 0.2 },
  runtime: 'runner',
  labels: ['support', 'region:eu'],
  limits: { timeoutSeconds: 600, maxAttempts: 3, maxConcurrentRuns: 10 },
};

/** A runnable agent for the run scenarios: no labels (any runner may claim it), no concurrency limit. */
export const RUN_AGENT_BODY = { ...AGENT_BODY, labels: [], limits: { timeoutSeconds: 3600, maxAttempts: 1, maxConcurrentRuns: null } };

/** Registers a runner; returns { id, token }. */
export async function registerRunner(api, name = 'bench-runner') {
  const runner = await api.create('/api/v1/runners', { name, labels: [] });
  return { id: runner.id, token: runner.token };
}
