/** What the reconciler tells the rest of the program (metrics, logs, simulations). All optional. */
import type { FleetStatus } from '../../state/spec.ts';

export interface AttemptOutcome {
  fleet: string;
  instanceId: string;
  attemptId: string | null;
  commandId: string | null;
  targetRevision: string | null;
  outcome: 'success' | 'failed' | 'busy' | 'timedOut' | 'sendFailed';
  reason: string | null;
  durationMs: number | null;
}

export interface ReconcilerObserver {
  statusWritten?(fleet: string, status: FleetStatus): void;
  attemptFinished?(outcome: AttemptOutcome): void;
  passFinished?(fleet: string, durationMs: number): void;
  lifecycleCompleted?(fleet: string, instanceId: string, result: string): void;
}
