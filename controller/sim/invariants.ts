/**
 * The controller's promises, checked against the simulated world at every step of virtual time and at every
 * call that changes the world. The checker reads the world (hosts, commands, target groups) and the store's
 * items as they are, never the controller's memory, so it judges what a user of the fleet would see.
 *
 * - oneCommandPerHost: no command is sent to a host while another one runs there.
 * - budget: in-service hosts out of service (a sync running, or out of the target group) <= maxUnavailable,
 *   resolved over the most in-service hosts seen since the deploy.
 * - launchRevision: a launching host is let into service (CONTINUE) only at the revision meant for launching
 *   hosts: the spec's revision, or the last complete one while paused or halted; a target that changed less
 *   than LAUNCH_GRACE_MS ago still counts, since the controller learns of a spec change by reading it.
 * - newestToken: every command goes out from a controller holding the newest lease token.
 * - leaderWrites: every host, status, history and spec write of a controller lands while it holds the newest token.
 * - registeredAfterAttempt: an in-service host out of its target group is in an attempt (draining, syncing,
 *   verifying, restoring, attemptFailed) or its stored item says it is still out (registration owed).
 * - convergence: once the last fault has ended, the fleet converges within `convergenceBoundMs`.
 * - noCommandAsleep: no command is sent to an instance stopped (or hibernated) in the warm pool.
 * - launchHookAlive: from one lease duration and a retry period after the last fault (the time a controller may
 *   need to take over), no launching host's hook times out (the group would abandon and replace it): the
 *   controller heartbeats it, or completes it, in time.
 */
import { isLaunching, isWarm } from '../ports/fleet.ts';
import type { SendArgs } from '../ports/commands.ts';
import type { Lease } from '../ports/store.ts';
import { resolveMaxUnavailable } from '../../state/validate.ts';
import { parseStoredFleet } from '../../state/storedItems.ts';
import type { FleetSpec } from '../../state/spec.ts';
import type { MemoryStore } from './memoryStore.ts';
import type { SimCommands } from './simCommands.ts';
import type { SimTraffic } from './simTraffic.ts';
import { isAsleep, type SimWorld } from './simWorld.ts';

export type InvariantName =
  | 'oneCommandPerHost' | 'budget' | 'launchRevision' | 'newestToken' | 'leaderWrites' | 'registeredAfterAttempt'
  | 'convergence' | 'launchHookAlive' | 'noCommandAsleep';

export interface Violation {
  invariant: InvariantName;
  atMs: number;
  detail: string;
}

/** how long a launch target stays acceptable after it changed: the spec poll and one resync */
export const LAUNCH_GRACE_MS = 32_000;

const IN_ATTEMPT = new Set(['draining', 'syncing', 'verifying', 'restoring', 'attemptFailed']);

/**
 * The convergence bound once faults stop: a new leader may wait out a dead one's lease, a host in backoff
 * waits at most backoffCapMs, a hung or orphaned command is given up after syncTimeoutMs, then every host
 * still owed a sync goes in waves of maxUnavailable, each a sync plus a poll and a send window, plus a resync
 * to notice the world.
 */
export function convergenceBoundMs(a: {
  hosts: number; budget: number; maxSyncMs: number; leaseDurationMs: number; backoffCapMs: number; syncTimeoutMs: number;
  pollMs: number; batchWindowMs: number; resyncMs: number;
  /** a stepped rollout: each step may cost one wave more (its last wave part full) and its pause */
  steps?: ReadonlyArray<{ pauseSeconds?: number }> | null;
}): number {
  const steps = a.steps ?? [];
  // the steps given, and the rest of the fleet as the last one
  const waves = Math.ceil(a.hosts / Math.max(1, a.budget)) + (steps.length > 0 ? steps.length + 1 : 0);
  const pausesMs = steps.reduce((sum, s) => sum + (s.pauseSeconds ?? 0) * 1000, 0);
  return a.leaseDurationMs + a.backoffCapMs + a.syncTimeoutMs + a.resyncMs + pausesMs
    + waves * (a.maxSyncMs + a.pollMs + a.batchWindowMs);
}

interface ControllerView { token: number | null }

export class InvariantChecker {
  readonly violations: Violation[] = [];
  checks = 0;
  private readonly controllers = new Map<string, ControllerView>();
  private mostInService = 0;
  private overBudget = false;
  private readonly strayHosts = new Set<string>();
  /** launch targets and when they last held */
  private readonly launchTargets = new Map<string, number>();
  /** the revision meant for a launching host now */
  launchTarget: string | null = null;

  constructor(private readonly o: {
    fleet: string; world: SimWorld; store: MemoryStore; commands: SimCommands; traffic: SimTraffic;
    maxUnavailable: string | number;
  }) {}

  counts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const v of this.violations) out[v.invariant] = (out[v.invariant] ?? 0) + 1;
    return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
  }

  private violate(invariant: InvariantName, detail: string): void {
    this.violations.push({ invariant, atMs: this.o.world.options.clock.nowMs(), detail });
  }

  // ---- calls, seen from inside the fault layer: each one here took effect ----------------------------------

  onLease(controller: string, lease: Lease | null): void {
    if (lease) this.view(controller).token = lease.token;
  }

  beforeSend(controller: string, args: SendArgs): void {
    this.checks += 1;
    this.checkToken(controller, 'newestToken', `${args.mode} command for ${args.instanceIds.join(',')}`);
    const twice = args.instanceIds.filter((id, i) => args.instanceIds.indexOf(id) !== i);
    if (twice.length > 0) this.violate('oneCommandPerHost', `${controller} named ${twice.join(',')} twice in one ${args.mode} command (${args.attemptId})`);
    for (const id of args.instanceIds) {
      const inst = this.o.world.instances.get(id);
      if (inst && isAsleep(inst)) this.violate('noCommandAsleep', `${controller} sent a ${args.mode} command to ${id}, ${inst.lifecycleState}`);
      const running = this.o.commands.running(id);
      if (running > 0 && this.o.world.instances.has(id)) {
        this.violate('oneCommandPerHost', `${controller} sent a ${args.mode} command (${args.attemptId}) to ${id} while ${running} command(s) ran there`);
      }
    }
  }

  afterWrite(controller: string, what: string): void {
    this.checks += 1;
    this.checkToken(controller, 'leaderWrites', what);
  }

  beforeLifecycle(controller: string, instanceId: string, result: string): void {
    this.checks += 1;
    if (result !== 'CONTINUE') return;
    const inst = this.o.world.instances.get(instanceId);
    if (!inst || inst.lifecycleState !== 'Pending:Wait') return;
    const revision = inst.revision ?? '(none)';
    if (!this.launchTargets.has(revision)) {
      this.violate('launchRevision', `${controller} let ${instanceId} into service at ${revision}; meant: ${[...this.launchTargets.keys()].join(' or ')}`);
    }
  }

  private view(controller: string): ControllerView {
    let v = this.controllers.get(controller);
    if (!v) {
      v = { token: null };
      this.controllers.set(controller, v);
    }
    return v;
  }

  private checkToken(controller: string, invariant: InvariantName, what: string): void {
    const token = this.view(controller).token;
    const newest = this.o.store.leaseToken(this.o.fleet);
    if (token === null || token < newest) {
      this.violate(invariant, `${controller} (lease token ${token ?? 'none'}, newest ${newest}): ${what}`);
    }
  }

  // ---- every step of virtual time -----------------------------------------------------------------------------

  step(): void {
    this.checks += 1;
    const now = this.o.world.options.clock.nowMs();
    this.noteLaunchTarget(now);
    const { world, commands, traffic, store, fleet } = this.o;
    const inService = world.live().filter((i) => i.lifecycleState === 'InService');
    this.mostInService = Math.max(this.mostInService, inService.length);
    const budget = resolveMaxUnavailable(this.o.maxUnavailable, this.mostInService);
    const out: string[] = [];
    for (const inst of inService) {
      const deregistered = traffic.isDeregistered(inst.instanceId);
      if (deregistered || commands.running(inst.instanceId, 'sync') > 0) out.push(inst.instanceId);
      if (!deregistered) {
        this.strayHosts.delete(inst.instanceId);
        continue;
      }
      const item = store.peekHost(fleet, inst.instanceId) as { state?: string; context?: { deregistered?: boolean } } | undefined;
      const owed = item !== undefined && (IN_ATTEMPT.has(item.state ?? '') || item.context?.deregistered === true);
      if (owed) this.strayHosts.delete(inst.instanceId);
      else if (!this.strayHosts.has(inst.instanceId)) {
        this.strayHosts.add(inst.instanceId);
        this.violate('registeredAfterAttempt', `${inst.instanceId} is out of its target group while its item says ${item?.state ?? 'nothing'}`);
      }
    }
    const over = out.length > budget;
    if (over && !this.overBudget) this.violate('budget', `${out.length} in-service hosts out of service, budget ${budget}: ${out.join(',')}`);
    this.overBudget = over;
  }

  /** The stored spec item last parsed, and the last spec that parsed: a malformed item leaves the last one meant. */
  private specItem: unknown = undefined;
  private lastSpec: FleetSpec | null = null;

  private noteLaunchTarget(now: number): void {
    const { fleet, status } = this.o.store.peekFleet(this.o.fleet);
    if (fleet !== this.specItem) {
      this.specItem = fleet;
      try {
        this.lastSpec = parseStoredFleet(fleet).spec;
      } catch {
        // Malformed (or not there yet): what the last readable spec asked for is still what is meant.
      }
    }
    const spec = this.lastSpec;
    const last = status as { revision?: unknown; conditions?: Array<{ reason?: unknown }>; rollout?: { haltedAtMs?: unknown } } | undefined;
    const halted = last?.conditions?.some((c) => c.reason === 'RolloutHalted') === true || typeof last?.rollout?.haltedAtMs === 'number';
    if (spec) {
      const holdsBack = (spec.rollout.paused || halted) && typeof last?.revision === 'string';
      this.launchTarget = holdsBack ? last.revision as string : spec.revision;
      this.launchTargets.set(this.launchTarget, now);
    }
    for (const [revision, atMs] of this.launchTargets) {
      if (now - atMs > LAUNCH_GRACE_MS) this.launchTargets.delete(revision);
    }
  }

  /** The group abandoned launching hosts whose hook timed out; `quiet`: the faults had ended. */
  hooksTimedOut(count: number, quiet: boolean): void {
    this.checks += 1;
    if (quiet && count > 0) this.violate('launchHookAlive', `${count} launching host(s) abandoned by their hook timeout after the faults ended`);
  }

  // ---- the end ----------------------------------------------------------------------------------------------

  /**
   * Converged means: every live host in service at `revision`, in its target group, with nothing running; hosts
   * parked in the warm pool are synced when they leave it, so what they hold meanwhile does not count.
   */
  worldConverged(revision: string): boolean {
    return this.o.world.live().filter((i) => isLaunching(i.lifecycleState) || !isWarm(i.lifecycleState))
      .every((i) => !isLaunching(i.lifecycleState) && i.revision === revision
      && !this.o.traffic.isDeregistered(i.instanceId) && this.o.commands.running(i.instanceId) === 0);
  }

  convergence(a: { convergedAtMs: number | null; quietAtMs: number; boundMs: number }): void {
    this.checks += 1;
    if (a.convergedAtMs === null || a.convergedAtMs > a.quietAtMs + a.boundMs) {
      const late = a.convergedAtMs === null ? 'never converged' : `converged ${(a.convergedAtMs - a.quietAtMs) / 1000}s after the faults ended`;
      this.violate('convergence', `${late}; bound ${a.boundMs / 1000}s`);
    }
  }
}
