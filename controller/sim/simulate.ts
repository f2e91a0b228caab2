/**
 * One rollout against a simulated Auto Scaling group in virtual time: the real manager, leader election,
 * reconciler and host machines, over the sim adapters. Planning, tests and benchmarks share it.
 */
import { parseFleetSpec, resolveMaxUnavailable } from '../../state/validate.ts';
import type { FleetSpec, FleetStatus } from '../../state/spec.ts';
import { Manager } from '../manager.ts';
import { DEFAULT_SETTINGS, type ReconcilerSettings } from '../reconciler/settings.ts';
import { DEFAULT_LEADER_SETTINGS } from '../leader.ts';
import { silentLogger, type Logger } from '../log.ts';
import { VirtualClock } from './virtualClock.ts';
import { seededRandom } from './random.ts';
import { SimWorld } from './simWorld.ts';
import { SimFleet } from './simFleet.ts';
import { SimCommands } from './simCommands.ts';
import { SimTraffic } from './simTraffic.ts';
import { SimArtifacts } from './simArtifacts.ts';
import { MemoryStore } from './memoryStore.ts';
import { killable } from './killable.ts';

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
  bumpAt: number | null;
  crashAt: number | null;
  throttleRate: number;
  paused: boolean;
  /** how long a new instance's agent takes to come online */
  agentDelaySeconds: number;
  /** give up after this much virtual time from the deploy (default: 3 x sequentialSeconds + 1 hour) */
  maxSeconds: number | null;
  log?: Logger;
}

export const SIMULATE_DEFAULTS: SimulateOptions = {
  hosts: 100, maxUnavailable: '25%', syncSeconds: 60, pollSeconds: 5, resyncSeconds: 30, seed: 1, failRate: 0,
  maxAttempts: 3, maxFailures: 1, scaleOut: 0, scaleOutAt: null, bumpAt: null, crashAt: null, throttleRate: 0,
  paused: false, agentDelaySeconds: 0, maxSeconds: null,
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
  maxUnavailableAllowed: number;
  maxUnavailableObserved: number;
  apiCalls: { total: number; perHost: number; throttled: number; byOperation: Record<string, number> };
  storeCalls: { reads: number; writes: number };
  failedHosts: number;
  staleInService: number;
  lifecycleCompleted: number;
  lifecycleAbandoned: number;
  syncCommandsPerHost: number;
  finalStatus: { revision: string | null; hostCounts: FleetStatus['hostCounts'] | null };
  /** what each launched host ran when it was let into service (for tests) */
  launchedInService: Array<{ instanceId: string; revision: string | null }>;
  settings: Omit<SimulateOptions, 'log'>;
}

const FLEET = 'sim';
const REVISIONS = ['rev-0', 'rev-1', 'rev-2'];

function fleetSpec(options: SimulateOptions, revision: string): FleetSpec {
  return parseFleetSpec({
    autoScalingGroupName: 'sim-asg',
    source: 's3://sim-bucket/app',
    destination: '/var/www/app',
    revision,
    rollout: {
      maxUnavailable: options.maxUnavailable,
      maxAttempts: options.maxAttempts,
      maxFailures: options.maxFailures,
      paused: options.paused,
      syncTimeoutSeconds: Math.max(900, Math.ceil(options.syncSeconds * 3)),
    },
  });
}

export async function simulate(input: Partial<SimulateOptions> = {}): Promise<SimulateResult> {
  const options: SimulateOptions = { ...SIMULATE_DEFAULTS, ...input };
  const log = options.log ?? silentLogger;
  const clock = new VirtualClock(0);
  // Separate streams, so a change in how often the controller draws does not change the world's luck.
  const controllerRandom = seededRandom(options.seed);
  const world = new SimWorld({
    clock, random: seededRandom(options.seed ^ 0x5bd1e995), throttleRate: 0, lifecycleHook: true,
    agentDelayMs: options.agentDelaySeconds * 1000, imageRevision: REVISIONS[0]!,
  });
  const store = new MemoryStore();
  const fleetPort = new SimFleet(world);
  const commands = new SimCommands(world, { syncMs: options.syncSeconds * 1000, probeMs: 2_000, failRate: options.failRate });
  const traffic = new SimTraffic(world);
  const artifacts = new SimArtifacts(world, new Set(REVISIONS));
  world.launch(options.hosts, { inService: true, revision: REVISIONS[0]! });
  // While paused, launching hosts are meant to get what the whole fleet last reached (rev-0 here).
  world.intendedRevision = () => (options.paused ? REVISIONS[0]! : desired);

  const settings: ReconcilerSettings = {
    ...DEFAULT_SETTINGS, resyncMs: options.resyncSeconds * 1000, pollMs: options.pollSeconds * 1000,
  };
  let latest: FleetStatus | null = null;
  let desired = REVISIONS[0]!;
  let watching = false;
  let convergedAtMs: number | null = null;
  let callsAtConvergence: Map<string, number> | null = null;
  let throttledAtConvergence = 0;
  let storeAtConvergence = { reads: 0, writes: 0 };
  let lastEventAtMs = 0;

  const isConverged = (status: FleetStatus): boolean => status.revision === desired
    && status.hostCounts.inSync === status.hostCounts.total && status.hostCounts.total === world.live().length;

  const observer = {
    statusWritten: (_fleet: string, status: FleetStatus) => {
      latest = status;
      if (!watching || convergedAtMs !== null || clock.nowMs() < lastEventAtMs || !isConverged(status)) return;
      convergedAtMs = clock.nowMs();
      callsAtConvergence = new Map(world.calls);
      throttledAtConvergence = world.throttled;
      storeAtConvergence = { reads: store.reads, writes: store.writes };
    },
  };

  let generation = 0;
  const putSpec = async (revision: string): Promise<void> => {
    const record = await store.putFleetSpec({ name: FLEET, spec: fleetSpec(options, revision), expectedGeneration: generation, nowMs: clock.nowMs() });
    generation = record.generation;
    desired = revision;
    // As the CLI does: the spec first, then its history event.
    await store.appendHistory(FLEET, {
      type: generation === 1 ? 'apply' : 'deploy', atMs: clock.nowMs(), actor: 'simulate', revision, generation,
      message: generation === 1 ? `created fleet at revision ${revision}` : `deploy ${revision}`,
    });
  };

  let controllers = 0;
  const startController = (): { stop: () => void; done: Promise<void> } => {
    controllers += 1;
    const abort = new AbortController();
    let dead = false;
    const isDead = (): boolean => dead;
    const manager = new Manager({
      store: killable(store, isDead), fleetPort: killable(fleetPort, isDead), commands: killable(commands, isDead),
      traffic: killable(traffic, isDead), clock, random: controllerRandom, holder: `sim-controller-${controllers}`,
      settings, leader: DEFAULT_LEADER_SETTINGS, fleetScanMs: 10_000, log, observer,
    });
    const done = manager.run(abort.signal);
    return { stop: () => { dead = true; abort.abort(new Error('controller stopped')); }, done };
  };

  await putSpec(REVISIONS[0]!);
  let controller = startController();
  const warm = await clock.run({ untilMs: 3_600_000, done: () => latest !== null && isConverged(latest) });
  if (!warm) throw new Error('the simulated fleet did not settle at its initial revision within an hour of virtual time');

  // t0: the deploy. Counting starts here.
  const t0 = clock.nowMs();
  const hostsAtT0 = world.live().length;
  world.resetCounts();
  (world.options as { throttleRate: number }).throttleRate = options.throttleRate;
  const storeAtT0 = { reads: store.reads, writes: store.writes };
  const completionsAtT0 = world.completions.length;
  await artifacts.check({ source: 's3://sim-bucket/app', revision: REVISIONS[1]! });
  await putSpec(REVISIONS[1]!);
  watching = true;

  const at = (seconds: number | null, fn: () => void): void => {
    if (seconds === null) return;
    lastEventAtMs = Math.max(lastEventAtMs, t0 + seconds * 1000);
    clock.setTimer(seconds * 1000, fn);
  };
  const launched = new Set<string>();
  at(options.scaleOutAt ?? (options.scaleOut > 0 ? 0 : null), () => {
    for (const id of world.launch(options.scaleOut)) launched.add(id);
  });
  const background: Array<Promise<void>> = [];
  at(options.bumpAt, () => {
    background.push(artifacts.check({ source: 's3://sim-bucket/app', revision: REVISIONS[2]! }).then(() => putSpec(REVISIONS[2]!)));
  });
  at(options.crashAt, () => {
    controller.stop();
    background.push(controller.done);
    controller = startController();
  });

  const sequentialSeconds = hostsAtT0 * options.syncSeconds;
  const limitSeconds = options.maxSeconds ?? sequentialSeconds * 3 + 3_600;
  await clock.run({ untilMs: t0 + limitSeconds * 1000, done: () => convergedAtMs !== null });
  controller.stop();
  await clock.run({ untilMs: clock.nowMs() + 60_000 });
  await Promise.all([controller.done, ...background]);

  const calls = callsAtConvergence ?? world.calls;
  const byOperation = Object.fromEntries([...calls.entries()].sort(([a], [b]) => a.localeCompare(b)));
  const total = [...calls.values()].reduce((a, b) => a + b, 0);
  const storeEnd = convergedAtMs !== null ? storeAtConvergence : { reads: store.reads, writes: store.writes };
  const completions = world.completions.slice(completionsAtT0);
  const maxUnavailableAllowed = resolveMaxUnavailable(options.maxUnavailable, hostsAtT0);
  const hosts = world.launchedCount();
  const final = latest as FleetStatus | null;
  return {
    hosts,
    converged: convergedAtMs !== null,
    finalRevision: desired,
    convergedSeconds: convergedAtMs !== null ? (convergedAtMs - t0) / 1000 : null,
    lowerBoundSeconds: Math.ceil(hostsAtT0 / maxUnavailableAllowed) * options.syncSeconds,
    sequentialSeconds,
    maxInFlightPerHost: world.maxRunningPerHost,
    duplicateSends: commands.duplicateSends,
    maxUnavailableAllowed,
    maxUnavailableObserved: world.maxInServiceBusy,
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
    launchedInService: completions.filter((c) => c.result === 'CONTINUE' && launched.has(c.instanceId))
      .map((c) => ({ instanceId: c.instanceId, revision: c.revision })),
    settings: Object.fromEntries(Object.entries(options).filter(([k]) => k !== 'log')) as Omit<SimulateOptions, 'log'>,
  };
}
