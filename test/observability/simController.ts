/**
 * The whole controller (manager, leader election, reconciler) over the simulated adapters and a MemoryStore, on
 * a virtual clock, with its HTTP server on 127.0.0.1 port 0 and its logs captured. Virtual time only moves in
 * `runUntil`, so what /metrics and /status answer between two runs describes one and the same moment.
 */
import { Writable } from 'node:stream';
import { Manager } from '../../controller/manager.ts';
import { Metrics } from '../../controller/metrics.ts';
import { EmfPublisher } from '../../controller/emf.ts';
import { startHttpServer, type HttpServer } from '../../controller/http.ts';
import { createLogger, type Logger } from '../../controller/log.ts';
import { DEFAULT_LEADER_SETTINGS } from '../../controller/leader.ts';
import { DEFAULT_SETTINGS } from '../../controller/reconciler/settings.ts';
import { combineObservers, type ReconcilerObserver } from '../../controller/reconciler/observer.ts';
import type { Store } from '../../controller/ports/store.ts';
import { TransientError } from '../../controller/errors.ts';
import { VirtualClock } from '../../controller/sim/virtualClock.ts';
import { seededRandom } from '../../controller/sim/random.ts';
import { SimWorld } from '../../controller/sim/simWorld.ts';
import { SimFleet } from '../../controller/sim/simFleet.ts';
import { SimCommands } from '../../controller/sim/simCommands.ts';
import { SimTraffic } from '../../controller/sim/simTraffic.ts';
import { MemoryStore } from '../../controller/sim/memoryStore.ts';
import { parseFleetSpec } from '../../state/validate.ts';
import type { FleetStatus, RolloutSpec } from '../../state/spec.ts';

export const FLEET = 'web';

/** A log line as pino wrote it. */
export type LogLine = Record<string, unknown> & { level: number; msg: string };

/** Captures pino's JSON lines, parsed and as written. */
export function logCapture(level = 'debug'): { log: Logger; lines: LogLine[]; raw: string[] } {
  const lines: LogLine[] = [];
  const raw: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      for (const line of String(chunk).split('\n')) {
        if (line.trim() === '') continue;
        raw.push(line);
        lines.push(JSON.parse(line) as LogLine);
      }
      done();
    },
  });
  return { log: createLogger({ level, destination }), lines, raw };
}

type StoreMode = 'ok' | 'reject' | 'hang';

/**
 * A Store whose calls can be made to fail (every call rejects, as with DynamoDB out of reach) or to hang (the
 * call never answers). Hung calls are rejected by `heal()`, so nothing waits forever once a test is done.
 */
export class FaultyStore {
  mode: StoreMode = 'ok';
  readonly store: Store;
  private readonly hung: Array<(error: Error) => void> = [];

  constructor(inner: Store) {
    this.store = new Proxy(inner, {
      get: (target, key, receiver) => {
        const value = Reflect.get(target, key, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          if (this.mode === 'reject') return Promise.reject(new TransientError(`store unreachable (test): ${String(key)}`));
          if (this.mode === 'hang') return new Promise((_resolve, reject) => this.hung.push(reject));
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  }

  heal(): void {
    this.mode = 'ok';
    for (const reject of this.hung.splice(0)) reject(new TransientError('store call abandoned by the test'));
  }
}

export interface SimControllerOptions {
  hosts: number;
  syncSeconds?: number;
  failRate?: number;
  rollout?: Partial<RolloutSpec>;
  stuckAfterMs?: number;
  logLevel?: string;
  /** publish CloudWatch EMF lines too, as in AWS mode */
  emf?: boolean;
}

export interface SimController {
  clock: VirtualClock;
  world: SimWorld;
  memory: MemoryStore;
  faults: FaultyStore;
  metrics: Metrics;
  manager: Manager;
  http: HttpServer;
  lines: LogLine[];
  raw: string[];
  log: Logger;
  emf: EmfPublisher | null;
  /** the last status the leader wrote */
  latest(): FleetStatus | null;
  deploy(revision: string): Promise<void>;
  /** Runs virtual time until `done()` or `maxMs` more have passed; returns whether `done()` held. */
  runUntil(done: () => boolean, maxMs: number): Promise<boolean>;
  /** Runs virtual time for `ms`. */
  advance(ms: number): Promise<void>;
  get(path: string): Promise<{ status: number; text: string }>;
  /** Stops the manager (releasing its lease) and the HTTP server. */
  stop(): Promise<void>;
}

const REVISION_0 = 'rev-0';

export async function startSimController(options: SimControllerOptions): Promise<SimController> {
  const clock = new VirtualClock(0);
  const world = new SimWorld({
    clock, random: seededRandom(11), throttleRate: 0, lifecycleHook: true, agentDelayMs: 0, imageRevision: REVISION_0,
  });
  world.launch(options.hosts, { inService: true, revision: REVISION_0 });
  const memory = new MemoryStore();
  const faults = new FaultyStore(memory);
  const { log, lines, raw } = logCapture(options.logLevel);
  const metrics = new Metrics({ clock });
  const emf = options.emf ? new EmfPublisher({ log, clock, store: faults.store, metrics }) : null;
  let latest: FleetStatus | null = null;
  const watcher: ReconcilerObserver = { statusWritten: (_fleet, status) => { latest = status; } };
  const spec = (revision: string) => parseFleetSpec({
    autoScalingGroupName: 'web-asg', source: 's3://bucket/web', destination: '/var/www/app', revision,
    rollout: { maxUnavailable: 2, ...options.rollout },
  });
  let generation = (await memory.putFleetSpec({ name: FLEET, spec: spec(REVISION_0), expectedGeneration: 0, nowMs: 0 })).generation;
  const manager = new Manager({
    store: faults.store, fleetPort: new SimFleet(world),
    commands: new SimCommands(world, { syncMs: (options.syncSeconds ?? 60) * 1000, probeMs: 2_000, failRate: options.failRate ?? 0 }),
    traffic: new SimTraffic(world), clock, random: seededRandom(5), holder: 'test-controller',
    settings: { ...DEFAULT_SETTINGS, resyncMs: 30_000, pollMs: 5_000 }, leader: DEFAULT_LEADER_SETTINGS, fleetScanMs: 10_000,
    log, observer: combineObservers(metrics.observer, watcher, ...(emf ? [emf.observer] : [])),
  });
  metrics.watchLeases(manager);
  const http = await startHttpServer({
    host: '127.0.0.1', port: 0, store: faults.store, health: manager, registry: metrics.registry, clock,
    stuckAfterMs: options.stuckAfterMs ?? 60_000, log,
  });
  const abort = new AbortController();
  const running = manager.run(abort.signal);

  const runUntil = (done: () => boolean, maxMs: number): Promise<boolean> => clock.run({ untilMs: clock.nowMs() + maxMs, done });
  const controller: SimController = {
    clock, world, memory, faults, metrics, manager, http, lines, raw, log, emf,
    latest: () => latest,
    async deploy(revision) {
      generation = (await memory.putFleetSpec({ name: FLEET, spec: spec(revision), expectedGeneration: generation, nowMs: clock.nowMs() })).generation;
    },
    runUntil,
    async advance(ms) {
      await clock.run({ untilMs: clock.nowMs() + ms });
    },
    async get(path) {
      const response = await fetch(`${http.url}${path}`);
      return { status: response.status, text: await response.text() };
    },
    async stop() {
      if (abort.signal.aborted) return;
      faults.heal();
      abort.abort(new Error('test done'));
      // the manager releases its lease on the way out; virtual timers must run for it to get there
      let stopped = false;
      const done = running.then(() => { stopped = true; });
      await clock.run({ untilMs: clock.nowMs() + 120_000, done: () => stopped });
      await done;
      await http.close();
    },
  };
  const settled = await runUntil(() => {
    const s = latest as FleetStatus | null;
    return s !== null && s.revision === REVISION_0 && s.hostCounts.inSync === options.hosts;
  }, 600_000);
  if (!settled) throw new Error('the simulated fleet did not settle at rev-0');
  return controller;
}
