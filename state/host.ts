/** What the controller keeps per host: the machine's state and context, persisted in the host's item. */

export type HostState =
  | 'discovered' | 'waitingForAgent' | 'probing' | 'idle' | 'inSync' | 'queued' | 'draining' | 'syncing'
  | 'verifying' | 'restoring' | 'attemptFailed' | 'cancelling' | 'backoff' | 'completing' | 'failed' | 'gone'
  /** parked in the warm pool (stopped, hibernated or running there): no command, no slot, synced when it leaves */
  | 'warm';

export interface HostContext {
  instanceId: string;
  lifecycleState: string;
  /** launched under the lifecycle hook and not yet let into service */
  launching: boolean;
  lifecycleCompleted: boolean;
  /** the host's command agent was online at the last observation */
  agentOnline: boolean;
  reportedRevision: string | null;
  /** what the rollout wants this host to run now */
  desiredRevision: string | null;
  /** the revision of the current or last attempt */
  targetRevision: string | null;
  /** attempts spent on targetRevision */
  attempt: number;
  attemptId: string | null;
  commandId: string | null;
  /** durable deadline (attempt timeout, backoff end, agent wait): a persisted snapshot keeps no timers */
  deadlineMs: number | null;
  lastError: string | null;
  /** the revision this host failed at, when failed */
  failedRevision: string | null;
  /** the last operator retry request acted on */
  retryRequestId: string | null;
  /** out of the load balancer for this attempt (drain) */
  deregistered: boolean;
  /**
   * attempts given back in a row because nothing ran (send failed, host busy): the backoff grows with them,
   * and busy answers are capped. Absent in items written before it existed (read as 0).
   */
  refunds?: number;
  sinceMs: number;
}

export interface HostRecord {
  instanceId: string;
  state: HostState;
  context: HostContext;
}

/** The per-host object of `status --output json` (design: Per-host status). */
export interface HostView {
  instanceId: string;
  lifecycleState: string;
  reportedRevision: string | null;
  state: HostState;
  attempt: number;
  targetRevision: string | null;
  commandId: string | null;
  lastError: string | null;
  since: string;
}

export function hostView(record: HostRecord): HostView {
  const c = record.context;
  return {
    instanceId: record.instanceId,
    lifecycleState: c.lifecycleState,
    reportedRevision: c.reportedRevision,
    state: record.state,
    attempt: c.attempt,
    targetRevision: c.targetRevision,
    commandId: c.commandId,
    lastError: c.lastError,
    since: new Date(c.sinceMs).toISOString(),
  };
}
