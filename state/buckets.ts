import type { HostCounts } from './spec.ts';
import type { HostState } from './host.ts';

export type Bucket = Exclude<keyof HostCounts, 'total'>;

/** Every machine state belongs to exactly one bucket; status and metrics both count by it. `gone` is not counted. */
export const BUCKET_OF: Record<Exclude<HostState, 'gone'>, Bucket> = {
  discovered: 'launching',
  waitingForAgent: 'launching',
  probing: 'launching',
  completing: 'launching',
  idle: 'queued',
  queued: 'queued',
  backoff: 'queued',
  draining: 'syncing',
  syncing: 'syncing',
  verifying: 'syncing',
  restoring: 'syncing',
  attemptFailed: 'syncing',
  cancelling: 'syncing',
  inSync: 'inSync',
  failed: 'failed',
  warm: 'warm',
};

export function countHosts(states: Iterable<HostState>): HostCounts {
  const counts: HostCounts = { total: 0, inSync: 0, syncing: 0, queued: 0, failed: 0, launching: 0 };
  for (const state of states) {
    if (state === 'gone') continue;
    // Parked in the warm pool: counted beside the rollout's hosts, not among them (a rollout never waits on them).
    if (state === 'warm') {
      counts.warm = (counts.warm ?? 0) + 1;
      continue;
    }
    counts.total += 1;
    counts[BUCKET_OF[state] as Exclude<Bucket, 'warm'>] += 1;
  }
  return counts;
}
