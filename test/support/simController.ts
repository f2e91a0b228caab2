/**
 * A controller (the real Manager) over the simulated adapters and a MemoryStore, on a virtual clock: for tests
 * that drive one fleet through a scenario and look at the store and the simulated hosts afterwards.
 */
import { Manager } from '../../controller/manager.ts';
import { DEFAULT_SETTINGS, type ReconcilerSettings } from '../../controller/reconciler/settings.ts';
import { DEFAULT_LEADER_SETTINGS } from '../../controller/leader.ts';
import { silentLogger, type Logger } from '../../controller/log.ts';
import { VirtualClock } from '../../controller/sim/virtualClock.ts';
import { seededRandom } from '../../controller/sim/random.ts';
import { SimWorld } from '../../controller/sim/simWorld.ts';
import { SimFleet } from '../../controller/sim/simFleet.ts';
import { SimCommands } from '../../controller/sim/simCommands.ts';
import { SimTraffic } from '../../controller/sim/simTraffic.ts';
import { MemoryStore } from '../../controller/sim/memoryStore.ts';
import { parseFleetSpec } from '../../state/validate.ts';
import type { FleetSpec } from '../../state/spec.ts';
import type { Artifacts } from '../../controller/ports/artifacts.ts';

export interface SimController {
  clock: VirtualClock;
  world: SimWorld;
  store: MemoryStore;
  commands: SimCommands;
  traffic: SimTraffic;
  /** the controller's Fleet port (patch its methods to inject faults or a hook's timeout) */
  fleet: SimFleet;
  /** mutable: change failRate mid-test */
  sim: { syncMs: number; probeMs: number; failRate: number };
  /** the hosts that were in service at the start */
  hosts: string[];
  /** a valid spec at `revision` with these fields over the defaults */
  spec(revision: string, fields?: Record<string, unknown>): FleetSpec;
  /**
   * The controller process is paused for `ms` (a GC pause, a frozen VM): its clock jumps ahead by that much
   * while its timers fire at the times they were due, as in a process that wakes up late.
   */
  pause(ms: number): void;
  /** lets virtual time pass */
  advance(ms: number): Promise<void>;
  /** stops the controller (a clean shutdown); `edit` then changes the store; a new controller starts on it */
  restart(edit?: () => Promise<void>): Promise<void>;
  stop(): Promise<void>;
}

export function startSimController(options: {
  hosts: number; revision: string; syncMs?: number; failRate?: number; log?: Logger; artifacts?: Artifacts;
  /** over DEFAULT_SETTINGS */
  settings?: Partial<ReconcilerSettings>;
}): SimController {
  const clock = new VirtualClock(0);
  const world = new SimWorld({
    clock, random: seededRandom(1), throttleRate: 0, lifecycleHook: true, agentDelayMs: 0, imageRevision: options.revision,
  });
  const hosts = world.launch(options.hosts, { inService: true, revision: options.revision });
  const store = new MemoryStore();
  const sim = { syncMs: options.syncMs ?? 30_000, probeMs: 1_000, failRate: options.failRate ?? 0 };
  const commands = new SimCommands(world, sim);
  const traffic = new SimTraffic(world);
  const fleet = new SimFleet(world);
  let pausedMs = 0;
  const processClock = {
    nowMs: () => clock.nowMs() + pausedMs,
    sleep: (ms: number, signal?: AbortSignal) => clock.sleep(ms, signal),
    setTimer: (ms: number, fn: () => void) => clock.setTimer(ms, fn),
  };
  let abort = new AbortController();
  let generation = 0;
  const start = (): Promise<void> => new Manager({
    store, fleetPort: fleet, commands, traffic, clock: processClock, random: seededRandom(2 + generation++), holder: `test-${generation}`,
    settings: { ...DEFAULT_SETTINGS, ...options.settings }, leader: DEFAULT_LEADER_SETTINGS, fleetScanMs: 5_000, log: options.log ?? silentLogger,
    ...(options.artifacts ? { artifacts: options.artifacts } : {}),
  }).run(abort.signal);
  let done = start();
  return {
    clock, world, store, commands, traffic, fleet, sim, hosts,
    spec: (revision, fields = {}) => parseFleetSpec({
      autoScalingGroupName: 'asg', source: 's3://bucket/app', destination: '/srv/app', revision, ...fields,
    }),
    advance: async (ms) => {
      await clock.run({ untilMs: clock.nowMs() + ms });
    },
    pause: (ms) => {
      pausedMs += ms;
    },
    restart: async (edit) => {
      abort.abort();
      await clock.run({ untilMs: clock.nowMs() + 60_000 });
      await done;
      await edit?.();
      abort = new AbortController();
      done = start();
    },
    stop: async () => {
      abort.abort();
      await clock.run({ untilMs: clock.nowMs() + 60_000 });
      await done;
    },
  };
}
