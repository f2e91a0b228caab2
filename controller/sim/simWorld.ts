/**
 * The simulated world behind the sim adapters: an Auto Scaling group's instances (and its warm pool's), what
 * each host's disk holds, the commands running on them, and a count of every control-plane request by operation.
 */
import type { Clock, Random } from '../ports/clock.ts';
import { isHookWaiting, isWarm } from '../ports/fleet.ts';
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
  /** when the launch hook times out, while in Pending:Wait (or Warmed:Pending:Wait) with a hook timeout set */
  hookDeadlineMs?: number;
}

/** A stopped instance keeps its disk, but its agent is offline and no command can reach it. */
export const isAsleep = (inst: SimInstance): boolean =>
  inst.lifecycleState === 'Warmed:Stopped' || inst.lifecycleState === 'Warmed:Hibernated';

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
  /**
   * Instances the group keeps in its warm pool (launched through Warmed:Pending:Wait, then stopped); a scale-out
   * draws from it first and it is refilled. Unset or 0: no warm pool.
   */
  warmPool?: number;
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
  /** commands sent to an instance stopped in the warm pool (SSM refuses them; the controller must not try) */
  commandsToAsleep = 0;
  /** instances taken from the warm pool into the group */
  drawnFromPool = 0;
  /** what each instance launched into the warm pool went through: its lifecycle states, syncs and CONTINUEs */
  readonly warmJourneys = new Map<string, string[]>();
  /** the revision a launching host should run when let into service (set by the simulation) */
  intendedRevision: () => string | null = () => null;
  /** told of each instance that enters Pending:Wait, as the group's launch lifecycle event would be */
  /** an instance entered a launch hook's wait (Pending:Wait, or Warmed:Pending:Wait going into the pool) */
  onLaunchWait: (instanceId: string, lifecycleState: string) => void = () => {};
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

  launch(count: number, options: { inService?: boolean; revision?: string | null; intoPool?: boolean } = {}): string[] {
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
    if (options.intoPool) return ids;
    for (const id of ids) if (this.instances.get(id)?.lifecycleState === 'Pending:Wait') this.onLaunchWait(id, 'Pending:Wait');
    return ids;
  }

  terminate(instanceId: string): void {
    this.instances.delete(instanceId);
  }

  /** Launches into the warm pool, held by the launch hook in Warmed:Pending:Wait (no hook: straight to sleep). */
  launchWarm(count: number): string[] {
    const ids = this.launch(count, { intoPool: true });
    for (const id of ids) {
      const inst = this.instances.get(id)!;
      this.warmJourneys.set(id, []);
      if (this.options.lifecycleHook) {
        this.move(inst, 'Warmed:Pending:Wait');
        this.onLaunchWait(id, 'Warmed:Pending:Wait');
      } else this.sleep(inst);
    }
    return ids;
  }

  /** Notes a step of a warm-pool instance's journey (others are not followed). */
  note(instanceId: string, step: string): void {
    this.warmJourneys.get(instanceId)?.push(step);
  }

  move(inst: SimInstance, lifecycleState: string): void {
    inst.lifecycleState = lifecycleState;
    this.note(inst.instanceId, lifecycleState);
  }

  /** Keeps the warm pool at its size, as the group does after a scale-out took from it. */
  refillPool(): string[] {
    const size = this.options.warmPool ?? 0;
    const inPool = this.live().filter((i) => isWarm(i.lifecycleState)).length;
    return size > inPool ? this.launchWarm(size - inPool) : [];
  }

  /** Stops an instance in the pool once its launch into it is complete. */
  sleep(inst: SimInstance): void {
    this.move(inst, 'Warmed:Stopped');
    inst.agentOnlineAtMs = Number.POSITIVE_INFINITY;
    delete inst.hookDeadlineMs;
  }

  /**
   * A scale-out by `count`: stopped warm instances are started first (held again by the launch hook in
   * Pending:Wait, their agent back after the usual delay), the rest launched new; then the pool is refilled.
   */
  scaleOut(count: number): string[] {
    const now = this.options.clock.nowMs();
    const asleep = this.live().filter(isAsleep).sort((a, b) => a.instanceId.localeCompare(b.instanceId)).slice(0, count);
    for (const inst of asleep) {
      this.move(inst, this.options.lifecycleHook ? 'Pending:Wait' : 'InService');
      inst.agentOnlineAtMs = now + this.options.agentDelayMs;
      if (this.options.lifecycleHook && this.options.hookTimeoutMs) inst.hookDeadlineMs = now + this.options.hookTimeoutMs;
    }
    // Leaving the pool is a launch event too (detail.Origin WarmPool), after the pool's bookkeeping above.
    if (this.options.lifecycleHook) for (const inst of asleep) this.onLaunchWait(inst.instanceId, 'Pending:Wait');
    this.drawnFromPool += asleep.length;
    const ids = [...asleep.map((i) => i.instanceId), ...this.launch(count - asleep.length)];
    this.refillPool();
    return ids;
  }

  /**
   * Abandons the launching instances whose hook timed out, as the group does: each is recorded as an ABANDON,
   * terminated and replaced by a new launch. Returns how many.
   */
  expireHooks(): number {
    const now = this.options.clock.nowMs();
    let expired = 0;
    for (const inst of [...this.instances.values()]) {
      if (!isHookWaiting(inst.lifecycleState) || inst.hookDeadlineMs === undefined || now < inst.hookDeadlineMs) continue;
      this.completions.push({ instanceId: inst.instanceId, result: 'ABANDON', revision: inst.revision, intended: this.intendedRevision(), atMs: now });
      this.note(inst.instanceId, 'ABANDON (hook timed out)');
      this.terminate(inst.instanceId);
      if (isWarm(inst.lifecycleState)) this.launchWarm(1);
      else this.launch(1);
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
