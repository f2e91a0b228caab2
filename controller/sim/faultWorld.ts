/**
 * The world events of a fault plan, carried out on the simulated world at their times, and how each command
 * runs on each host under the plan (per-host sync times, hung and failing syncs, offline agents).
 */
import type { Clock } from '../ports/clock.ts';
import type { HostRun } from './simCommands.ts';
import type { FaultPlan, WorldEvent } from './faultPlan.ts';
import type { PortFaults } from './portFaults.ts';
import type { SimWorld } from './simWorld.ts';
import type { Logger } from '../log.ts';

/** what the simulation does for the events that reach past the world: controllers and the spec */
export interface FaultActors {
  crash(controller: number): void;
  zombie(controller: number, forMs: number): void;
  partition(controller: number, forMs: number): void;
  /** the controller hands every fleet it leads over, as one over its fair share does */
  handOver(controller: number): void;
  bump(): Promise<void>;
  setPaused(paused: boolean): Promise<void>;
  retry(instanceId: string): Promise<void>;
  malformed(forMs: number): Promise<void>;
  promote(): Promise<void>;
}

/** A terminated instance's replacement launches this long after it (the group's health check and launch). */
const REPLACEMENT_DELAY_MS = 10_000;

/** A stable share in [0, 1) per host and seed, so a host's sync time does not depend on when it is asked. */
function hostShare(instanceId: string, seed: number): number {
  let h = seed >>> 0;
  for (let i = 0; i < instanceId.length; i++) h = Math.imul(h ^ instanceId.charCodeAt(i), 0x01000193) >>> 0;
  return (h % 10_000) / 10_000;
}

export class FaultWorld {
  private readonly hangs = new Set<string>();
  private readonly failing = new Set<string>();
  private readonly slow = new Map<string, number>();
  /** faults that cost a host an attempt, so no host is failed by the plan alone (maxAttempts - 1 at most) */
  private readonly attemptFaults = new Map<string, number>();
  private stopAtMs = Number.POSITIVE_INFINITY;

  constructor(private readonly o: {
    plan: FaultPlan; world: SimWorld; clock: Clock; faults: PortFaults; actors: FaultActors; maxAttempts: number; log: Logger;
  }) {}

  /** The longest sync the plan can make, for the convergence bound. */
  maxSyncMs(baseMs: number): number {
    const slowest = Math.max(0, ...this.o.plan.events.map((e) => (e.kind === 'slowCheck' ? e.extraMs : 0)));
    return Math.ceil(baseMs * (1 + this.o.plan.syncSpread / 2)) + slowest;
  }

  readonly hostRun = (args: { instanceId: string; mode: 'sync' | 'probe'; durationMs: number }): HostRun => {
    const { instanceId, mode } = args;
    const inst = this.o.world.instances.get(instanceId);
    const now = this.o.clock.nowMs();
    const startAtMs = inst && inst.agentOnlineAtMs > now ? inst.agentOnlineAtMs : now;
    if (mode !== 'sync') return { startAtMs };
    if (now >= this.stopAtMs) {
      // Faults have stopped: a hang or failure armed for a sync that had not started yet is dropped with them.
      this.hangs.clear();
      this.failing.clear();
      this.slow.clear();
    }
    const factor = 1 + this.o.plan.syncSpread * (hostShare(instanceId, this.o.plan.seed) - 0.5);
    const durationMs = Math.round(args.durationMs * factor) + (this.slow.get(instanceId) ?? 0);
    this.slow.delete(instanceId);
    const hangs = this.hangs.delete(instanceId);
    const fails = this.failing.delete(instanceId);
    return { startAtMs, durationMs, hangs, fails };
  };

  /** Sets a timer for every event, counted from now (the deploy). */
  schedule(): void {
    this.stopAtMs = this.o.clock.nowMs() + this.o.plan.stopAtMs;
    for (const event of this.o.plan.events) {
      this.o.clock.setTimer(event.atMs, () => {
        this.apply(event).catch((error: unknown) => this.o.log.warn({ err: error, event }, 'fault event could not be applied'));
      });
    }
  }

  private inService(): string[] {
    return this.o.world.live().filter((i) => i.lifecycleState === 'InService').map((i) => i.instanceId).sort();
  }

  private pick(index: number): string | null {
    const ids = this.inService();
    return ids.length === 0 ? null : ids[index % ids.length]!;
  }

  private costsAttempt(instanceId: string): boolean {
    const spent = this.attemptFaults.get(instanceId) ?? 0;
    if (spent >= this.o.maxAttempts - 1) return false;
    this.attemptFaults.set(instanceId, spent + 1);
    return true;
  }

  private async apply(event: WorldEvent): Promise<void> {
    const { world, faults, actors } = this.o;
    switch (event.kind) {
      case 'terminate': {
        const id = this.pick(event.host);
        if (!id) return;
        world.terminate(id);
        this.o.clock.setTimer(REPLACEMENT_DELAY_MS, () => world.launch(1));
        break;
      }
      case 'scaleOut':
        // from the warm pool first, when the group has one (without, the same launches as ever)
        world.scaleOut(event.count);
        break;
      case 'scaleIn': {
        const ids = this.inService();
        for (const id of ids.slice(Math.max(1, ids.length - event.count))) world.terminate(id);
        break;
      }
      case 'agentOffline': {
        const id = this.pick(event.host);
        const inst = id ? world.instances.get(id) : undefined;
        if (!inst) return;
        inst.agentOnlineAtMs = Math.max(inst.agentOnlineAtMs, this.o.clock.nowMs() + event.forMs);
        break;
      }
      case 'syncHang': case 'failingCheck': {
        const id = this.pick(event.host);
        if (!id || !this.costsAttempt(id)) return;
        (event.kind === 'syncHang' ? this.hangs : this.failing).add(id);
        break;
      }
      case 'slowCheck': {
        const id = this.pick(event.host);
        if (!id) return;
        this.slow.set(id, event.extraMs);
        break;
      }
      case 'crash':
        actors.crash(event.controller);
        break;
      case 'zombie':
        actors.zombie(event.controller, event.forMs);
        break;
      case 'partition':
        actors.partition(event.controller, event.forMs);
        break;
      case 'handOver':
        actors.handOver(event.controller);
        break;
      case 'bump':
        await actors.bump();
        break;
      case 'pause':
        await actors.setPaused(true);
        this.o.clock.setTimer(event.forMs, () => {
          actors.setPaused(false).catch((error: unknown) => this.o.log.warn({ err: error }, 'resume failed'));
        });
        break;
      case 'retry': {
        const id = this.pick(event.host);
        if (!id) return;
        await actors.retry(id);
        break;
      }
      case 'malformedSpec':
        await actors.malformed(event.forMs);
        break;
      case 'promote':
        await actors.promote();
        break;
    }
    faults.count(event.kind);
  }
}
