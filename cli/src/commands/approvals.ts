import type { Command } from 'commander';
import type { Approval, ApprovalDecisionCreate, ApprovalKind, ApprovalStatus } from '@switchboard/sdk';
import type { Context } from '../context.js';
import { oneOf, readArgument, readJsonObject } from '../input.js';
import { examples, listOptions, pageQuery, printList, printObject, type ListOptions } from '../lists.js';
import { shortTime, type Column } from '../output.js';

const COLUMNS: Column<Approval>[] = [
  { header: 'ID', value: (a) => a.id },
  { header: 'KIND', value: (a) => a.kind },
  { header: 'TITLE', value: (a) => a.title },
  { header: 'STATUS', value: (a) => a.status, status: true },
  { header: 'RUN', value: (a) => a.runId },
  { header: 'EXPIRES', value: (a) => shortTime(a.expiresAt) },
];

type Filters = ListOptions & { kind?: ApprovalKind; agent?: string; thread?: string };
const filtersOf = (o: Filters) => ({
  ...pageQuery(o),
  ...(o.kind ? { kind: o.kind } : {}),
  ...(o.agent ? { agentId: o.agent } : {}),
  ...(o.thread ? { threadId: o.thread } : {}),
});
const withFilters = (command: Command) =>
  listOptions(
    command
      .option('--kind <kind>', 'approval, input or budget (a run a budget had no room for)', oneOf('approval', 'input', 'budget'))
      .option('--agent <agentId>', "only this agent's runs")
      .option('--thread <threadId>', 'only runs on this thread'),
  );

/** The answer of `approvals answer`: JSON when it parses (an object, a number, a string in quotes), else the text itself. */
function answerOf(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

export function registerApprovals(program: Command, ctx: Context) {
  examples(
    withFilters(
      program.command('inbox').description('List what waits on you: the pending approvals and questions you may decide, the soonest to expire first'),
    ),
    ['switchboard inbox', 'switchboard inbox --kind input --json'],
  ).action(async (o: Filters) => {
    await printList(ctx, ctx.client().inbox.list(filtersOf(o)), COLUMNS, o, 'pending approvals');
  });

  const approvals = examples(program.command('approvals').description('Read and decide what runs ask people'), [
    'switchboard approvals get appr_01jd4...',
    'switchboard approvals approve appr_01jd4... --edit \'{"amountMinor": 2500}\'',
    'switchboard approvals reject appr_01jd4... --note "Older than 90 days"',
    'switchboard approvals answer appr_01jd4... business',
  ]);

  examples(withFilters(approvals.command('list').description('List approvals, newest first').option('--status <status>', 'pending, approved, rejected, ...')), [
    'switchboard approvals list --status pending',
    'switchboard approvals list --agent agent_01jd4... --json',
  ]).action(async (o: Filters & { status?: ApprovalStatus }) => {
    await printList(ctx, ctx.client().approvals.list({ ...filtersOf(o), ...(o.status ? { status: o.status } : {}) }), COLUMNS, o, 'approvals');
  });

  examples(approvals.command('get').description('Show an approval: what it asks, its payload and its decision').argument('<approvalId>'), [
    'switchboard approvals get appr_01jd4...',
  ]).action(async (id: string) => printObject(ctx, await ctx.client().approvals.get(id)));

  const decide = async (id: string, body: ApprovalDecisionCreate, idempotencyKey?: string) =>
    printObject(ctx, await ctx.client().approvals.decide(id, body, { idempotencyKey }));
  const note = (o: { note?: string }) => (o.note === undefined ? {} : { note: o.note });

  examples(
    approvals
      .command('approve')
      .description('Approve: the run resumes and does what it asked (or the edited payload)')
      .argument('<approvalId>')
      .option('--edit <json>', 'the payload to do instead: a JSON object, @file, or - for stdin (checked against the approval payloadSchema)')
      .option('--note <text>', 'why, for the run and the record')
      .option('--idempotency-key <key>', 'makes retrying this exact request safe'),
    ['switchboard approvals approve appr_01jd4...', "switchboard approvals approve appr_01jd4... --edit @refund.json --note 'Half, per policy'"],
  ).action(async (id: string, o: { edit?: string; note?: string; idempotencyKey?: string }) => {
    const edited = o.edit === undefined ? {} : { editedPayload: (await readJsonObject(o.edit, '--edit')) as ApprovalDecisionCreate['editedPayload'] };
    await decide(id, { outcome: 'approve', ...edited, ...note(o) }, o.idempotencyKey);
  });

  for (const [name, outcome, description] of [
    ['reject', 'reject', 'Reject, saying why (--note is required): the run resumes rejected'],
    ['request-changes', 'request_changes', 'Ask the run to change what it asked, saying what (--note is required)'],
  ] as const) {
    examples(
      approvals
        .command(name)
        .description(description)
        .argument('<approvalId>')
        .requiredOption('--note <text>', 'why: the run reads it')
        .option('--idempotency-key <key>', 'makes retrying this exact request safe'),
      [`switchboard approvals ${name} appr_01jd4... --note "The order is older than 90 days"`],
    ).action(async (id: string, o: { note: string; idempotencyKey?: string }) => decide(id, { outcome, note: o.note }, o.idempotencyKey));
  }

  examples(
    approvals
      .command('answer')
      .description('Answer a question (an input request): JSON when it parses, else the text itself')
      .argument('<approvalId>')
      .argument('<answer>', 'the answer, @file, or - for stdin')
      .option('--note <text>', 'a note for the record')
      .option('--idempotency-key <key>', 'makes retrying this exact request safe'),
    ['switchboard approvals answer appr_01jd4... business', 'switchboard approvals answer appr_01jd4... \'{"orderId": "10-2291"}\''],
  ).action(async (id: string, answer: string, o: { note?: string; idempotencyKey?: string }) => {
    const response = answerOf(await readArgument(answer, 'the answer')) as ApprovalDecisionCreate['response'];
    await decide(id, { outcome: 'answer', response, ...note(o) }, o.idempotencyKey);
  });

  examples(
    approvals
      .command('comment')
      .description('Comment on an approval; with --wake the comment requests changes, so the waiting run resumes to read it')
      .argument('<approvalId>')
      .argument('<text>', 'the comment, @file, or - for stdin')
      .option('--wake', 'wake the run with it'),
    ['switchboard approvals comment appr_01jd4... "Check the carrier claim first" --wake'],
  ).action(async (id: string, text: string, o: { wake?: boolean }) =>
    printObject(ctx, await ctx.client().approvals.comments.create(id, { body: await readArgument(text, 'the comment'), wake: o.wake ?? false })),
  );
}
