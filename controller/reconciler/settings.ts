/** The controller's timing and concurrency settings, with the defaults the design and the issues name. */
export interface ReconcilerSettings {
  resyncMs: number;
  pollMs: number;
  /** how often the spec is re-read between resyncs, so a deploy starts promptly */
  specPollMs: number;
  /** syncs requested within this window share one SendCommand */
  batchWindowMs: number;
  /** the fleet-wide cap on hosts worked on at once */
  workers: number;
  agentWaitMs: number;
  backoffBaseMs: number;
  backoffCapMs: number;
  /** lifecycle heartbeat for launching hosts, below the hook's heartbeat timeout */
  heartbeatIntervalMs: number;
  /** coalesces status writes */
  statusDebounceMs: number;
  drainTimeoutMs: number;
}

export const DEFAULT_SETTINGS: ReconcilerSettings = {
  resyncMs: 30_000,
  pollMs: 5_000,
  specPollMs: 2_000,
  batchWindowMs: 1_000,
  workers: 64,
  agentWaitMs: 600_000,
  backoffBaseMs: 10_000,
  backoffCapMs: 300_000,
  heartbeatIntervalMs: 300_000,
  statusDebounceMs: 250,
  drainTimeoutMs: 300_000,
};
