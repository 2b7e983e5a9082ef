import type { Command } from 'commander';
import type { Page, PageList } from '@switchboard/sdk';
import type { Context } from './context.js';
import { integer } from './input.js';
import type { Column } from './output.js';

export type ListOptions = { page?: number; pageSize?: number; all?: boolean };

/** `--page`, `--page-size` and `--all` on a list command. */
export function listOptions(command: Command): Command {
  return command
    .option('--page <n>', 'page to show, from 1', integer(1, 1_000_000))
    .option('--page-size <n>', 'items per page, 1 to 100 (default 20, or 100 with --all)', integer(1, 100))
    .option('--all', 'every item of every page (with --json: one array)');
}

/** The `page`/`pageSize` query of a list command. */
export const pageQuery = (o: ListOptions) => ({
  ...(o.page !== undefined ? { page: o.page } : {}),
  ...(o.pageSize !== undefined ? { pageSize: o.pageSize } : o.all ? { pageSize: 100 } : {}),
});

/**
 * Prints a list: a table (human) or the page as the API returned it (`--json`); with `--all`, every
 * item (an array with `--json`).
 */
export async function printList<Item, P extends Page<Item>>(ctx: Context, list: PageList<Item, P>, columns: Column<Item>[], o: ListOptions, noun: string) {
  const out = ctx.out;
  if (o.all) {
    const items: Item[] = [];
    for await (const item of list) items.push(item);
    if (out.json) out.data(items);
    else if (items.length) out.table(items, columns);
    else out.print(`No ${noun}.`);
    return;
  }
  const page = await list;
  if (out.json) {
    out.data({ data: page.data, pagination: page.pagination });
    return;
  }
  const { page: n, totalPages, total } = page.pagination;
  if (!page.data.length) {
    out.print(n > 1 && total > 0 ? `No ${noun} on page ${n} (${total} in ${totalPages} page${totalPages === 1 ? '' : 's'}).` : `No ${noun}.`);
    return;
  }
  out.table(page.data, columns);
  if (totalPages > 1)
    out.note(out.dim(`Page ${n} of ${totalPages}, ${total} ${noun} in all${n < totalPages ? `: --page ${n + 1} for the next, --all for every one` : ''}.`));
}

/** A single resource: `key: value` lines, or the JSON the API returned. */
export function printObject(ctx: Context, value: object, options: { omit?: string[] } = {}) {
  const out = ctx.out;
  if (out.json) out.data(value);
  else out.object(value, options);
}

/** The `Examples:` section of a command's help. */
export function examples(command: Command, lines: string[]): Command {
  return command.addHelpText('after', `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`);
}

/** `<group> delete <id> [--if-match <etag>]`, the same for every resource that can be deleted. */
export function deleteCommand(
  group: Command,
  ctx: Context,
  resource: { noun: string; argument: string; example: string; description: string; remove: (id: string, options: { ifMatch?: string }) => Promise<unknown> },
): void {
  examples(
    group
      .command('delete')
      .description(resource.description)
      .argument(`<${resource.argument}>`)
      .option('--if-match <etag>', `only if the ${resource.noun} still has this ETag`),
    [`switchboard ${group.name()} delete ${resource.example}`],
  ).action(async (id: string, o: { ifMatch?: string }) => {
    await resource.remove(id, { ifMatch: o.ifMatch });
    if (!ctx.out.json) ctx.out.print(`Deleted ${resource.noun} ${id}.`);
  });
}

/** A resource with its secret, shown once: printed as usual, with a reminder on stderr. */
export function printSecret(ctx: Context, resource: object, what = 'secret') {
  printObject(ctx, resource);
  if (!ctx.out.json) ctx.out.note(`Keep the ${what} now: it is never shown again.`);
}

/** `<group> <action> <id>` for each state change of a resource (pause, resume, ...), printing the result. */
export function transitionCommands<A extends string>(
  group: Command,
  ctx: Context,
  resource: { argument: string; example: string; actions: readonly (readonly [A, string])[]; run: (action: A, id: string) => Promise<object> },
): void {
  for (const [action, description] of resource.actions) {
    examples(group.command(action).description(description).argument(`<${resource.argument}>`), [
      `switchboard ${group.name()} ${action} ${resource.example}`,
    ]).action(async (id: string) => printObject(ctx, await resource.run(action, id)));
  }
}
