import type { Run, RunCustomEvent, RunEvent, Switchboard } from '@switchboard/sdk';
import type { Output } from './output.js';
import { text } from './output.js';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** A spinner on stderr, only when stderr is a terminal; cleared before anything else is printed. */
class Spinner {
  private timer: NodeJS.Timeout | undefined;
  private frame = 0;
  private shown = false;
  constructor(
    private label: string,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {}

  start() {
    if (!this.stream.isTTY || this.timer) return;
    this.timer = setInterval(() => this.draw(), 80);
    this.draw();
  }

  set text(label: string) {
    this.label = label;
  }

  private draw() {
    this.stream.write(`\r\x1b[K${FRAMES[this.frame++ % FRAMES.length]} ${this.label}`);
    this.shown = true;
  }

  clear() {
    if (this.shown) this.stream.write('\r\x1b[K');
    this.shown = false;
  }

  stop() {
    clearInterval(this.timer);
    this.timer = undefined;
    this.clear();
  }
}

/** A runner's own event types are none of the spec's (it says so): checking `type` narrows to the spec's. */
const specEvent = (event: RunEvent<RunCustomEvent>) => event as RunEvent;

/** One timestamped line per event: status changes, log lines, anything else as compact JSON. */
export function eventLine(out: Output, event: RunEvent<RunCustomEvent>): string {
  const e = specEvent(event);
  const time = out.dim(e.createdAt);
  if (e.type === 'status') {
    const { status, error } = e.data;
    return `${time}  ${'status'.padEnd(12)} ${out.status(status)}${error ? `  ${error.code}: ${error.message}` : ''}`;
  }
  if (e.type === 'log') {
    const { level, message, ...rest } = e.data;
    const extra = Object.keys(rest).length ? `  ${out.dim(JSON.stringify(rest))}` : '';
    return `${time}  ${'log'.padEnd(12)} ${(level ?? 'info').padEnd(5)} ${text(message)}${extra}`;
  }
  return `${time}  ${e.type.padEnd(12)} ${JSON.stringify(e.data)}`;
}

/**
 * For a queued run that no runner can take (its `dispatch`), why, and the command that would let
 * it start; undefined when a runner can take it or it is not queued.
 */
export function dispatchHint(run: Run): string | undefined {
  const dispatch = run.dispatch;
  if (run.status !== 'queued' || !dispatch || dispatch.claimable) return undefined;
  const labels = dispatch.requiredLabels;
  const fix = labels.length
    ? `start a runner with ${labels.length === 1 ? 'that label' : 'those labels'}: npx switchboard runner --labels ${labels.join(',')}`
    : 'start a runner: npx switchboard runner (or start the server with --with-runner)';
  return `Run ${run.id} is queued, and no runner can take it: ${dispatch.message ?? dispatch.reason}\nTo run it, ${fix}\n(the built-in runner executes agents with runtime "http" and the "echo" model; other models need a runner of your own)`;
}

/** The run's end: its final status, then its output or error. */
export function printOutcome(out: Output, run: Run): void {
  if (out.json) return out.data(run);
  if (run.status === 'succeeded') {
    out.print(`Run ${run.id} ${out.status('succeeded')}. Output:`);
    out.print(JSON.stringify(run.output ?? {}, null, 2));
  } else {
    out.print(`Run ${run.id} ${out.status(run.status)}${run.error ? `: ${run.error.code}: ${run.error.message}` : '.'}`);
  }
}

/**
 * Follows a run to its end, printing its events (history first); returns the exit code: 0 when it
 * succeeded, 1 when it ended otherwise, 130 when interrupted with Ctrl-C (the run goes on).
 */
export async function followRun(sb: Switchboard, runId: string, out: Output): Promise<number> {
  const stop = new AbortController();
  const onInterrupt = () => {
    if (stop.signal.aborted) process.exit(130);
    stop.abort();
  };
  process.on('SIGINT', onInterrupt);
  const spinner = new Spinner(`Waiting for run ${runId}`);
  if (!out.json) spinner.start();
  try {
    const hinted = new Set<string>();
    for await (const event of sb.runs.stream<RunCustomEvent>(runId, { signal: stop.signal })) {
      if (out.json) continue;
      spinner.clear();
      out.print(eventLine(out, event));
      const e = specEvent(event);
      if (e.type === 'status') spinner.text = `Run ${runId} is ${e.data.status}`;
      // Queued (again): say once per reason if no runner can take it, instead of spinning without one.
      if (e.type === 'status' && e.data.status === 'queued') {
        const hint = dispatchHint(await sb.runs.get(runId));
        if (hint && !hinted.has(hint)) {
          hinted.add(hint);
          spinner.clear();
          out.note(hint);
          spinner.text = `Run ${runId} is queued; waiting for a runner that can take it`;
        }
      }
    }
  } finally {
    spinner.stop();
    process.off('SIGINT', onInterrupt);
  }
  if (stop.signal.aborted) {
    out.note(`Stopped following; the run goes on. Follow it again with: switchboard runs follow ${runId}`);
    return 130;
  }
  const run = await sb.runs.get(runId);
  printOutcome(out, run);
  return run.status === 'succeeded' ? 0 : 1;
}
