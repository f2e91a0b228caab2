/** What the reconciler tells the rest of the program (metrics, logs, simulations). All optional. */
import type { FleetStatus } from '../../state/spec.ts';

/**
 * How a sync attempt ended. A small fixed set (metrics use it as a label, so it must stay bounded); the host's
 * own words travel apart, in `reason`.
 */
export type AttemptResult =
  | 'success'
  /** the attempt outlived its syncTimeoutSeconds, or SSM timed it out */
  | 'timedOut'
  /** the host script failed (exit 3, bad arguments, no result line, agent trouble) */
  | 'syncFailed'
  /** the post-switch check failed and the link was rolled back (exit 4) */
  | 'checkFailed'
  /** another run held the host lock (exit 75): retried without spending an attempt */
  | 'busy'
  /** the command could not be sent */
  | 'sendFailed'
  /** the command succeeded but the host reports another revision than the target */
  | 'verifyFailed'
  /** cancelled, or the instance left the group mid-attempt */
  | 'cancelled';

export const ATTEMPT_RESULTS: readonly AttemptResult[] = [
  'success', 'timedOut', 'syncFailed', 'checkFailed', 'busy', 'sendFailed', 'verifyFailed', 'cancelled',
];

export interface AttemptOutcome {
  fleet: string;
  instanceId: string;
  attemptId: string | null;
  commandId: string | null;
  targetRevision: string | null;
  /** which attempt at targetRevision this was (1 = the first) */
  attempt: number;
  outcome: AttemptResult;
  /** why it did not succeed, in the host script's words when it gave some (the host's lastError) */
  reason: string | null;
  exitCode: number | null;
  /** from the attempt being recorded to its end; null when unknown */
  durationMs: number | null;
}

/** Live figures of one leader's reconciler, read when metrics are scraped. */
export interface ReconcilerProbe {
  /** hosts waiting in the work queue */
  queueDepth(): number;
  /** hosts put back with backoff after their work failed, since this reconciler started */
  retries(): number;
  commandsInFlight(): number;
}

export interface ReconcilerObserver {
  /** this process leads the fleet and its reconciler runs */
  reconcilerStarted?(fleet: string, probe: ReconcilerProbe): void;
  reconcilerStopped?(fleet: string): void;
  statusWritten?(fleet: string, status: FleetStatus): void;
  attemptFinished?(outcome: AttemptOutcome): void;
  passFinished?(fleet: string, durationMs: number): void;
  lifecycleCompleted?(fleet: string, instanceId: string, result: string): void;
}

/** One observer that tells each of `observers` in turn. */
export function combineObservers(...observers: ReconcilerObserver[]): ReconcilerObserver {
  return {
    reconcilerStarted: (fleet, probe) => observers.forEach((o) => o.reconcilerStarted?.(fleet, probe)),
    reconcilerStopped: (fleet) => observers.forEach((o) => o.reconcilerStopped?.(fleet)),
    statusWritten: (fleet, status) => observers.forEach((o) => o.statusWritten?.(fleet, status)),
    attemptFinished: (outcome) => observers.forEach((o) => o.attemptFinished?.(outcome)),
    passFinished: (fleet, durationMs) => observers.forEach((o) => o.passFinished?.(fleet, durationMs)),
    lifecycleCompleted: (fleet, id, result) => observers.forEach((o) => o.lifecycleCompleted?.(fleet, id, result)),
  };
}
