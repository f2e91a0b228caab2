/** One host's machine snapshot, its inbox of events, and a lock so its events are applied one batch at a time. */
import type { HostEvent, HostSnapshot } from '../../state/hostMachine.ts';
import type { SeenInvocation } from './attempts.ts';

export class HostCell {
  pending: HostEvent[] = [];
  /** what the store holds (JSON), so unchanged records are not written again */
  persistedJson: string | null = null;
  persistedSnapshot: HostSnapshot;
  /** the observation last turned into an OBSERVE event */
  observationKey = '';
  /** the poller's last result for this host: its exit code tells a failed check from a failed sync */
  lastInvocation: SeenInvocation | null = null;
  /** when this leader saw the current attempt recorded (for its duration) */
  attemptStart: { attemptId: string; atMs: number } | null = null;
  private tail: Promise<void> = Promise.resolve();

  constructor(readonly instanceId: string, public snapshot: HostSnapshot) {
    this.persistedSnapshot = snapshot;
  }

  /** Runs `fn` after every earlier call for this host has finished. */
  locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn);
    this.tail = run.then(() => undefined, () => undefined);
    return run;
  }

  get state(): string {
    return this.snapshot.value as string;
  }
}
