/**
 * `status FLEET --watch`: follows a rollout until it finishes (0), halts or a host fails (1), or the user
 * interrupts it (130). In a terminal it redraws one frame; in a pipe it prints one line per change (text, or
 * with --output json the Fleet document as one JSON line).
 */
import type { Clock } from '../ports/clock.ts';
import type { Store } from '../ports/store.ts';
import { StoreUnavailableError, ThrottledError, TransientError } from '../errors.ts';
import type { Output } from './cliIo.ts';
import { EXIT_INTERRUPTED, OperationError } from './cliErrors.ts';
import { fleetDocument, type FleetDocument } from '../status/fleetDocument.ts';
import { isoTime } from './output.ts';
import { noSuchFleet } from './specChange.ts';
import { changeKey, changeLines, outcomeOf, watchFrame, type WatchOutcome } from './watchView.ts';

export interface WatchOptions {
  store: Store;
  name: string;
  clock: Clock;
  intervalMs: number;
  out: Output;
  /** one JSON line per change instead of text */
  json: boolean;
  /** stops the watch (Ctrl-C); without one, SIGINT does */
  signal?: AbortSignal;
}

/** Reads that may work on the next poll: the watch says so and keeps going. */
function isPassing(err: unknown): boolean {
  return err instanceof TransientError || err instanceof ThrottledError || err instanceof StoreUnavailableError;
}

function interruptSignal(given: AbortSignal | undefined): { signal: AbortSignal; dispose(): void } {
  if (given) return { signal: given, dispose: () => undefined };
  const controller = new AbortController();
  const onInterrupt = (): void => controller.abort(new Error('interrupted'));
  process.once('SIGINT', onInterrupt);
  return { signal: controller.signal, dispose: () => process.off('SIGINT', onInterrupt) };
}

class Screen {
  private drawn = 0;

  constructor(private readonly out: Output) {}

  /** Replaces the previous frame; lines are cut to the terminal's width so each takes exactly one row. */
  draw(lines: string[]): void {
    // a terminal that reports no size (0) gets a common width rather than nothing
    const width = Math.max(20, (this.out.columns || 120) - 1);
    const up = this.drawn > 0 ? `\x1b[${this.drawn}F\x1b[J` : '';
    this.out.write(`${up}${lines.map((l) => (l.length > width ? `${l.slice(0, width - 1)}…` : l)).join('\n')}\n`);
    this.drawn = lines.length;
  }
}

export async function watchFleet(options: WatchOptions): Promise<number> {
  const { store, name, clock, out } = options;
  const tty = out.isTTY === true && !options.json;
  const screen = new Screen(out);
  const interrupt = interruptSignal(options.signal);
  let before: FleetDocument | null = null;
  let beforeKey = '';
  let seen = false;
  const finish = (outcome: WatchOutcome): number => {
    if (options.json) {
      out.write(`${JSON.stringify({ kind: 'WatchResult', fleet: name, result: outcome.result, exitCode: outcome.exitCode, message: outcome.message })}\n`);
    } else {
      out.write(`${tty ? '' : `${isoTime(clock.nowMs())} `}${outcome.message}\n`);
    }
    return outcome.exitCode;
  };
  try {
    for (;;) {
      let doc: FleetDocument | null = null;
      try {
        doc = await fleetDocument(store, name);
        if (!doc) throw seen ? new OperationError(`fleet ${name} was deleted while watching it`) : noSuchFleet(name);
        seen = true;
      } catch (err) {
        if (!isPassing(err) || !seen) throw err;
        out.write(`${isoTime(clock.nowMs())} ${name}: cannot read the status (${(err as Error).message}); trying again\n`);
      }
      if (doc) {
        const nowMs = clock.nowMs();
        const key = changeKey(doc);
        if (tty) screen.draw(watchFrame(doc, { nowMs, intervalMs: options.intervalMs }));
        else if (key !== beforeKey) {
          const lines = options.json ? [JSON.stringify(doc)] : changeLines(before, doc, nowMs);
          if (lines.length > 0) out.write(`${lines.join('\n')}\n`);
        }
        before = doc;
        beforeKey = key;
        const outcome = outcomeOf(doc);
        if (outcome) return finish(outcome);
      }
      try {
        await clock.sleep(options.intervalMs, interrupt.signal);
      } catch (err) {
        if (interrupt.signal.aborted) return EXIT_INTERRUPTED;
        throw err;
      }
    }
  } finally {
    interrupt.dispose();
  }
}
