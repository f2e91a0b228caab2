/**
 * The level-triggered reconciler of one fleet, run by its leader. Each pass reads the spec, observes the
 * whole group with a bounded number of list calls, diffs desired against observed and enqueues the hosts
 * whose state must change. Workers apply events to host machines, persist the result (fenced by the lease
 * token), and only then carry out the effects the machine asked for.
 */
import { setMaxListeners } from 'node:events';
import { initialTransition } from 'xstate';
import { fromRecord, hostMachine, toRecord, transition, type HostEvent, type HostPolicy } from '../../state/hostMachine.ts';
import { planRollout, type RolloutHost, type RolloutPlan } from '../../state/rollout.ts';
import { nextFleetStatus } from '../../state/fleetStatus.ts';
import { planSteps, type StepPlan } from '../../state/steps.ts';
import type { Artifacts } from '../ports/artifacts.ts';
import type { FleetStatus } from '../../state/spec.ts';
import type { HostContext, HostState } from '../../state/host.ts';
import type { Clock, Random } from '../ports/clock.ts';
import type { Commands, SyncParams } from '../ports/commands.ts';
import { isLaunching, isLeaving, leftWarmPool, type Fleet, type FleetRef, type Instance } from '../ports/fleet.ts';
import type { FleetRecord, Lease, Store } from '../ports/store.ts';
import type { Traffic } from '../ports/traffic.ts';
import type { LaunchEvents } from '../ports/launchEvents.ts';
import { MalformedItemError, StaleTokenError } from '../errors.ts';
import { WorkQueue, runWorkers } from '../workqueue/workQueue.ts';
import { ExponentialFailureRateLimiter } from '../workqueue/rateLimiter.ts';
import type { Logger } from '../log.ts';
import { HostCell } from './hostCell.ts';
import type { HostMailbox } from './mailbox.ts';
import { SendBatcher } from './sendBatcher.ts';
import { CommandPoller } from './commandPoller.ts';
import { HostEffects } from './hostEffects.ts';
import type { AttemptOutcome, ReconcilerObserver } from './observer.ts';
import { endedAttempt, logAttempt, type EndedAttempt } from './attempts.ts';
import type { ReconcilerSettings } from './settings.ts';
import { RolloutLifecycle } from './rolloutLifecycle.ts';
import { ACTING, fenced } from './fence.ts';
import { LifecycleHeartbeats } from './heartbeats.ts';
import { LaunchListener } from './launchListener.ts';

export interface FleetReconcilerOptions {
  fleet: string;
  lease: Lease;
  /**
   * the last spec of this fleet this process read (an earlier leader term): its group and hook keep launch
   * hooks alive while the stored spec cannot be read
   */
  lastKnownSpec?: FleetRecord | undefined;
  /** told of every spec read, so the next term of this process can have it as lastKnownSpec */
  onSpecRead?: (record: FleetRecord) => void;
  /** the other fleets that name this fleet's Auto Scaling group (from the manager's last scan) */
  sharingGroup?: (fleet: FleetRecord) => string[];
  /** whether the lease may still be held (the leader's renew deadline has not passed); checked before each act */
  leaseHeld?: () => boolean;
  store: Store;
  fleetPort: Fleet;
  commands: Commands;
  traffic: Traffic;
  clock: Clock;
  random: Random;
  settings: ReconcilerSettings;
  log: Logger;
  observer?: ReconcilerObserver;
  /** looked at once per rollout: the revision's size goes in status and history */
  artifacts?: Artifacts;
  /** followed while this reconciler runs (only under the lease): a launch is observed at once */
  launchEvents?: LaunchEvents;
}

type Action = ReturnType<typeof transition>[1][number];


/** the first retry of a failed pass; doubled per failure in a row, up to one resync */
const PASS_RETRY_BASE_MS = 1_000;

export class FleetReconciler implements HostMailbox {
  private readonly cells = new Map<string, HostCell>();
  private readonly queue: WorkQueue<string>;
  private readonly pendingGrants = new Set<string>();
  private readonly batcher: SendBatcher;
  private readonly poller: CommandPoller;
  private readonly effects: HostEffects;
  private readonly lifecycle: RolloutLifecycle;
  private readonly heartbeats: LifecycleHeartbeats;
  private readonly launches: LaunchListener | null;
  private readonly abort = new AbortController();
  private readonly work = new Set<Promise<void>>();
  private spec: FleetRecord | null = null;
  private status: FleetStatus | null = null;
  private statusJson = '';
  private statusWrittenAtMs = -Infinity;
  private plan: RolloutPlan | null = null;
  private stepPlan: StepPlan | null = null;
  private planTimer: (() => void) | null = null;
  /** the end of a step's pause: the plan looks again then */
  private stepTimer: { atMs: number; cancel: () => void } | null = null;
  private passTimer: (() => void) | null = null;
  private passFailures = 0;
  private statusTimer: (() => void) | null = null;
  private readonly log: Logger;

  private readonly o: FleetReconcilerOptions;

  constructor(options: FleetReconcilerOptions) {
    const held = options.leaseHeld ?? ((): boolean => true);
    const o: FleetReconcilerOptions = {
      ...options,
      store: fenced({ target: options.store, acts: ACTING.store, held, what: 'store' }),
      commands: fenced({ target: options.commands, acts: ACTING.commands, held, what: 'commands' }),
      fleetPort: fenced({ target: options.fleetPort, acts: ACTING.fleet, held, what: 'fleet' }),
      traffic: fenced({ target: options.traffic, acts: ACTING.traffic, held, what: 'traffic' }),
    };
    this.o = o;
    // Every draining host's wait and every in-flight call listens on this one signal: many at once is normal.
    setMaxListeners(0, this.abort.signal);
    this.log = o.log.child({ fleet: o.fleet });
    this.queue = new WorkQueue<string>({
      clock: o.clock,
      rateLimiter: new ExponentialFailureRateLimiter({ baseMs: 1_000, maxMs: 60_000, random: o.random }),
    });
    const track = (p: Promise<void>): void => this.track(p);
    this.poller = new CommandPoller({
      fleet: o.fleet, clock: o.clock, random: o.random, commands: o.commands, mailbox: this, pollMs: o.settings.pollMs,
      log: this.log, signal: this.abort.signal, track,
      onResult: (instanceId, commandId, result) => {
        const cell = this.cells.get(instanceId);
        if (cell) cell.lastInvocation = { commandId, result };
      },
    });
    this.batcher = new SendBatcher({
      fleet: o.fleet, clock: o.clock, random: o.random, commands: o.commands, mailbox: this, poller: this.poller,
      windowMs: o.settings.batchWindowMs, attemptPrefix: String(o.lease.token), log: this.log, signal: this.abort.signal,
      track, paramsFor: (revision) => this.paramsFor(revision),
      timeoutSeconds: () => this.spec?.spec.rollout.syncTimeoutSeconds ?? 900,
    });
    this.lifecycle = new RolloutLifecycle({
      fleet: o.fleet, store: o.store, clock: o.clock, log: this.log, signal: this.abort.signal, artifacts: o.artifacts,
    });
    this.heartbeats = new LifecycleHeartbeats({
      fleetPort: o.fleetPort, clock: o.clock, log: this.log, defaultIntervalMs: o.settings.heartbeatIntervalMs,
      ref: () => this.hookRef(), signal: this.abort.signal, track,
      // a waiting instance this term has not observed yet (the spec unreadable) is kept waiting too; a parked
      // warm one has no hook of ours open
      wanted: (id) => {
        const cell = this.cells.get(id);
        return cell === undefined || !['failed', 'completing', 'gone', 'warm'].includes(cell.state);
      },
    });
    this.effects = new HostEffects({
      fleet: o.fleet, store: o.store, fleetPort: o.fleetPort, commands: o.commands, traffic: o.traffic, clock: o.clock,
      log: this.log, observer: o.observer, mailbox: this, batcher: this.batcher, poller: this.poller,
      spec: () => this.spec!.spec, pollMs: o.settings.pollMs, drainTimeoutMs: o.settings.drainTimeoutMs, signal: this.abort.signal,
      retryLater: (cell) => this.retryLater(cell.instanceId),
      launchTarget: () => this.computePlan().launchTarget,
      reobserve: (cell) => {
        cell.observationKey = '';
        this.passSoon();
      },
    });
    this.launches = o.launchEvents ? new LaunchListener({
      launchEvents: o.launchEvents, clock: o.clock, log: this.log, signal: this.abort.signal, track,
      observe: () => this.safePass(), stateOf: (id) => this.cells.get(id)?.state ?? null,
      followUpMs: o.settings.pollMs, followUpForMs: o.settings.agentWaitMs, unseenForMs: o.settings.resyncMs,
    }) : null;
  }

  /** Runs until `signal` aborts (leadership lost or shutdown). */
  async run(signal: AbortSignal): Promise<void> {
    const onAbort = (): void => this.abort.abort(signal.reason);
    if (signal.aborted) return;
    signal.addEventListener('abort', onAbort, { once: true });
    const workers = runWorkers({
      queue: this.queue,
      concurrency: this.o.settings.workers,
      handle: (id) => this.processHost(id),
      onError: (id, error) => this.onHostError(id, error),
    });
    this.o.observer?.reconcilerStarted?.(this.o.fleet, {
      queueDepth: () => this.queue.depth(), retries: () => this.queue.retries, commandsInFlight: () => this.poller.commandsInFlight(),
    });
    try {
      this.restored = await this.load();
      await this.safePass();
      await Promise.all([this.loop(this.o.settings.resyncMs, () => this.safePass()), this.loop(this.o.settings.specPollMs, () => this.checkSpec())]);
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.abort.abort();
      this.queue.shutdown();
      this.batcher.stop();
      this.poller.stop();
      this.planTimer?.();
      this.stepTimer?.cancel();
      this.passTimer?.();
      this.statusTimer?.();
      this.heartbeats.stop();
      this.launches?.stop();
      await workers;
      await Promise.allSettled([...this.work]);
      this.o.observer?.reconcilerStopped?.(this.o.fleet);
    }
  }

  // ---- HostMailbox -------------------------------------------------------------------------------------------

  deliver(instanceId: string, event: HostEvent): void {
    const cell = this.cells.get(instanceId);
    if (!cell || this.abort.signal.aborted) return;
    cell.pending.push(event);
    this.queue.add(instanceId);
  }

  async deliverNow(instanceId: string, event: HostEvent): Promise<void> {
    const cell = this.cells.get(instanceId);
    if (!cell) return;
    cell.pending.push(event);
    try {
      await this.processHost(instanceId);
    } catch (error) {
      // The caller acts on the failure (an attempt not recorded is not sent): the event must not be applied later.
      const at = cell.pending.indexOf(event);
      if (at >= 0) cell.pending.splice(at, 1);
      if (cell.pending.length > 0 && !this.abort.signal.aborted) this.queue.addRateLimited(instanceId);
      throw error;
    }
  }

  retryLater(instanceId: string): void {
    const cell = this.cells.get(instanceId);
    if (!cell || this.abort.signal.aborted) return;
    cell.pending.push({ type: 'RESUME', nowMs: this.now() });
    this.queue.addRateLimited(instanceId);
  }

  peek(instanceId: string): { state: string; context: HostContext } | null {
    const cell = this.cells.get(instanceId);
    return cell ? { state: cell.state, context: cell.snapshot.context } : null;
  }

  // ---- loops -------------------------------------------------------------------------------------------------

  private now(): number {
    return this.o.clock.nowMs();
  }

  private track(p: Promise<void>): void {
    const tracked = p.catch((error: unknown) => this.onBackgroundError(error)).finally(() => this.work.delete(tracked));
    this.work.add(tracked);
  }

  private async loop(intervalMs: number, fn: () => Promise<void>): Promise<void> {
    while (!this.abort.signal.aborted) {
      try {
        await this.o.clock.sleep(intervalMs, this.abort.signal);
      } catch {
        return;
      }
      await fn();
    }
  }

  private onBackgroundError(error: unknown): void {
    if (error instanceof StaleTokenError) {
      this.log.warn({ err: error }, 'a newer leader wrote this fleet: stepping down');
      this.abort.abort(error);
      return;
    }
    this.log.error({ err: error }, 'background work failed');
  }

  private passRunning: Promise<void> | null = null;
  private passWanted = false;

  /**
   * One pass at a time: a spec change's pass and the resync's could otherwise run together, both see the new
   * generation before either recorded it, and start its rollout twice. A pass asked for meanwhile runs after.
   */
  private safePass(): Promise<void> {
    if (this.passRunning) {
      this.passWanted = true;
      return this.passRunning;
    }
    this.passRunning = (async () => {
      try {
        do {
          this.passWanted = false;
          await this.onePass();
        } while (this.passWanted && !this.abort.signal.aborted);
      } finally {
        this.passRunning = null;
      }
    })();
    return this.passRunning;
  }

  private async onePass(): Promise<void> {
    const started = this.now();
    try {
      await this.pass();
    } catch (error) {
      if (error instanceof StaleTokenError) {
        this.onBackgroundError(error);
        return;
      }
      if (error instanceof MalformedItemError) {
        await this.onMalformedSpec(error);
        await this.keepHooksAlive();
        return;
      }
      this.passFailures += 1;
      this.log.warn({ err: error }, 'reconcile pass failed; trying again shortly');
      this.passSoon();
      return;
    }
    this.passFailures = 0;
    this.o.observer?.passFinished?.(this.o.fleet, this.now() - started);
  }

  /**
   * A pass before the next resync: after a failed one (with backoff, so a failing store is not hammered), or
   * for a host whose observation is stale. One at a time.
   */
  private passSoon(): void {
    if (this.passTimer || this.abort.signal.aborted) return;
    const delayMs = Math.min(this.o.settings.resyncMs, PASS_RETRY_BASE_MS * 2 ** Math.min(Math.max(0, this.passFailures - 1), 10));
    this.passTimer = this.o.clock.setTimer(delayMs, () => {
      this.passTimer = null;
      this.track(this.safePass());
    });
  }

  /**
   * A spec item nobody can read (edited by hand): no new attempt starts, running ones finish, and the problem
   * shows on the fleet's status and in the log until the spec is fixed (`fleetsync fleet apply`).
   */
  private async onMalformedSpec(error: MalformedItemError): Promise<void> {
    await this.refuse(`spec item: ${error.message}`, 'the fleet spec cannot be read: no new attempts until it is fixed');
  }

  /** A problem that stops new attempts until it is fixed: on the status (a fresh one if none) and in the log. */
  private async refuse(problem: string, logMessage: string): Promise<void> {
    if (this.specError !== problem) this.log.error({ problem }, logMessage);
    this.specError = problem;
    const base: FleetStatus = this.status ?? {
      observedGeneration: 0, hostCounts: { total: 0, inSync: 0, syncing: 0, queued: 0, failed: 0, launching: 0 }, conditions: [],
      updatedAtMs: this.now(),
    };
    if (base.errors?.includes(problem)) return;
    const status: FleetStatus = { ...base, errors: [...(base.errors ?? []), problem], updatedAtMs: this.now() };
    await this.o.store.putStatus({ fleet: this.o.fleet, status, token: this.o.lease.token });
    this.status = status;
    this.statusJson = '';
  }

  private specError: string | null = null;
  /** hosts restored from the store, waiting for this leader's first observation to resume */
  private restored: string[] = [];

  private async checkSpec(): Promise<void> {
    try {
      const fleet = await this.o.store.getFleet(this.o.fleet);
      if (fleet && fleet.generation !== this.spec?.generation) await this.safePass();
    } catch (error) {
      this.log.warn({ err: error }, 'could not read the fleet spec');
    }
  }

  // ---- load and pass -----------------------------------------------------------------------------------------

  /** Resumes from the store: a new leader continues where the last one stopped. */
  private async load(): Promise<string[]> {
    this.status = await this.o.store.getStatus(this.o.fleet).catch((error: unknown) => {
      this.log.warn({ err: error }, 'fleet status unreadable; starting a fresh one');
      return null;
    });
    // The claim raises every item's token to this leader's, so a deposed leader's late writes are refused, and
    // reads the items as they are at that instant: what it wrote before the claim is resumed, not overwritten.
    const { hosts, malformed } = await this.o.store.claimFleet({ fleet: this.o.fleet, token: this.o.lease.token });
    for (const bad of malformed) this.log.error({ key: bad.key, problem: bad.error }, 'malformed host item skipped');
    this.malformed = malformed.map((m) => `${m.key}: ${m.error}`);
    for (const record of hosts) {
      const cell = new HostCell(record.instanceId, fromRecord(hostMachine, record, this.policy()));
      cell.persistedJson = JSON.stringify(record);
      this.cells.set(record.instanceId, cell);
    }
    return hosts.map((h) => h.instanceId);
  }

  private malformed: string[] = [];

  private policy(): HostPolicy {
    const rollout = this.spec?.spec.rollout;
    const s = this.o.settings;
    return {
      maxAttempts: rollout?.maxAttempts ?? 3,
      syncTimeoutMs: (rollout?.syncTimeoutSeconds ?? 900) * 1000,
      backoffBaseMs: s.backoffBaseMs,
      backoffCapMs: s.backoffCapMs,
      agentWaitMs: s.agentWaitMs,
      drain: (rollout?.drain ?? false) && (this.spec?.spec.targetGroupArns.length ?? 0) > 0,
    };
  }

  /** The group and hook to heartbeat: the spec read, else the last one this process read in an earlier term. */
  private hookRef(): FleetRef | null {
    const spec = this.spec?.spec ?? this.o.lastKnownSpec?.spec;
    return spec ? { autoScalingGroupName: spec.autoScalingGroupName, lifecycleHookName: spec.lifecycleHookName } : null;
  }

  /** With the spec unreadable nothing new starts, but instances waiting in the launch hook must not time out. */
  private async keepHooksAlive(): Promise<void> {
    const ref = this.hookRef();
    if (!ref) return;
    try {
      await this.heartbeats.observe(await this.o.fleetPort.list(ref, this.abort.signal));
    } catch (error) {
      this.log.warn({ err: error }, 'could not list the group to keep its launch hooks alive');
    }
  }

  private ref(): FleetRef {
    const spec = this.spec!.spec;
    return { autoScalingGroupName: spec.autoScalingGroupName, lifecycleHookName: spec.lifecycleHookName };
  }

  private async pass(): Promise<void> {
    const fleet = await this.o.store.getFleet(this.o.fleet);
    if (!fleet) {
      this.log.warn('the fleet has no spec (deleted?); nothing to do');
      return;
    }
    const newGeneration = fleet.generation !== this.status?.observedGeneration;
    this.spec = fleet;
    this.o.onSpecRead?.(fleet);
    this.launches?.follow(fleet.spec.autoScalingGroupName);
    this.specError = null;
    const sharing = this.o.sharingGroup?.(fleet) ?? [];
    if (sharing.length > 0) {
      // Both fleets would sync the same hosts: neither acts until one of them names another group.
      const group = fleet.spec.autoScalingGroupName;
      await this.refuse(`Auto Scaling group ${group} is also named by fleet ${sharing.join(', ')}: one group, one fleet; `
        + 'change one of them with fleetsync fleet apply', 'two fleets name one Auto Scaling group: acting on neither');
      return;
    }
    const instances = await this.o.fleetPort.list(this.ref(), this.abort.signal);
    if (newGeneration) {
      const before = this.status;
      const next = await this.lifecycle.newGeneration(fleet, before, instances);
      // A step may have moved on while the new generation was being recorded: the same rollout keeps the latest.
      const step = before?.rollout?.step;
      if (step && next.rollout && next.rollout.revision === before.rollout?.revision && next.rollout.startedAtMs === before.rollout.startedAtMs) {
        next.rollout.step = step;
      }
      this.status = next;
    }
    this.observe(instances);
    // Only hosts restored from the store may have effects owed from before (a host just discovered has none).
    // They resume after this leader's first observation, queued behind it: a launching host restored with an
    // older desired revision is not completed at it, and no effect runs before the spec was read.
    for (const id of this.restored.splice(0)) this.deliver(id, { type: 'RESUME', nowMs: this.now() });
    await this.heartbeats.observe(instances);
    this.schedulePlan();
    this.scheduleStatus();
  }

  /** Diffs the observed group against the cells and enqueues the hosts whose observation changed. */
  private observe(instances: Instance[]): void {
    const spec = this.spec!.spec;
    const plan = this.computePlan();
    const seen = new Set<string>();
    const policy = this.policy();
    const policyKey = JSON.stringify(policy);
    const now = this.now();
    for (const inst of instances) {
      seen.add(inst.instanceId);
      let cell = this.cells.get(inst.instanceId);
      if (isLeaving(inst.lifecycleState)) {
        if (cell && cell.state !== 'gone') this.deliver(inst.instanceId, { type: 'GONE', nowMs: now });
        continue;
      }
      if (!cell) {
        const [snapshot] = initialTransition(hostMachine, { instanceId: inst.instanceId, nowMs: now });
        cell = new HostCell(inst.instanceId, snapshot);
        this.cells.set(inst.instanceId, cell);
      }
      const launching = isLaunching(inst.lifecycleState);
      // Leaving the warm pool starts a new lifecycle action, whatever the one into the pool ended with.
      const completed = cell.snapshot.context.lifecycleCompleted
        && !leftWarmPool(cell.snapshot.context.lifecycleState, inst.lifecycleState);
      const desiredRevision = launching && !completed ? plan.launchTarget : spec.revision;
      const retryRequestId = spec.retries[inst.instanceId] ?? null;
      const key = [inst.lifecycleState, inst.agentOnline, desiredRevision, retryRequestId, policyKey].join('|');
      if (key === cell.observationKey) continue;
      cell.observationKey = key;
      this.deliver(inst.instanceId, {
        type: 'OBSERVE', nowMs: now, lifecycleState: inst.lifecycleState, launching, agentOnline: inst.agentOnline,
        desiredRevision, policy, retryRequestId,
      });
    }
    for (const cell of this.cells.values()) {
      if (!seen.has(cell.instanceId) && cell.state !== 'gone') this.deliver(cell.instanceId, { type: 'GONE', nowMs: now });
    }
  }

  // ---- rollout plan ------------------------------------------------------------------------------------------

  private computePlan(): RolloutPlan {
    const spec = this.spec!.spec;
    const hosts = [...this.cells.values()].filter((c) => c.state !== 'gone').map((c) => ({
      instanceId: c.instanceId,
      state: c.state as HostState,
      launching: c.snapshot.context.launching,
      reportedRevision: c.snapshot.context.reportedRevision,
      failedRevision: c.snapshot.context.failedRevision,
      targetRevision: c.snapshot.context.targetRevision,
      deregistered: c.snapshot.context.deregistered,
    }));
    const inServiceAtStart = this.status?.rollout?.inServiceAtStart ?? hosts.filter((h) => !h.launching && h.state !== 'warm').length;
    const haltedBefore = this.status?.rollout?.haltedAtMs !== undefined && this.status.rollout.generation === this.spec!.generation;
    this.stepPlan = this.computeSteps(hosts, haltedBefore);
    this.plan = planRollout({
      desiredRevision: spec.revision,
      lastCompleteRevision: this.status?.revision ?? null,
      rollout: spec.rollout,
      inServiceAtStart,
      hosts,
      pendingGrants: this.pendingGrants,
      haltedBefore,
      ...(this.stepPlan ? { stepAllowance: this.stepPlan.allowance } : {}),
    });
    return this.plan;
  }

  /** A stepped rollout under way: its step now (null without steps, or once the rollout finished). */
  private computeSteps(hosts: Array<RolloutHost & { targetRevision: string | null }>, haltedBefore: boolean): StepPlan | null {
    const spec = this.spec!.spec;
    const rollout = this.status?.rollout;
    const steps = spec.rollout.steps;
    if (!steps || !rollout || rollout.revision !== spec.revision || rollout.finishedAtMs !== undefined) return null;
    const failedAtDesired = hosts.filter((h) => h.state === 'failed' && h.failedRevision === spec.revision).length;
    return planSteps({
      steps, inServiceAtStart: rollout.inServiceAtStart, record: rollout.step, desiredRevision: spec.revision,
      hosts: hosts.map((h) => ({ ...h, granted: this.pendingGrants.has(h.instanceId) })),
      nowMs: this.now(),
      // a promote names the rollout it was asked for: a later rollout of the same revision is not promoted by it
      promote: spec.rollout.promote?.rolloutStartedAtMs === undefined || spec.rollout.promote.rolloutStartedAtMs === rollout.startedAtMs
        ? spec.rollout.promote : undefined,
      hold: spec.rollout.paused || haltedBefore || failedAtDesired >= spec.rollout.maxFailures,
    });
  }

  /** Stores the step the plan moved to (in the status, so a new leader resumes there) and records what happened. */
  private applySteps(steps: StepPlan | null): void {
    const rollout = this.status?.rollout;
    const fleet = this.spec;
    if (!steps || !rollout || !fleet) return;
    if (JSON.stringify(rollout.step) !== JSON.stringify(steps.record)) {
      rollout.step = steps.record;
      this.statusJson = '';
      this.scheduleStatus();
    }
    if (steps.events.length > 0) this.track(this.lifecycle.steps({ fleet, events: steps.events }));
    const wakeAtMs = steps.wakeAtMs;
    if (wakeAtMs !== null && this.stepTimer?.atMs !== wakeAtMs) {
      this.stepTimer?.cancel();
      const cancel = this.o.clock.setTimer(Math.max(0, wakeAtMs - this.now()), () => {
        this.stepTimer = null;
        this.schedulePlan();
      });
      this.stepTimer = { atMs: wakeAtMs, cancel };
    }
  }

  private schedulePlan(): void {
    if (this.planTimer || this.abort.signal.aborted || !this.spec) return;
    this.planTimer = this.o.clock.setTimer(0, () => {
      this.planTimer = null;
      this.track(this.runPlan());
    });
  }

  private async runPlan(): Promise<void> {
    const plan = this.computePlan();
    const now = this.now();
    if (this.specError) return;
    this.applySteps(this.stepPlan);
    const current = this.status?.rollout;
    if (current?.step && !this.spec?.spec.rollout.steps && current.finishedAtMs === undefined) {
      // steps were taken out of the spec mid-rollout: the rest goes at once, and the status says no step
      delete current.step;
      this.statusJson = '';
      this.scheduleStatus();
    }
    for (const grant of plan.grants) {
      this.pendingGrants.add(grant.instanceId);
      this.deliver(grant.instanceId, { type: 'GRANT', nowMs: now, targetRevision: grant.targetRevision });
    }
    if (!plan.halted || !this.spec) return;
    const rollout = this.status?.rollout;
    if (rollout && rollout.haltedAtMs === undefined && rollout.generation === this.spec.generation) {
      // Latched in the status: the halt holds until a new generation, even once its failed hosts are gone.
      rollout.haltedAtMs = now;
      this.statusJson = '';
      this.scheduleStatus();
    }
    if (await this.lifecycle.halted({ fleet: this.spec, plan, status: this.status })) await this.safePass();
  }

  // ---- hosts -------------------------------------------------------------------------------------------------

  private onHostError(instanceId: string, error: unknown): void {
    if (error instanceof StaleTokenError || this.abort.signal.aborted) {
      this.onBackgroundError(error);
      return;
    }
    this.log.warn({ instanceId, err: error }, 'host work failed; retrying with backoff');
    this.queue.addRateLimited(instanceId);
  }

  /** Applies the host's pending events, persists the result, then carries out the effects. */
  private async processHost(instanceId: string): Promise<void> {
    const cell = this.cells.get(instanceId);
    if (!cell || this.abort.signal.aborted) return;
    const before = cell.state;
    const actions = await cell.locked(async () => {
      const events: HostEvent[] = [{ type: 'TICK', nowMs: this.now(), random: this.o.random() }, ...cell.pending.splice(0)];
      const collected: Action[] = [];
      const ended: EndedAttempt[] = [];
      let started: HostCell['attemptStart'] = null;
      let snapshot = cell.snapshot;
      for (const event of events) {
        const [next, actions] = transition(hostMachine, snapshot, event);
        const attempt = endedAttempt({ before: snapshot, after: next, event, invocation: cell.lastInvocation });
        if (attempt) ended.push(attempt);
        if (event.type === 'ATTEMPT_STARTED' && next.context.attemptId === event.attemptId) {
          started = { attemptId: event.attemptId, atMs: event.nowMs };
        }
        snapshot = next;
        collected.push(...actions);
      }
      cell.snapshot = snapshot;
      try {
        await this.persist(cell);
      } catch (error) {
        // Not stored, so not done: go back to what the store holds and try the same events again.
        cell.snapshot = cell.persistedSnapshot;
        cell.pending.unshift(...events.slice(1));
        throw error;
      }
      // A grant counts against the budget until the host has taken it: one delivered while this batch was
      // being saved is still waiting in the inbox.
      if (!cell.pending.some((e) => e.type === 'GRANT')) this.pendingGrants.delete(instanceId);
      // Reported only once stored: events that fail to persist are applied again.
      if (started) cell.attemptStart = started;
      for (const attempt of ended) this.reportAttempt(cell, attempt);
      return collected;
    });
    await this.runEffects(cell, actions);
    const deadline = cell.snapshot.context.deadlineMs;
    if (deadline !== null && cell.state !== 'gone') this.queue.addAfter(instanceId, deadline - this.now());
    if (cell.state === 'gone') await this.forget(cell);
    if (before !== cell.state) {
      this.queue.forget(instanceId);
      this.schedulePlan();
      this.scheduleStatus();
    }
  }

  /**
   * Carries out every effect the host asked for, even when an earlier one fails; a failed effect is owed
   * again, so the host gets a RESUME with backoff, which asks for the effects of its state once more.
   */
  private async runEffects(cell: HostCell, actions: Action[]): Promise<void> {
    let failed = false;
    for (const action of actions) {
      try {
        await this.effects.execute(cell, action);
      } catch (error) {
        if (error instanceof StaleTokenError || this.abort.signal.aborted) throw error;
        this.log.warn({ instanceId: cell.instanceId, effect: action.type, err: error }, `${action.type} failed; trying again with backoff`);
        failed = true;
      }
    }
    if (failed && !this.abort.signal.aborted) this.effects.retryLater(cell);
  }

  private reportAttempt(cell: HostCell, attempt: EndedAttempt): void {
    const { startedAtMs, ...rest } = attempt;
    const started = cell.attemptStart?.attemptId === attempt.attemptId ? cell.attemptStart.atMs : startedAtMs;
    const outcome: AttemptOutcome = { ...rest, fleet: this.o.fleet, durationMs: started === null ? null : this.now() - started };
    logAttempt(this.log, outcome, this.policy().maxAttempts);
    this.o.observer?.attemptFinished?.(outcome);
  }

  private async persist(cell: HostCell): Promise<void> {
    if (cell.state === 'gone') return;
    const record = toRecord(cell.snapshot);
    const json = JSON.stringify(record);
    if (json === cell.persistedJson) return;
    await this.o.store.putHost({ fleet: this.o.fleet, host: record, token: this.o.lease.token });
    cell.persistedJson = json;
    cell.persistedSnapshot = cell.snapshot;
  }

  /** The item goes first: a delete that fails throws, and the host (still `gone` in memory) is tried again. */
  private async forget(cell: HostCell): Promise<void> {
    this.pendingGrants.delete(cell.instanceId);
    this.batcher.remove(cell.instanceId);
    this.poller.forget(cell.instanceId);
    if (cell.persistedJson !== null) {
      await this.o.store.deleteHost({ fleet: this.o.fleet, instanceId: cell.instanceId, token: this.o.lease.token });
      cell.persistedJson = null;
    }
    this.cells.delete(cell.instanceId);
  }

  private paramsFor(revision: string): SyncParams {
    const spec = this.spec!.spec;
    return {
      source: spec.source, revision, destination: spec.destination, strategy: spec.strategy, excludes: spec.excludes,
      links: spec.links, keepReleases: spec.keepReleases,
      ...(spec.check ? { checkCommand: spec.check.command } : {}),
      ...(spec.check && spec.checkUser !== undefined ? { checkUser: spec.checkUser } : {}),
    };
  }

  // ---- status ------------------------------------------------------------------------------------------------

  private scheduleStatus(): void {
    if (this.statusTimer || this.abort.signal.aborted || !this.spec) return;
    this.statusTimer = this.o.clock.setTimer(this.o.settings.statusDebounceMs, () => {
      this.statusTimer = null;
      this.track(this.writeStatus());
    });
  }

  private async writeStatus(): Promise<void> {
    const fleet = this.spec;
    if (!fleet || this.abort.signal.aborted) return;
    const spec = fleet.spec;
    const plan = this.plan ?? this.computePlan();
    const now = this.now();
    const { status, finished } = nextFleetStatus({
      generation: fleet.generation, desiredRevision: spec.revision, paused: spec.rollout.paused,
      hosts: [...this.cells.values()].map((c) => ({ state: c.state as HostState, reportedRevision: c.snapshot.context.reportedRevision })),
      halted: plan.halted, failedAtDesired: plan.failedAtDesired, previous: this.status,
      errors: [...this.malformed, ...(this.specError ? [this.specError] : [])], nowMs: now,
    });
    const { observedAt: _observedAt, ...compared } = status;
    const json = JSON.stringify({ ...compared, updatedAtMs: 0 });
    // Unchanged, it is still confirmed once per resync: observedAt tells a reader the controller is alive.
    if (json === this.statusJson && now - this.statusWrittenAtMs < this.o.settings.resyncMs / 2) return;
    await this.o.store.putStatus({ fleet: this.o.fleet, status, token: this.o.lease.token });
    this.status = status;
    this.statusJson = json;
    this.statusWrittenAtMs = now;
    this.o.observer?.statusWritten?.(this.o.fleet, status);
    if (finished) await this.lifecycle.finished({ fleet, rollout: finished, hosts: status.hostCounts.total });
  }
}
