/**
 * Carries out the effects a host machine asks for, after its new state is stored. Failures come back to the
 * host as events or as a retry with backoff; nothing here changes a host's state directly.
 */
import type { FleetSpec } from '../../state/spec.ts';
import type { Clock } from '../ports/clock.ts';
import type { Commands } from '../ports/commands.ts';
import type { Fleet, FleetRef, LifecycleResult } from '../ports/fleet.ts';
import type { Store } from '../ports/store.ts';
import type { Traffic } from '../ports/traffic.ts';
import type { Logger } from '../log.ts';
import type { HostCell } from './hostCell.ts';
import type { HostMailbox } from './mailbox.ts';
import type { SendBatcher } from './sendBatcher.ts';
import type { CommandPoller } from './commandPoller.ts';
import type { ReconcilerObserver } from './observer.ts';

export interface HostEffectsOptions {
  fleet: string;
  store: Store;
  fleetPort: Fleet;
  commands: Commands;
  traffic: Traffic;
  clock: Clock;
  log: Logger;
  observer: ReconcilerObserver | undefined;
  mailbox: HostMailbox;
  batcher: SendBatcher;
  poller: CommandPoller;
  /** the spec the reconciler acts on now */
  spec: () => FleetSpec;
  /** the host's effects are owed again later: queue a RESUME with backoff */
  retryLater: (cell: HostCell) => void;
  /** the revision a launching host is meant to run when let into service, by the latest spec read */
  launchTarget: () => string;
  /** the host's observation is stale: it is observed again at once */
  reobserve: (cell: HostCell) => void;
  pollMs: number;
  drainTimeoutMs: number;
  signal: AbortSignal;
}

const CONTROLLER = 'controller';

/** how long one findByAttempt answer serves the other hosts of its attempt */
const LOOKUP_KEPT_MS = 30_000;

export class HostEffects {
  private readonly lookups = new Map<string, Promise<string | null>>();

  constructor(private readonly o: HostEffectsOptions) {}

  /** The host's effects are owed again: a RESUME with backoff asks for them. */
  retryLater(cell: HostCell): void {
    this.o.retryLater(cell);
  }

  private now(): number {
    return this.o.clock.nowMs();
  }

  private ref(): FleetRef {
    const spec = this.o.spec();
    return { autoScalingGroupName: spec.autoScalingGroupName, lifecycleHookName: spec.lifecycleHookName };
  }

  async execute(cell: HostCell, action: { type: string; params?: unknown }): Promise<void> {
    const ctx = cell.snapshot.context;
    const id = cell.instanceId;
    const { batcher, poller, mailbox } = this.o;
    const log = this.o.log.child({ instanceId: id, attemptId: ctx.attemptId, commandId: ctx.commandId });
    switch (action.type) {
      case 'requestProbe':
        batcher.add('probe', id, this.o.spec().revision);
        return;
      case 'requestSync':
        if (ctx.targetRevision) batcher.add('sync', id, ctx.targetRevision);
        return;
      case 'resumeAttempt':
        await this.resumeAttempt(cell);
        return;
      case 'cancelOrphans': {
        const cancelled = await this.o.commands.cancelOrphans?.({ fleet: this.o.fleet, instanceId: id }) ?? 0;
        if (cancelled > 0) log.warn({ cancelled }, 'the host was busy with commands of this fleet nobody follows: cancelled them');
        return;
      }
      case 'cancelCommand': {
        // An attempt recorded whose command id was not: the command is looked up, it may be running.
        const sentAfterMs = ctx.deadlineMs === null ? undefined : ctx.deadlineMs - ctx.policy.syncTimeoutMs;
        const commandId = ctx.commandId ?? cell.persistedSnapshot.context.commandId
          ?? (ctx.attemptId ? await this.lookUp(ctx.attemptId, sentAfterMs) : null);
        poller.forget(id);
        batcher.remove(id);
        // A cancel that fails throws: the host stays in `cancelling` (holding its slot) and is resumed later.
        if (commandId) await this.o.commands.cancel({ commandId, instanceIds: [id] });
        mailbox.deliver(id, { type: 'CANCELLED', nowMs: this.now() });
        return;
      }
      case 'completeLifecycle': {
        const result = (action.params as { result: LifecycleResult }).result;
        const meant = this.o.launchTarget();
        if (result === 'CONTINUE' && ctx.reportedRevision !== meant) {
          // The spec moved on and this host has not been told yet (the pass that would have failed): it is
          // observed again, which sends it back to be synced, rather than let into service at the old revision.
          log.warn({ revision: ctx.reportedRevision, meant }, `not letting the host into service at ${ctx.reportedRevision}: ${meant} is meant for it now`);
          this.o.reobserve(cell);
          return;
        }
        try {
          await this.o.fleetPort.completeLifecycle({ ref: this.ref(), instanceId: id, result });
        } catch (error) {
          log.warn({ err: error, result }, 'could not complete the lifecycle action; retrying');
          this.o.retryLater(cell);
          return;
        }
        log.info({ result, revision: ctx.reportedRevision }, `lifecycle action completed: ${result}`);
        this.o.observer?.lifecycleCompleted?.(this.o.fleet, id, result);
        if (result === 'CONTINUE') mailbox.deliver(id, { type: 'LIFECYCLE_DONE', nowMs: this.now() });
        return;
      }
      case 'hostFailed':
        log.warn({ revision: ctx.failedRevision, reason: ctx.lastError, attempts: ctx.attempt }, `host failed: ${ctx.lastError}`);
        await this.o.store.appendHistory(this.o.fleet, {
          type: 'hostFailed', atMs: this.now(), actor: CONTROLLER, instanceId: id, revision: ctx.failedRevision ?? undefined,
          reason: ctx.lastError ?? undefined, message: `${id} failed at ${ctx.failedRevision} after ${ctx.attempt} attempt(s)`,
        });
        return;
      case 'quarantine':
        log.warn('host quarantined: it keeps its current revision and is left out of the rollout until a retry or a new revision');
        return;
      case 'deregister':
        await this.drain(cell);
        return;
      case 'register':
        await this.o.traffic.register({ targetGroupArns: this.o.spec().targetGroupArns, instanceIds: [id] });
        mailbox.deliver(id, { type: 'RESTORED', nowMs: this.now() });
        return;
      default:
        return;
    }
  }

  private async resumeAttempt(cell: HostCell): Promise<void> {
    const ctx = cell.snapshot.context;
    const id = cell.instanceId;
    if (ctx.commandId) {
      this.o.poller.track({ commandId: ctx.commandId, mode: 'sync', instanceIds: [id], ...(ctx.attemptId ? { attemptId: ctx.attemptId } : {}) });
      return;
    }
    if (ctx.attemptId) {
      // The attempt was recorded but not its command: a command may have gone out just before a crash.
      const attemptId = ctx.attemptId;
      const sentAfterMs = ctx.deadlineMs === null ? undefined : ctx.deadlineMs - ctx.policy.syncTimeoutMs;
      const commandId = await this.lookUp(attemptId, sentAfterMs);
      if (commandId) {
        this.o.log.info({ instanceId: id, attemptId, commandId }, 'adopted the command of an attempt recorded before a restart');
        this.o.poller.track({ commandId, mode: 'sync', instanceIds: [id], attemptId });
        // Effects run once the host's lock is free again, so the command id can be stored now.
        await this.o.mailbox.deliverNow(id, { type: 'SENT', nowMs: this.now(), commandId });
        return;
      }
      // Never sent: send it now under the same attempt, rather than wait for its deadline and lose the attempt.
      if (ctx.targetRevision) {
        this.lookups.delete(attemptId);
        this.o.batcher.resend(id, attemptId, ctx.targetRevision);
      }
      return;
    }
    if (ctx.targetRevision) this.o.batcher.add('sync', id, ctx.targetRevision);
  }

  /**
   * findByAttempt, once per attempt however many of its hosts ask (up to 50 share one): the lookup pages
   * through the fleet's recent commands. A failed lookup is forgotten so the next asks again.
   */
  private lookUp(attemptId: string, sentAfterMs: number | undefined): Promise<string | null> {
    let lookup = this.lookups.get(attemptId);
    if (!lookup) {
      lookup = this.o.commands.findByAttempt({ fleet: this.o.fleet, attemptId, ...(sentAfterMs !== undefined ? { sentAfterMs } : {}) });
      this.lookups.set(attemptId, lookup);
      lookup.catch(() => this.lookups.delete(attemptId));
      // Kept briefly: hosts resumed together share it; a later resume (after a resend) asks again.
      this.o.clock.setTimer(LOOKUP_KEPT_MS, () => this.lookups.delete(attemptId));
    }
    return lookup;
  }

  private async drain(cell: HostCell): Promise<void> {
    const arns = this.o.spec().targetGroupArns;
    const id = cell.instanceId;
    await this.o.traffic.deregister({ targetGroupArns: arns, instanceIds: [id] });
    const deadline = this.now() + this.o.drainTimeoutMs;
    while (this.now() < deadline && !this.o.signal.aborted) {
      const health = await this.o.traffic.health(arns, this.o.signal);
      if (health.get(id) !== 'draining') break;
      await this.o.clock.sleep(Math.min(5_000, this.o.pollMs), this.o.signal);
    }
    this.o.mailbox.deliver(id, { type: 'DRAINED', nowMs: this.now() });
  }
}
