/**
 * The simulated world behind the sim adapters: an Auto Scaling group's instances, what each host's disk
 * holds, the commands running on them, and a count of every control-plane request by operation.
 */
import type { Clock, Random } from '../ports/clock.ts';
import { ThrottledError } from '../errors.ts';

const SDK_MAX_ATTEMPTS = 3;

export interface SimInstance {
  instanceId: string;
  lifecycleState: string;
  launchTimeMs: number;
  agentOnlineAtMs: number;
  /** what the host's disk holds */
  revision: string | null;
  /** commands running on the host now (the host script's flock makes a second one exit busy) */
  running: number;
  /** syncs among them: a probe reads, it does not take a host out of service */
  syncing: number;
  /** when the launch hook times out, while in Pending:Wait with a hook timeout set */
  hookDeadlineMs?: number;
}

export interface SimWorldOptions {
  clock: Clock;
  random: Random;
  /** probability that one request is throttled */
  throttleRate: number;
  /** a lifecycle hook holds new instances in Pending:Wait */
  lifecycleHook: boolean;
  /** how long a new instance's agent takes to come online */
  agentDelayMs: number;
  /** the revision baked into new instances' image */
  imageRevision: string | null;
  /**
   * The launch hook's HeartbeatTimeout: a Pending:Wait instance neither completed nor heartbeaten for this long
   * is abandoned by the group (DefaultResult ABANDON) and replaced. Unset: hooks never time out.
   */
  hookTimeoutMs?: number | null;
}

export class SimWorld {
  readonly instances = new Map<string, SimInstance>();
  readonly calls = new Map<string, number>();
  throttled = 0;
  /** lifecycle completions: what the host ran when it was let into service */
  readonly completions: Array<{
    instanceId: string; result: string; revision: string | null; intended: string | null; atMs: number;
  }> = [];
  maxRunningPerHost = 0;
  /** in-service hosts running a command at once, at most */
  maxInServiceBusy = 0;
  /** the revision a launching host should run when let into service (set by the simulation) */
  intendedRevision: () => string | null = () => null;
  /** told of each instance that enters Pending:Wait, as the group's launch lifecycle event would be */
  onLaunchWait: (instanceId: string) => void = () => {};
  private nextId = 1;

  constructor(readonly options: SimWorldOptions) {}

  /**
   * Counts one request to a control plane, throttled at the configured rate. Like the SDK's standard retry,
   * a throttled request is tried again (each try counted) up to SDK_MAX_ATTEMPTS times before it fails.
   */
  request(operation: string): void {
    for (let attempt = 1; ; attempt++) {
      this.calls.set(operation, (this.calls.get(operation) ?? 0) + 1);
      if (!(this.options.throttleRate > 0 && this.options.random() < this.options.throttleRate)) return;
      this.throttled += 1;
      if (attempt >= SDK_MAX_ATTEMPTS) throw new ThrottledError(`${operation}: Rate exceeded (simulated)`);
    }
  }

  resetCounts(): void {
    this.calls.clear();
    this.throttled = 0;
  }

  totalCalls(): number {
    let total = 0;
    for (const n of this.calls.values()) total += n;
    return total;
  }

  launch(count: number, options: { inService?: boolean; revision?: string | null } = {}): string[] {
    const now = this.options.clock.nowMs();
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const instanceId = `i-${(this.nextId++).toString(16).padStart(17, '0')}`;
      const inService = options.inService ?? false;
      this.instances.set(instanceId, {
        instanceId,
        lifecycleState: inService ? 'InService' : this.options.lifecycleHook ? 'Pending:Wait' : 'InService',
        launchTimeMs: now,
        agentOnlineAtMs: inService ? now : now + this.options.agentDelayMs,
        revision: options.revision !== undefined ? options.revision : this.options.imageRevision,
        running: 0,
        syncing: 0,
        ...(!inService && this.options.lifecycleHook && this.options.hookTimeoutMs ? { hookDeadlineMs: now + this.options.hookTimeoutMs } : {}),
      });
      ids.push(instanceId);
    }
    for (const id of ids) if (this.instances.get(id)?.lifecycleState === 'Pending:Wait') this.onLaunchWait(id);
    return ids;
  }

  terminate(instanceId: string): void {
    this.instances.delete(instanceId);
  }

  /**
   * Abandons the launching instances whose hook timed out, as the group does: each is recorded as an ABANDON,
   * terminated and replaced by a new launch. Returns how many.
   */
  expireHooks(): number {
    const now = this.options.clock.nowMs();
    let expired = 0;
    for (const inst of [...this.instances.values()]) {
      if (inst.lifecycleState !== 'Pending:Wait' || inst.hookDeadlineMs === undefined || now < inst.hookDeadlineMs) continue;
      this.completions.push({ instanceId: inst.instanceId, result: 'ABANDON', revision: inst.revision, intended: this.intendedRevision(), atMs: now });
      this.terminate(inst.instanceId);
      this.launch(1);
      expired += 1;
    }
    return expired;
  }

  launchedCount(): number {
    return this.nextId - 1;
  }

  /** Called when a command starts on a host. */
  noteRunning(): void {
    let busy = 0;
    for (const inst of this.instances.values()) {
      this.maxRunningPerHost = Math.max(this.maxRunningPerHost, inst.running);
      if (inst.syncing > 0 && inst.lifecycleState === 'InService') busy += 1;
    }
    this.maxInServiceBusy = Math.max(this.maxInServiceBusy, busy);
  }

  live(): SimInstance[] {
    return [...this.instances.values()];
  }
}
