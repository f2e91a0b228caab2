/**
 * One rollout against a simulated Auto Scaling group in virtual time: the real manager, leader election,
 * reconciler and host machines, over the sim adapters. Planning, tests and benchmarks share it.
 */
import { parseFleetSpec, resolveMaxUnavailable } from '../../state/validate.ts';
import type { FleetSpec, FleetStatus, RolloutStep } from '../../state/spec.ts';
import { stepTargets } from '../../state/steps.ts';
import { DEFAULT_SETTINGS, type ReconcilerSettings } from '../reconciler/settings.ts';
import { DEFAULT_LEADER_SETTINGS } from '../leader.ts';
import { silentLogger, type Logger } from '../log.ts';
import { VirtualClock } from './virtualClock.ts';
import { seededRandom } from './random.ts';
import { SimWorld, isAsleep } from './simWorld.ts';
import { isWarm } from '../ports/fleet.ts';
import { SimFleet } from './simFleet.ts';
import { SimCommands } from './simCommands.ts';
import { SimTraffic } from './simTraffic.ts';
import { SimArtifacts } from './simArtifacts.ts';
import { MemoryStore } from './memoryStore.ts';
import { SimOperator } from './simOperator.ts';
import { SimControllers } from './simControllers.ts';
import { SimLaunchEvents } from './simLaunchEvents.ts';
import { percentiles, type Percentiles } from './percentiles.ts';
import { PORTS, randomFaultPlan, quietAtMs, type FaultPlan } from './faultPlan.ts';
import { PortFaults } from './portFaults.ts';
import { FaultWorld } from './faultWorld.ts';
import { InvariantChecker, convergenceBoundMs, type Violation } from './invariants.ts';

export interface SimulateOptions {
  hosts: number;
  maxUnavailable: string | number;
  syncSeconds: number;
  pollSeconds: number;
  resyncSeconds: number;
  seed: number;
  failRate: number;
  maxAttempts: number;
  maxFailures: number;
  scaleOut: number;
  scaleOutAt: number | null;
  /** the scale-out's launches spread evenly over this many seconds from scaleOutAt (0: all at once) */
  scaleOutOverSeconds: number;
  /** the group's launch events reach the controller (EventBridge into SQS); off: launches wait for the resync */
  events: boolean;
  /** share of launch events lost, and delivered twice (best-effort delivery) */
  eventLossRate: number;
  eventDuplicateRate: number;
  bumpAt: number | null;
  crashAt: number | null;
  throttleRate: number;
  paused: boolean;
  /** how long a new instance's agent takes to come online */
  agentDelaySeconds: number;
  /** instances the group keeps in a warm pool (stopped); a scale-out draws from them first */
  warmPool: number;
  /** give up after this much virtual time from the deploy (default: 3 x sequentialSeconds + 1 hour) */
  maxSeconds: number | null;
  /** a fault plan drawn from this seed: faults from the deploy until the plan's stop, then the run must converge */
  faults: number | null;
  /** a fault plan given whole (a shrunk one, to replay a property test's failure); wins over `faults` */
  faultPlan?: FaultPlan;
  /** a stepped rollout (rollout.steps); a fault plan's own steps win */
  steps?: RolloutStep[] | null;
  log?: Logger;
}

export const SIMULATE_DEFAULTS: SimulateOptions = {
  hosts: 100, maxUnavailable: '25%', syncSeconds: 60, pollSeconds: 5, resyncSeconds: 30, seed: 1, failRate: 0,
  maxAttempts: 3, maxFailures: 1, scaleOut: 0, scaleOutAt: null, scaleOutOverSeconds: 0, events: true, eventLossRate: 0,
  eventDuplicateRate: 0, bumpAt: null, crashAt: null, throttleRate: 0,
  paused: false, agentDelaySeconds: 0, warmPool: 0, maxSeconds: null, faults: null,
};

export interface SimulateResult {
  hosts: number;
  converged: boolean;
  finalRevision: string;
  convergedSeconds: number | null;
  lowerBoundSeconds: number;
  sequentialSeconds: number;
  maxInFlightPerHost: number;
  duplicateSends: number;
  /** the first rollout's budget (the deploy at t0); each rollout's own is in `rollouts` */
  maxUnavailableAllowed: number;
  maxUnavailableObserved: number;
  /** every rollout the controller ran after t0, in order, with the budget it computed from its own start */
  rollouts: SimRollout[];
  apiCalls: { total: number; perHost: number; throttled: number; byOperation: Record<string, number> };
  storeCalls: { reads: number; writes: number };
  failedHosts: number;
  staleInService: number;
  lifecycleCompleted: number;
  lifecycleAbandoned: number;
  syncCommandsPerHost: number;
  finalStatus: { revision: string | null; hostCounts: FleetStatus['hostCounts'] | null };
  /** with a warm pool: what it became (present only with --warm-pool) */
  warmPool?: {
    /** instances stopped in the pool at the end, and the revision each holds (synced again when it leaves) */
    asleep: Array<{ instanceId: string; revision: string | null }>;
    /** instances the scale-out took from the pool instead of launching new ones */
    drawn: number;
    /** commands sent to stopped instances (SSM would refuse them): 0 is the promise */
    commandsToAsleep: number;
    /** what each instance launched into the pool went through (lifecycle states, syncs, CONTINUE) */
    journeys: Array<{ instanceId: string; steps: string[] }>;
  };
  /** what each launched host ran when it was let into service (for tests) */
  launchedInService: Array<{ instanceId: string; revision: string | null }>;
  /** from an instance's launch (after the deploy) to its lifecycle CONTINUE; null with no such launch */
  launchToServiceSeconds: Percentiles;
  /** the same minus the sync itself (syncSeconds): the delay fleetsync adds to a launch */
  extraLaunchDelaySeconds: Percentiles;
  /** launch events sent by the group, lost on the way, and handed to a controller */
  launchEvents: { published: number; lost: number; delivered: number } | null;
  /** invariant violations seen at any step (see invariants.ts); 0 is the promise */
  invariantViolations: number;
  /** the first few, to read */
  violations: Violation[];
  /** a stepped rollout: each step's cumulative hosts and when it was done (null: never) and started, from the deploy */
  steps?: Array<{ step: number; hosts: number; startedSeconds: number | null; finishedSeconds: number | null }>;
  invariantChecks: number;
  /** fault kind -> how many were injected (port faults and world events) */
  faultsInjected: Record<string, number>;
  /** when faults were on: the plan, and the bound the run had to converge within after the last fault */
  faultPlan?: FaultPlan;
  convergenceBoundSeconds?: number;
  settings: Omit<SimulateOptions, 'log' | 'faultPlan'>;
}

export interface SimRollout {
  revision: string;
  startedAtSeconds: number;
  inServiceAtStart: number;
  maxUnavailableAllowed: number;
  /** in-service hosts busy at once while this rollout was the fleet's current one */
  maxUnavailableObserved: number;
}

const FLEET = 'sim';
/** after the last fault, how long the controllers have before a launch hook must not time out any more */
const HOOK_GRACE_MS = DEFAULT_LEADER_SETTINGS.leaseDurationMs + DEFAULT_LEADER_SETTINGS.retryPeriodMs;
const REVISIONS = ['rev-0', 'rev-1', 'rev-2', 'rev-3'];
/** EventBridge into SQS: usually well under a second; a long poll returns as soon as the message lands */
const EVENT_DELAY_MS = 1_000;
const TARGET_GROUP = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/sim/0123456789abcdef';

function fleetSpec(options: SimulateOptions, revision: string, drain = false): FleetSpec {
  return parseFleetSpec({
    autoScalingGroupName: 'sim-asg',
    source: 's3://sim-bucket/app',
    destination: '/var/www/app',
    revision,
    ...(drain ? { targetGroupArns: [TARGET_GROUP] } : {}),
    rollout: {
      drain,
      maxUnavailable: options.maxUnavailable,
      maxAttempts: options.maxAttempts,
      maxFailures: options.maxFailures,
      paused: options.paused,
      syncTimeoutSeconds: Math.max(900, Math.ceil(options.syncSeconds * 3)),
      ...(options.steps ? { steps: options.steps } : {}),
    },
  });
}

/**
 * The fastest a rollout can go: each step waits for its own hosts, in waves of maxUnavailable, and for its
 * pause, so a stepped rollout's bound is the sum over its steps (the steps' hosts are new ones only).
 */
export function lowerBoundMs(a: { hosts: number; budget: number; syncMs: number; steps?: RolloutStep[] | null | undefined }): number {
  if (!a.steps) return Math.ceil(a.hosts / a.budget) * a.syncMs;
  const targets = stepTargets(a.steps, a.hosts);
  let total = 0;
  targets.forEach((target, i) => {
    total += Math.ceil((target - (targets[i - 1] ?? 0)) / a.budget) * a.syncMs;
    if (i < targets.length - 1) total += (a.steps?.[i]?.pauseSeconds ?? 0) * 1000;
  });
  return total;
}

export async function simulate(input: Partial<SimulateOptions> = {}): Promise<SimulateResult> {
  const options: SimulateOptions = { ...SIMULATE_DEFAULTS, ...input };
  const log = options.log ?? silentLogger;
  const clock = new VirtualClock(0);
  // Separate streams, so a change in how often the controller draws does not change the world's luck.
  const controllerRandom = seededRandom(options.seed);
  const world = new SimWorld({
    clock, random: seededRandom(options.seed ^ 0x5bd1e995), throttleRate: 0, lifecycleHook: true,
    agentDelayMs: options.agentDelaySeconds * 1000, imageRevision: REVISIONS[0]!, warmPool: options.warmPool,
  });
  const allowedAtStart = resolveMaxUnavailable(options.maxUnavailable, options.hosts);
  const planBoundMs = Math.ceil(options.hosts / allowedAtStart) * options.syncSeconds * 1000;
  const plan = options.faultPlan ?? (options.faults !== null
    ? randomFaultPlan(options.faults, { lowerBoundMs: planBoundMs, leaseDurationMs: DEFAULT_LEADER_SETTINGS.leaseDurationMs }) : null);
  if (plan?.steps) options.steps = plan.steps;
  if (plan?.hookTimeoutMs) (world.options as { hookTimeoutMs?: number | null }).hookTimeoutMs = plan.hookTimeoutMs;
  const faults = plan ? new PortFaults(plan, clock, (port) => seededRandom(plan.seed ^ 0x1b873593 ^ PORTS.indexOf(port) * 0x9e3779b1)) : null;
  let faultWorld: FaultWorld | null = null;
  // Under faults the store fences as DynamoStore does (item tokens only), so a zombie's late writes land as they would.
  const store = new MemoryStore(plan ? { fencing: 'item' } : {});
  const fleetPort = new SimFleet(world);
  const commands = new SimCommands(world, {
    syncMs: options.syncSeconds * 1000, probeMs: 2_000, failRate: options.failRate,
    ...(plan ? { hostRun: (a: Parameters<FaultWorld['hostRun']>[0]) => faultWorld?.hostRun(a) ?? {} } : {}),
  });
  // Under faults a deregistered target drains a while, as behind a real load balancer.
  const traffic = new SimTraffic(world, plan ? { drainMs: 5_000 } : {});
  const artifacts = new SimArtifacts(world, new Set(REVISIONS));
  const background: Array<Promise<void>> = [];
  const operator = new SimOperator({
    store, clock, fleet: FLEET, spec: fleetSpec(options, REVISIONS[0]!, plan?.drain ?? false), track: (work) => background.push(work),
  });
  const checker = new InvariantChecker({ fleet: FLEET, world, store, commands, traffic, maxUnavailable: options.maxUnavailable });
  world.launch(options.hosts, { inService: true, revision: REVISIONS[0]! });
  const launchEvents = options.events ? new SimLaunchEvents({
    clock, random: seededRandom(options.seed ^ 0x27d4eb2f), delayMs: EVENT_DELAY_MS,
    lossRate: options.eventLossRate, duplicateRate: options.eventDuplicateRate,
  }) : null;
  /** when each instance entered its launch wait */
  const launchedAtMs = new Map<string, number>();
  world.onLaunchWait = (instanceId, lifecycleState) => {
    // Launch to service counts from the wait that ends in service: a launch into the warm pool serves nothing.
    if (lifecycleState === 'Pending:Wait') launchedAtMs.set(instanceId, clock.nowMs());
    else launchedAtMs.delete(instanceId);
    launchEvents?.publish({ autoScalingGroupName: fleetSpec(options, REVISIONS[0]!).autoScalingGroupName, instanceId });
  };
  world.refillPool();
  // While paused, launching hosts are meant to get what the whole fleet last reached (rev-0 here).
  world.intendedRevision = () => (plan ? checker.launchTarget : options.paused ? REVISIONS[0]! : operator.desired);

  const settings: ReconcilerSettings = {
    ...DEFAULT_SETTINGS, resyncMs: options.resyncSeconds * 1000, pollMs: options.pollSeconds * 1000,
  };
  let latest: FleetStatus | null = null;
  let watching = false;
  let convergedAtMs: number | null = null;
  let callsAtConvergence: Map<string, number> | null = null;
  let throttledAtConvergence = 0;
  let storeAtConvergence = { reads: 0, writes: 0 };
  let lastEventAtMs = 0;

  // Hosts parked in the warm pool are counted beside the total; every other live instance must be in sync.
  const isConverged = (status: FleetStatus): boolean => status.revision === operator.desired
    && status.hostCounts.inSync === status.hostCounts.total
    && status.hostCounts.total + (status.hostCounts.warm ?? 0) === world.live().length;
  const noteConverged = (): void => {
    convergedAtMs = clock.nowMs();
    callsAtConvergence = new Map(world.calls);
    throttledAtConvergence = world.throttled;
    storeAtConvergence = { reads: store.reads, writes: store.writes };
  };

  const rollouts: SimRollout[] = [];
  const noteRollout = (status: FleetStatus): void => {
    const r = status.rollout;
    if (!watching || !r) return;
    let current = rollouts.at(-1);
    if (current?.revision !== r.revision || current.inServiceAtStart !== r.inServiceAtStart) {
      // Busy hosts are counted per rollout from here: the world's running maximum starts again.
      if (current) current.maxUnavailableObserved = Math.max(current.maxUnavailableObserved, world.maxInServiceBusy);
      maxBusyBefore = Math.max(maxBusyBefore, world.maxInServiceBusy);
      world.maxInServiceBusy = 0;
      current = {
        revision: r.revision, startedAtSeconds: 0, inServiceAtStart: r.inServiceAtStart,
        maxUnavailableAllowed: resolveMaxUnavailable(options.maxUnavailable, r.inServiceAtStart), maxUnavailableObserved: 0,
      };
      rollouts.push(current);
    }
    current.startedAtSeconds = (r.startedAtMs - t0) / 1000;
  };
  let maxBusyBefore = 0;
  let t0 = 0;

  const observer = {
    statusWritten: (_fleet: string, status: FleetStatus) => {
      latest = status;
      noteRollout(status);
      // Under faults, convergence is judged at every step from the store and the world (see onStep).
      if (plan || !watching || convergedAtMs !== null || clock.nowMs() < lastEventAtMs || !isConverged(status)) return;
      noteConverged();
    },
  };
  const onStep = (): void => {
    const expired = world.expireHooks();
    if (expired > 0) {
      for (let i = 0; i < expired; i++) faults?.count('hookTimeout');
      // Once faults end, a controller may first have to wait out a dead leader's lease before it can reach a host.
      checker.hooksTimedOut(expired, watching && clock.nowMs() >= lastEventAtMs + HOOK_GRACE_MS);
    }
    checker.step();
    if (!plan || !watching || convergedAtMs !== null || clock.nowMs() < lastEventAtMs) return;
    const status = store.peekFleet(FLEET).status as FleetStatus | undefined;
    if (status && isConverged(status) && checker.worldConverged(operator.desired)) noteConverged();
  };

  await operator.deploy(REVISIONS[0]!);
  const controllers = new SimControllers({
    clock, random: controllerRandom, store, fleetPort, commands, traffic, artifacts: plan ? artifacts : null, checker, faults,
    settings, log, observer, ...(launchEvents ? { launchEvents } : {}), ...(plan?.clockSkewMs ? { clockSkewMs: plan.clockSkewMs } : {}),
  });
  controllers.start(plan?.controllers ?? 1);
  const warm = await clock.run({ untilMs: 3_600_000, done: () => latest !== null && isConverged(latest) });
  if (!warm) throw new Error('the simulated fleet did not settle at its initial revision within an hour of virtual time');

  // t0: the deploy. Counting starts here.
  t0 = clock.nowMs();
  // In service at the deploy: the budget's base (instances asleep in the warm pool serve nothing).
  const hostsAtT0 = world.live().filter((i) => !isWarm(i.lifecycleState)).length;
  world.resetCounts();
  (world.options as { throttleRate: number }).throttleRate = options.throttleRate;
  const storeAtT0 = { reads: store.reads, writes: store.writes };
  const completionsAtT0 = world.completions.length;
  await artifacts.check({ source: 's3://sim-bucket/app', revision: REVISIONS[1]! });
  await operator.deploy(REVISIONS[1]!);
  watching = true;

  const at = (seconds: number | null, fn: () => void): void => {
    if (seconds === null) return;
    lastEventAtMs = Math.max(lastEventAtMs, t0 + seconds * 1000);
    clock.setTimer(seconds * 1000, fn);
  };
  const launched = new Set<string>();
  const scaleOutAt = options.scaleOutAt ?? (options.scaleOut > 0 ? 0 : null);
  if (options.scaleOutOverSeconds > 0 && scaleOutAt !== null) {
    for (let k = 0; k < options.scaleOut; k++) {
      at(scaleOutAt + (k * options.scaleOutOverSeconds) / options.scaleOut, () => {
        for (const id of world.scaleOut(1)) launched.add(id);
      });
    }
  } else {
    at(scaleOutAt, () => {
      for (const id of world.scaleOut(options.scaleOut)) launched.add(id);
    });
  }
  const bump = async (): Promise<void> => {
    const next = REVISIONS[Math.min(REVISIONS.length - 1, REVISIONS.indexOf(operator.revision) + 1)]!;
    await artifacts.check({ source: 's3://sim-bucket/app', revision: next });
    await operator.deploy(next);
  };
  at(options.bumpAt, () => {
    background.push(bump());
  });
  at(options.crashAt, () => controllers.restart(0));

  let boundMs = 0;
  if (plan && faults) {
    faults.start();
    for (const skewMs of plan.clockSkewMs ?? []) if (skewMs !== 0) faults.count('clockSkew');
    lastEventAtMs = Math.max(lastEventAtMs, t0 + quietAtMs(plan));
    faultWorld = new FaultWorld({
      plan, world, clock, faults, maxAttempts: options.maxAttempts, log,
      actors: {
        crash: (k) => controllers.restart(k),
        zombie: (k, forMs) => controllers.pause(k, forMs),
        partition: (k, forMs) => controllers.partition(k, forMs),
        handOver: (k) => controllers.handOver(k),
        bump,
        setPaused: (paused) => operator.edit((s) => ({ ...s, rollout: { ...s.rollout, paused } }), paused ? 'pause' : 'resume',
          paused ? 'rollout paused' : 'rollout resumed'),
        retry: (id) => operator.edit((s) => ({ ...s, retries: { ...s.retries, [id]: `retry-${clock.nowMs()}` } }), 'retry', `retry ${id}`),
        malformed: (forMs) => operator.malformed(forMs),
        promote: () => {
          // as `fleetsync promote` does: the step the stored status shows, of the rollout it shows
          const rollout = (store.peekFleet(FLEET).status as FleetStatus | undefined)?.rollout;
          if (!rollout?.step || rollout.revision !== operator.revision) return Promise.resolve();
          const promote = { revision: rollout.revision, step: rollout.step.index + 1, rolloutStartedAtMs: rollout.startedAtMs };
          return operator.edit((s) => ({ ...s, rollout: { ...s.rollout, promote } }), 'promote', `promote step ${promote.step}`);
        },
      },
    });
    faultWorld.schedule();
    const launches = plan.events.reduce((n, e) => n + (e.kind === 'scaleOut' ? e.count : e.kind === 'terminate' ? 1 : 0), 0);
    boundMs = convergenceBoundMs({
      hosts: hostsAtT0 + launches,
      budget: allowedAtStart, maxSyncMs: faultWorld.maxSyncMs(options.syncSeconds * 1000),
      leaseDurationMs: DEFAULT_LEADER_SETTINGS.leaseDurationMs, backoffCapMs: settings.backoffCapMs,
      syncTimeoutMs: fleetSpec(options, REVISIONS[0]!).rollout.syncTimeoutSeconds * 1000, pollMs: settings.pollMs, batchWindowMs: settings.batchWindowMs,
      resyncMs: settings.resyncMs, steps: options.steps ?? null,
    });
  }

  const sequentialSeconds = hostsAtT0 * options.syncSeconds;
  const limitMs = plan ? lastEventAtMs - t0 + boundMs + 60_000 : (options.maxSeconds ?? sequentialSeconds * 3 + 3_600) * 1000;
  await clock.run({ untilMs: t0 + limitMs, done: () => convergedAtMs !== null, onStep });
  if (plan) checker.convergence({ convergedAtMs, quietAtMs: lastEventAtMs, boundMs });
  const stopped = controllers.stopAll();
  await clock.run({ untilMs: clock.nowMs() + 60_000 });
  await Promise.all([stopped, ...background.map((b) => b.catch(() => undefined))]);

  const calls = callsAtConvergence ?? world.calls;
  const byOperation = Object.fromEntries([...calls.entries()].sort(([a], [b]) => a.localeCompare(b)));
  const total = [...calls.values()].reduce((a, b) => a + b, 0);
  const storeEnd = convergedAtMs !== null ? storeAtConvergence : { reads: store.reads, writes: store.writes };
  const completions = world.completions.slice(completionsAtT0);
  const launchToServiceMs = completions.flatMap((c) => {
    const since = launchedAtMs.get(c.instanceId);
    return c.result === 'CONTINUE' && since !== undefined && since >= t0 ? [c.atMs - since] : [];
  });
  const maxUnavailableAllowed = resolveMaxUnavailable(options.maxUnavailable, hostsAtT0);
  const lastRollout = rollouts.at(-1);
  if (lastRollout) lastRollout.maxUnavailableObserved = Math.max(lastRollout.maxUnavailableObserved, world.maxInServiceBusy);
  const maxUnavailableObserved = Math.max(maxBusyBefore, world.maxInServiceBusy);
  const hosts = world.launchedCount();
  const final = latest as FleetStatus | null;
  const { log: _log, faultPlan: _plan, steps: _steps, ...rest } = options;
  const shown = options.steps ? { ...rest, steps: options.steps } : rest;
  const steps = options.steps ? await stepTimes({ store, t0, revision: REVISIONS[1]!, hosts: hostsAtT0, steps: options.steps }) : null;
  return {
    hosts,
    converged: convergedAtMs !== null,
    finalRevision: operator.desired,
    convergedSeconds: convergedAtMs !== null ? (convergedAtMs - t0) / 1000 : null,
    lowerBoundSeconds: lowerBoundMs({ hosts: hostsAtT0, budget: maxUnavailableAllowed, syncMs: options.syncSeconds * 1000, steps: options.steps }) / 1000,
    sequentialSeconds,
    maxInFlightPerHost: world.maxRunningPerHost,
    duplicateSends: commands.duplicateSends,
    maxUnavailableAllowed,
    maxUnavailableObserved,
    rollouts,
    apiCalls: {
      total, perHost: Math.round((total / hosts) * 1000) / 1000,
      throttled: convergedAtMs !== null ? throttledAtConvergence : world.throttled, byOperation,
    },
    storeCalls: { reads: storeEnd.reads - storeAtT0.reads, writes: storeEnd.writes - storeAtT0.writes },
    failedHosts: (final?.hostCounts.failed ?? 0) + completions.filter((c) => c.result === 'ABANDON').length,
    staleInService: completions.filter((c) => c.result === 'CONTINUE' && c.revision !== c.intended).length,
    lifecycleCompleted: completions.filter((c) => c.result === 'CONTINUE').length,
    lifecycleAbandoned: completions.filter((c) => c.result === 'ABANDON').length,
    syncCommandsPerHost: Math.round((commands.syncsSent / hosts) * 1000) / 1000,
    finalStatus: { revision: final?.revision ?? null, hostCounts: final?.hostCounts ?? null },
    ...(options.warmPool > 0 ? {
      warmPool: {
        asleep: world.live().filter(isAsleep).map((i) => ({ instanceId: i.instanceId, revision: i.revision }))
          .sort((a, b) => a.instanceId.localeCompare(b.instanceId)),
        drawn: world.drawnFromPool, commandsToAsleep: world.commandsToAsleep,
        journeys: [...world.warmJourneys].map(([instanceId, steps]) => ({ instanceId, steps })),
      },
    } : {}),
    launchedInService: completions.filter((c) => c.result === 'CONTINUE' && launched.has(c.instanceId))
      .map((c) => ({ instanceId: c.instanceId, revision: c.revision })),
    launchToServiceSeconds: percentiles(launchToServiceMs.map((ms) => Math.round(ms) / 1000)),
    extraLaunchDelaySeconds: percentiles(launchToServiceMs.map((ms) => Math.round(ms - options.syncSeconds * 1000) / 1000)),
    launchEvents: launchEvents ? { published: launchEvents.published, lost: launchEvents.lost, delivered: launchEvents.delivered } : null,
    invariantViolations: checker.violations.length,
    violations: checker.violations.slice(0, 20),
    invariantChecks: checker.checks,
    ...(steps ? { steps } : {}),
    faultsInjected: faults?.countsObject() ?? {},
    ...(plan ? { faultPlan: plan, convergenceBoundSeconds: boundMs / 1000 } : {}),
    settings: shown,
  };
}

/** When each step of the deploy's rollout started and was done, from the history the controller wrote. */
async function stepTimes(a: { store: MemoryStore; t0: number; revision: string; hosts: number; steps: RolloutStep[] }): Promise<NonNullable<SimulateResult['steps']>> {
  const history = (await a.store.listHistory(FLEET)).filter((e) => e.revision === a.revision && e.atMs >= a.t0).reverse();
  const at = (type: string, step: number): number | null => {
    const event = history.find((e) => e.type === type && e.message.startsWith(`step ${step}/`));
    return event ? (event.atMs - a.t0) / 1000 : null;
  };
  return stepTargets(a.steps, a.hosts).map((hosts, i) => ({
    step: i + 1, hosts, startedSeconds: at('stepStarted', i + 1), finishedSeconds: at('stepFinished', i + 1),
  }));
}
