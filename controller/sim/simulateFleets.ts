/**
 * Many fleets on several controllers in virtual time: one simulated store, one Auto Scaling group per fleet,
 * and that many real Managers sharing the fleets by lease. Every fleet is deployed at once (its hosts at
 * rev-0, desired rev-1) as the controllers start; the run ends when every fleet converged (and a killed
 * controller's fleets were taken over). Reported: convergence, how the leases spread, the takeover time.
 */
import { parseFleetSpec, resolveMaxUnavailable } from '../../state/validate.ts';
import type { FleetStatus } from '../../state/spec.ts';
import { DEFAULT_SETTINGS, type ReconcilerSettings } from '../reconciler/settings.ts';
import { DEFAULT_LEADER_SETTINGS } from '../leader.ts';
import { silentLogger, type Logger } from '../log.ts';
import { VirtualClock } from './virtualClock.ts';
import { seededRandom } from './random.ts';
import { SimWorld } from './simWorld.ts';
import { SimFleet } from './simFleet.ts';
import { SimCommands } from './simCommands.ts';
import { SimTraffic } from './simTraffic.ts';
import { MemoryStore } from './memoryStore.ts';
import { SimControllers } from './simControllers.ts';
import { SimGroups } from './simGroups.ts';
import type { CpuMeter } from './cpuMeter.ts';

export interface SimulateFleetsOptions {
  fleets: number;
  /** hosts per fleet */
  hosts: number;
  controllers: number;
  /** kill one controller (the first) this many seconds after the start, for good */
  killControllerAt: number | null;
  /** start one more controller this many seconds after the start (it must get its share) */
  addControllerAt: number | null;
  maxUnavailable: string | number;
  syncSeconds: number;
  pollSeconds: number;
  resyncSeconds: number;
  seed: number;
  failRate: number;
  /** share of control-plane requests throttled */
  throttleRate: number;
  maxAttempts: number;
  maxFailures: number;
  /** give up after this much virtual time (default: 3 x one fleet's lower bound + 1 hour) */
  maxSeconds: number | null;
  /** the last this many fleets fail every sync, so they never converge (to see the run say so) */
  brokenFleets: number;
  log?: Logger;
  /** charged with each controller's CPU (kept out of the result: CPU is not reproducible) */
  cpu?: CpuMeter;
}

export const SIMULATE_FLEETS_DEFAULTS: SimulateFleetsOptions = {
  fleets: 4, hosts: 100, controllers: 2, killControllerAt: null, addControllerAt: null, maxUnavailable: '25%', syncSeconds: 60, pollSeconds: 5,
  resyncSeconds: 30, seed: 1, failRate: 0, throttleRate: 0, maxAttempts: 3, maxFailures: 1, maxSeconds: null, brokenFleets: 0,
};

export interface Spread { even: number; min: number; max: number; maxDeviationPercent: number }

export interface SimulateFleetsResult {
  fleets: number;
  hostsPerFleet: number;
  controllers: number;
  /** every fleet converged */
  converged: boolean;
  convergedFleets: number;
  /** the first few fleets that did not converge */
  notConverged: string[];
  /** when the last fleet converged, from the start */
  convergedSeconds: number | null;
  /** each converged fleet's time to converge, from the start */
  fleetConvergedSeconds: { p50: number; max: number } | null;
  /** one fleet alone: ceil(hosts / maxUnavailable) x sync */
  lowerBoundSeconds: number;
  /** when the last fleet got its first leader */
  allLedSeconds: number | null;
  /** each live controller at the end → the fleets it leads */
  leasesPerController: Record<string, number>;
  leaseSpread: Spread;
  kill?: {
    controller: string; atSeconds: number; fleetsLed: number;
    /** the longest wait of one of its fleets for a new leader (null: some never got one) */
    takeoverSeconds: number | null;
    /** the promise: lease duration + one resync */
    boundSeconds: number;
  };
  maxInFlightPerHost: number;
  duplicateSends: number;
  apiCalls: { total: number; byOperation: Record<string, number> };
  storeCalls: { reads: number; writes: number };
  /** virtual time the run took */
  simulatedSeconds: number;
  settings: Omit<SimulateFleetsOptions, 'log' | 'cpu'>;
}

const fleetName = (k: number, count: number): string => `fleet-${String(k).padStart(String(count - 1).length, '0')}`;

export function spreadOf(counts: number[], fleets: number): Spread {
  const even = counts.length === 0 ? 0 : fleets / counts.length;
  const min = counts.length === 0 ? 0 : Math.min(...counts);
  const max = counts.length === 0 ? 0 : Math.max(...counts);
  const deviation = even === 0 ? 0 : Math.max(...counts.map((c) => Math.abs(c - even))) / even;
  return { even: Math.round(even * 100) / 100, min, max, maxDeviationPercent: Math.round(deviation * 1000) / 10 };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export async function simulateFleets(input: Partial<SimulateFleetsOptions> = {}): Promise<SimulateFleetsResult> {
  const options: SimulateFleetsOptions = { ...SIMULATE_FLEETS_DEFAULTS, ...input };
  if (options.brokenFleets > options.fleets) throw new RangeError(`brokenFleets (${options.brokenFleets}) must not exceed fleets (${options.fleets})`);
  const log = options.log ?? silentLogger;
  const clock = new VirtualClock(0);
  const store = new MemoryStore();
  const groups = new SimGroups();
  const names: string[] = [];
  for (let k = 0; k < options.fleets; k++) {
    const fleet = fleetName(k, options.fleets);
    names.push(fleet);
    const world = new SimWorld({
      clock, random: seededRandom((options.seed ^ 0x5bd1e995) + k), throttleRate: options.throttleRate, lifecycleHook: true, agentDelayMs: 0,
      imageRevision: 'rev-0',
    });
    world.launch(options.hosts, { inService: true, revision: 'rev-0' });
    world.intendedRevision = () => 'rev-1';
    const broken = k >= options.fleets - options.brokenFleets;
    groups.add({
      fleet, groupName: `${fleet}-asg`, targetGroupArn: `arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/${fleet}/0123456789abcdef`,
      world, fleetPort: new SimFleet(world), traffic: new SimTraffic(world),
      commands: new SimCommands(world, { syncMs: options.syncSeconds * 1000, probeMs: 2_000, failRate: broken ? 1 : options.failRate }),
    });
    await store.putFleetSpec({
      name: fleet, expectedGeneration: 0, nowMs: 0,
      spec: parseFleetSpec({
        autoScalingGroupName: `${fleet}-asg`, source: 's3://sim-bucket/app', destination: '/var/www/app', revision: 'rev-1',
        rollout: {
          maxUnavailable: options.maxUnavailable, maxAttempts: options.maxAttempts, maxFailures: options.maxFailures,
          syncTimeoutSeconds: Math.max(900, Math.ceil(options.syncSeconds * 3)),
        },
      }),
    });
  }

  const settings: ReconcilerSettings = { ...DEFAULT_SETTINGS, resyncMs: options.resyncSeconds * 1000, pollMs: options.pollSeconds * 1000 };
  const convergedAt = new Map<string, number>();
  const ledAt = new Map<string, number>();
  let kill: { controller: string; atMs: number; fleets: Set<string>; takenAt: Map<string, number> } | null = null;

  const observer = {
    reconcilerStarted: (fleet: string) => {
      if (!ledAt.has(fleet)) ledAt.set(fleet, clock.nowMs());
      if (kill?.fleets.has(fleet) && !kill.takenAt.has(fleet)) kill.takenAt.set(fleet, clock.nowMs());
    },
    statusWritten: (fleet: string, status: FleetStatus) => {
      if (convergedAt.has(fleet) || status.revision !== 'rev-1') return;
      const { inSync, total } = status.hostCounts;
      if (inSync === total && total === groups.group(fleet).world.instances.size) convergedAt.set(fleet, clock.nowMs());
    },
  };
  const controllers = new SimControllers({
    clock, random: seededRandom(options.seed), store, fleetPort: groups.fleetPort(), commands: groups.commands(), traffic: groups.traffic(),
    artifacts: null, checker: null, faults: null, settings, log, observer,
    ...(options.cpu ? { clockFor: (name: string) => options.cpu!.clockFor(name, clock) } : {}),
  });
  controllers.start(options.controllers);
  if (options.killControllerAt !== null) {
    clock.setTimer(options.killControllerAt * 1000, () => {
      const led = controllers.live()[0];
      const name = controllers.kill(0);
      if (name === null || !led) return;
      kill = { controller: name, atMs: clock.nowMs(), fleets: new Set(led.leases), takenAt: new Map() };
    });
  }

  if (options.addControllerAt !== null) clock.setTimer(options.addControllerAt * 1000, () => controllers.start(1));

  const allowed = resolveMaxUnavailable(options.maxUnavailable, options.hosts);
  const lowerBoundSeconds = Math.ceil(options.hosts / allowed) * options.syncSeconds;
  const limitMs = (options.maxSeconds ?? lowerBoundSeconds * 3 + 3_600) * 1000;
  const killSettled = (): boolean => options.killControllerAt === null
    || (kill !== null && [...kill.fleets].every((f) => kill!.takenAt.has(f)));
  // a controller that joins is given a lease and a renew period per fleet to get its share
  const joinedAndSettled = (): boolean => options.addControllerAt === null
    || clock.nowMs() >= (options.addControllerAt * 1000) + DEFAULT_LEADER_SETTINGS.leaseDurationMs * 4;
  await clock.run({
    untilMs: limitMs, done: () => convergedAt.size === options.fleets && killSettled() && joinedAndSettled(), ...(options.cpu ? { onStep: () => options.cpu!.step() } : {}),
  });
  const endMs = clock.nowMs();
  const live = controllers.live();
  const leasesPerController = Object.fromEntries(live.map((c) => [c.name, c.leases.length]));
  const storeCalls = { reads: store.reads, writes: store.writes };
  const byOperationMap = new Map<string, number>();
  let maxInFlightPerHost = 0;
  let duplicateSends = 0;
  for (const g of groups.all()) {
    for (const [op, n] of g.world.calls) byOperationMap.set(op, (byOperationMap.get(op) ?? 0) + n);
    maxInFlightPerHost = Math.max(maxInFlightPerHost, g.world.maxRunningPerHost);
    duplicateSends += g.commands.duplicateSends;
  }
  const stopped = controllers.stopAll();
  await clock.run({ untilMs: endMs + 60_000 });
  await stopped;

  const times = [...convergedAt.values()].sort((a, b) => a - b).map((ms) => ms / 1000);
  const { log: _log, cpu: _cpu, ...shown } = options;
  const k = kill as { controller: string; atMs: number; fleets: Set<string>; takenAt: Map<string, number> } | null;
  return {
    fleets: options.fleets,
    hostsPerFleet: options.hosts,
    controllers: options.controllers,
    converged: convergedAt.size === options.fleets,
    convergedFleets: convergedAt.size,
    notConverged: names.filter((n) => !convergedAt.has(n)).slice(0, 10),
    convergedSeconds: convergedAt.size === options.fleets ? times[times.length - 1] ?? 0 : null,
    fleetConvergedSeconds: times.length > 0 ? { p50: percentile(times, 50), max: times[times.length - 1]! } : null,
    lowerBoundSeconds,
    allLedSeconds: ledAt.size === options.fleets ? Math.max(...ledAt.values()) / 1000 : null,
    leasesPerController,
    leaseSpread: spreadOf(Object.values(leasesPerController), options.fleets),
    ...(k ? {
      kill: {
        controller: k.controller, atSeconds: k.atMs / 1000, fleetsLed: k.fleets.size,
        takeoverSeconds: k.takenAt.size === k.fleets.size ? Math.max(0, ...[...k.takenAt.values()].map((t) => t - k.atMs)) / 1000 : null,
        boundSeconds: (DEFAULT_LEADER_SETTINGS.leaseDurationMs + settings.resyncMs) / 1000,
      },
    } : {}),
    maxInFlightPerHost,
    duplicateSends,
    apiCalls: {
      total: [...byOperationMap.values()].reduce((a, b) => a + b, 0),
      byOperation: Object.fromEntries([...byOperationMap.entries()].sort(([a], [b]) => a.localeCompare(b))),
    },
    storeCalls,
    simulatedSeconds: endMs / 1000,
    settings: shown,
  };
}
