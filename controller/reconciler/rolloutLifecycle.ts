/**
 * A rollout's lifecycle and its history: started (on a new generation), finished (every host at the
 * revision), halted (maxFailures reached) and, with autoRollback, rolled back. The reconciler observes, plans
 * and persists hosts; it tells this module when each of these happens.
 */
import type { RolloutPlan } from '../../state/rollout.ts';
import type { FleetSpec, FleetStatus, RolloutRecord } from '../../state/spec.ts';
import { formatSize } from '../../state/format.ts';
import type { StepEvent } from '../../state/steps.ts';
import type { Artifacts } from '../ports/artifacts.ts';
import type { Clock } from '../ports/clock.ts';
import { isLaunching, isLeaving, isWarm, type Instance } from '../ports/fleet.ts';
import type { FleetRecord, HistoryEvent, Store } from '../ports/store.ts';
import { ConflictError } from '../errors.ts';
import type { Logger } from '../log.ts';

export interface RolloutLifecycleOptions {
  fleet: string;
  store: Store;
  clock: Clock;
  /** carries the fleet already (a child logger) */
  log: Logger;
  signal: AbortSignal;
  artifacts?: Artifacts | undefined;
}

const CONTROLLER = 'controller';
/** how long a spec change's own history event may lag behind it (the CLI writes it right after the spec) */
const CHANGE_EVENT_GRACE_MS = 1_000;

export class RolloutLifecycle {
  /** the revision whose halt (and rollback) is recorded, so it is not recorded again */
  private haltRecordedFor: string | null = null;
  private haltInFlight = false;

  constructor(private readonly o: RolloutLifecycleOptions) {}

  private now(): number {
    return this.o.clock.nowMs();
  }

  private append(event: Omit<HistoryEvent, 'actor' | 'atMs'> & { atMs?: number }): Promise<void> {
    return this.o.store.appendHistory(this.o.fleet, { atMs: this.now(), actor: CONTROLLER, ...event });
  }

  /**
   * A new generation of the spec: the status it starts from, with a new rollout record when the revision
   * changed (recorded in history), or the running one carried over.
   */
  async newGeneration(fleet: FleetRecord, previous: FleetStatus | null, instances: Instance[]): Promise<FleetStatus> {
    const revision = fleet.spec.revision;
    const inService = instances.filter((i) => !isLaunching(i.lifecycleState) && !isLeaving(i.lifecycleState)
      && !isWarm(i.lifecycleState)).length;
    const sameRollout = previous?.rollout?.revision === revision;
    let rollout: RolloutRecord;
    if (sameRollout && previous?.rollout) {
      // A new generation (a retry, a resume, an edit) lifts a halt: the plan decides again from the hosts.
      const { haltedAtMs: _lifted, ...running } = previous.rollout;
      rollout = { ...running, generation: fleet.generation };
    } else {
      rollout = { revision, generation: fleet.generation, startedAtMs: this.now(), inServiceAtStart: inService };
    }
    const status: FleetStatus = {
      observedGeneration: fleet.generation,
      revision: previous?.revision,
      lastAttemptedRevision: revision,
      hostCounts: previous?.hostCounts ?? { total: 0, inSync: 0, syncing: 0, queued: 0, failed: 0, launching: 0 },
      conditions: previous?.conditions ?? [],
      rollout,
      updatedAtMs: this.now(),
    };
    this.haltRecordedFor = null;
    await this.recordChange(fleet);
    if (this.o.signal.aborted || sameRollout) return status;
    const artifact = await this.checkRevision(fleet.spec);
    if (artifact.size) Object.assign(rollout, artifact.size);
    // The rollout starts when it is recorded, after the change that asked for it: its duration counts from here.
    rollout.startedAtMs = this.now();
    this.o.log.info({ revision, generation: fleet.generation, inService, ...artifact.size }, `rollout of ${revision} started`);
    await this.append({
      type: 'rolloutStarted', atMs: rollout.startedAtMs, revision, generation: fleet.generation,
      message: `rollout of ${revision}${artifact.size ? ` (${formatSize(artifact.size)})` : ''} started over ${inService} in-service host(s)`
        + (artifact.warning ? `; warning: ${artifact.warning}` : ''),
    });
    return status;
  }

  /** The CLI writes the spec first and its event after; a spec change that came without one gets one here. */
  private async recordChange(fleet: FleetRecord): Promise<void> {
    const recorded = async (): Promise<boolean> => (await this.o.store.listHistory(this.o.fleet, { limit: 20 }))
      .some((e) => e.generation === fleet.generation);
    if (await recorded()) return;
    // Seen between the CLI's two writes: its event follows within moments. Waiting for it keeps the change
    // ahead of the rollout it starts in history, and keeps it from being recorded twice.
    await this.o.clock.sleep(CHANGE_EVENT_GRACE_MS, this.o.signal).catch(() => undefined);
    if (this.o.signal.aborted || await recorded()) return;
    await this.append({
      type: 'apply', generation: fleet.generation, revision: fleet.spec.revision,
      message: `generation ${fleet.generation} observed with no recorded change: recorded by the controller`,
    });
  }

  /**
   * The revision's size from its manifest, and a warning when it cannot be deployed (a deploy with --force, or
   * a source the controller cannot read). The rollout goes on either way: hosts report their own failures, and
   * maxFailures halts it; a launching host is never held back on this check.
   */
  private async checkRevision(spec: FleetSpec): Promise<{ size?: { files: number; bytes: number }; warning?: string }> {
    if (!this.o.artifacts) return {};
    try {
      const check = await this.o.artifacts.check({ source: spec.source, revision: spec.revision });
      if (!check.exists) {
        const warning = check.problem ?? `revision ${spec.revision} was not found at ${check.where}`;
        this.o.log.warn({ revision: spec.revision }, warning);
        return { warning };
      }
      return check.files !== undefined && check.bytes !== undefined ? { size: { files: check.files, bytes: check.bytes } } : {};
    } catch (error) {
      this.o.log.warn({ revision: spec.revision, err: error }, 'could not check the revision in its source');
      return {};
    }
  }

  /** The status that finished the rollout is stored: the rollout's end goes in history. */
  async finished(args: { fleet: FleetRecord; rollout: RolloutRecord; hosts: number }): Promise<void> {
    const { fleet, rollout, hosts } = args;
    const revision = fleet.spec.revision;
    const durationMs = this.now() - rollout.startedAtMs;
    this.o.log.info({ revision, generation: fleet.generation, hosts, durationMs }, `rollout of ${revision} finished`);
    await this.append({
      type: 'rolloutFinished', revision, generation: fleet.generation, durationMs,
      message: `every host runs ${revision} (${hosts} host(s), ${Math.round(durationMs / 1000)}s)`,
    });
  }

  /** A stepped rollout started, finished, paused or was promoted past a step: each goes in history. */
  async steps(args: { fleet: FleetRecord; events: StepEvent[] }): Promise<void> {
    const { fleet } = args;
    const revision = fleet.spec.revision;
    for (const e of args.events) {
      const step = `step ${e.index + 1}/${e.count}`;
      const base = { revision, generation: fleet.generation };
      switch (e.type) {
        case 'stepStarted':
          this.o.log.info({ revision, step: e.index + 1, steps: e.count, hosts: e.hosts }, `${step} of the rollout of ${revision} started`);
          await this.append({ ...base, type: 'stepStarted', message: `${step} of the rollout of ${revision} started: ${e.hosts} in-service host(s) at ${revision} when it is done` });
          break;
        case 'stepFinished':
          this.o.log.info({ revision, step: e.index + 1, hosts: e.hosts, durationMs: e.durationMs }, `${step} of the rollout of ${revision} done`);
          await this.append({
            ...base, type: 'stepFinished', durationMs: e.durationMs,
            message: `${step} of the rollout of ${revision} done: ${e.hosts - e.failed} in-service host(s) in sync at ${revision}`
              + `${e.failed > 0 ? `, ${e.failed} failed (under maxFailures)` : ''} after ${Math.round(e.durationMs / 1000)}s`,
          });
          break;
        case 'stepPaused':
          await this.append({
            ...base, type: 'stepPaused',
            message: `rollout of ${revision} pauses after ${step} until ${new Date(e.untilMs).toISOString()} (fleetsync promote ${this.o.fleet} goes on now)`,
          });
          break;
        case 'stepPromoted':
          await this.append({ ...base, type: 'stepPromoted', message: `the pause after ${step} of the rollout of ${revision} was cut short by a promote` });
          break;
      }
    }
  }

  /**
   * The plan says halted: records it once per revision and, with autoRollback, sets the spec back. Returns
   * true when the spec was rolled back (the caller runs a pass at once). Only a complete run counts: after a
   * transient error, the next plan tries again.
   */
  async halted(args: { fleet: FleetRecord; plan: RolloutPlan; status: FleetStatus | null }): Promise<boolean> {
    const { fleet, plan } = args;
    const revision = fleet.spec.revision;
    if (this.haltRecordedFor === revision || this.haltInFlight) return false;
    this.haltInFlight = true;
    try {
      const rolledBack = await this.recordHalt(fleet, plan, args.status?.rollout?.startedAtMs ?? 0);
      this.haltRecordedFor = revision;
      return rolledBack;
    } finally {
      this.haltInFlight = false;
    }
  }

  private async recordHalt(fleet: FleetRecord, plan: RolloutPlan, since: number): Promise<boolean> {
    const revision = fleet.spec.revision;
    const reason = `${plan.failedAtDesired} host(s) failed at ${revision} (maxFailures ${fleet.spec.rollout.maxFailures})`;
    const recent = await this.o.store.listHistory(this.o.fleet, { limit: 50 });
    // A leader that took over after the halt was recorded does not record it again, but still rolls back.
    if (!recent.some((e) => e.type === 'halted' && e.revision === revision && e.atMs >= since)) {
      this.o.log.warn({ revision, failed: plan.failedAtDesired }, `rollout halted: ${reason}`);
      await this.append({
        type: 'halted', revision, generation: fleet.generation, reason, message: `rollout of ${revision} halted: no new in-service syncs`,
      });
    }
    if (!plan.rollbackTo) return false;
    let updated: FleetRecord;
    try {
      updated = await this.o.store.putFleetSpec({
        name: this.o.fleet, spec: { ...fleet.spec, revision: plan.rollbackTo }, expectedGeneration: fleet.generation, nowMs: this.now(),
      });
    } catch (error) {
      // The spec changed meanwhile (an operator acted): their change wins, and the next pass looks again.
      if (error instanceof ConflictError) {
        this.o.log.info({ revision }, 'auto rollback skipped: the spec changed meanwhile');
        return false;
      }
      throw error;
    }
    await this.append({
      type: 'autoRollback', revision: plan.rollbackTo, generation: updated.generation, reason,
      message: `rolled back from ${revision} to ${plan.rollbackTo}`,
    });
    return true;
  }
}
