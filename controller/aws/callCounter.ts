/**
 * Counting control-plane calls by operation, throttles apart from other errors (the controller's metrics).
 *
 * Two views, because they answer different questions:
 * - `callAws` (used by every adapter) reports one outcome per logical call, after the SDK's own retries.
 *   It also turns SDK errors into fleetsync errors, so adapters never leak an SDK error.
 * - `callCounterMiddleware` (attached by makeAwsClients when asked) reports one outcome per HTTP attempt, so
 *   throttles the SDK's adaptive retry absorbed still show: the sign that the account is near its rate limit.
 */
import { isThrottling, toFleetsyncError } from './sdkErrors.ts';

export type CallOutcome = 'ok' | 'throttled' | 'error';
export type OnCall = (op: string, outcome: CallOutcome) => void;

function outcomeOf(error: unknown): CallOutcome {
  return isThrottling(error) ? 'throttled' : 'error';
}

/** Runs one SDK call: reports its outcome and rethrows any failure as a fleetsync error (with `cause`). */
export async function callAws<T>(op: string, onCall: OnCall | undefined, run: () => Promise<T>): Promise<T> {
  try {
    const output = await run();
    onCall?.(op, 'ok');
    return output;
  } catch (error) {
    onCall?.(op, outcomeOf(error));
    throw toFleetsyncError(error, op);
  }
}

export interface CallCounts {
  ok: number;
  throttled: number;
  error: number;
}

/** Sums outcomes per operation; pass `tally.onCall` as an adapter's onCall. */
export class CallTally {
  private readonly counts = new Map<string, CallCounts>();

  readonly onCall: OnCall = (op, outcome) => {
    const entry = this.counts.get(op) ?? { ok: 0, throttled: 0, error: 0 };
    entry[outcome] += 1;
    this.counts.set(op, entry);
  };

  get(op: string): CallCounts {
    return { ...(this.counts.get(op) ?? { ok: 0, throttled: 0, error: 0 }) };
  }

  /** Every call of every operation, whatever the outcome. */
  total(): number {
    let sum = 0;
    for (const c of this.counts.values()) sum += c.ok + c.throttled + c.error;
    return sum;
  }

  snapshot(): Record<string, CallCounts> {
    return Object.fromEntries([...this.counts].map(([op, c]) => [op, { ...c }]));
  }
}

/** The smallest slice of an SDK client's middleware stack this module needs. */
interface HasMiddlewareStack {
  middlewareStack: {
    add(middleware: unknown, options: { step: 'deserialize'; name: string; priority: 'high' | 'normal' | 'low' }): void;
  };
}

export const CALL_COUNTER_MIDDLEWARE = 'fleetsyncCallCounter';

/**
 * Reports every HTTP attempt of `client`. It sits in the deserialize step, inside the retry middleware, so each
 * attempt passes through it once; the operation name comes from the SDK's handler context.
 */
export function attachCallCounter(client: HasMiddlewareStack, onCall: OnCall): void {
  type Next = (args: unknown) => Promise<unknown>;
  const middleware = (next: Next, context: { commandName?: string }) => async (args: unknown) => {
    const op = (context.commandName ?? 'Unknown').replace(/Command$/, '');
    try {
      const result = await next(args);
      onCall(op, 'ok');
      return result;
    } catch (error) {
      onCall(op, outcomeOf(error));
      throw error;
    }
  };
  client.middlewareStack.add(middleware, { step: 'deserialize', name: CALL_COUNTER_MIDDLEWARE, priority: 'high' });
}
