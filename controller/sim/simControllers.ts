/**
 * The controller processes of a simulation: real Managers over the sim adapters, each behind its own layers —
 * the invariant checker's view of what reached the world, the fault plan's port faults, a clock that can freeze
 * (zombie), and a kill switch (crash: memory lost, ports unreachable, the world goes on).
 */
import { Manager } from '../manager.ts';
import { DEFAULT_LEADER_SETTINGS } from '../leader.ts';
import type { ReconcilerSettings } from '../reconciler/settings.ts';
import type { ReconcilerObserver } from '../reconciler/observer.ts';
import type { Random } from '../ports/clock.ts';
import type { Artifacts } from '../ports/artifacts.ts';
import type { Commands } from '../ports/commands.ts';
import type { Fleet } from '../ports/fleet.ts';
import type { Store } from '../ports/store.ts';
import type { Traffic } from '../ports/traffic.ts';
import type { LaunchEvents } from '../ports/launchEvents.ts';
import type { Logger } from '../log.ts';
import type { VirtualClock } from './virtualClock.ts';
import { PausableClock } from './pausableClock.ts';
import { killable } from './killable.ts';
import { observed } from './observed.ts';
import type { InvariantChecker } from './invariants.ts';
import type { PortFaults } from './portFaults.ts';
import type { PortName } from './faultPlan.ts';
import { TransientError } from '../errors.ts';

interface Running { name: string; manager: Manager; stop: () => void; done: Promise<void>; clock: PausableClock; cutOffUntilMs: number; dead: boolean }

export class SimControllers {
  private readonly running: Running[] = [];
  private readonly stopped: Array<Promise<void>> = [];
  private started = 0;

  constructor(private readonly o: {
    clock: VirtualClock; random: Random; store: Store; fleetPort: Fleet; commands: Commands; traffic: Traffic;
    /** given to the controllers only under faults (its calls are counted as API calls otherwise) */
    artifacts: Artifacts | null;
    /** sees every call that reaches the world (none: no invariants are checked) */
    checker: InvariantChecker | null; faults: PortFaults | null; settings: ReconcilerSettings; log: Logger;
    observer: ReconcilerObserver;
    /** per controller slot: how far its clock is off (a restarted process keeps its machine's clock) */
    clockSkewMs?: number[];
    /** followed by each fleet's leader */
    launchEvents?: LaunchEvents;
    /** the virtual clock each controller's timers go through (the CPU meter tags them with its name) */
    clockFor?: (name: string) => VirtualClock;
  }) {}

  start(count: number): void {
    for (let k = 0; k < count; k++) this.running.push(this.startOne(k));
  }

  /** Kills controller `k` and starts a new process in its place at once. */
  restart(k: number): void {
    const old = this.running[k];
    if (!old) return;
    old.stop();
    this.stopped.push(old.done);
    this.running[k] = this.startOne(k);
  }

  /** Kills controller `k` for good (no new process in its place); returns its name. */
  kill(k: number): string | null {
    const c = this.running[k];
    if (!c || c.dead) return null;
    c.stop();
    return c.name;
  }

  /** The controllers still running: name and the fleets each leads now. */
  live(): Array<{ name: string; leases: string[] }> {
    return this.running.filter((c) => !c.dead).map((c) => ({ name: c.name, leases: c.manager.leases() }));
  }

  /** Controller `k` hands every fleet it leads over (stops acting, releases), as one over its share does. */
  handOver(k: number): void {
    this.running[k]?.manager.handOverLeases();
  }

  /** Freezes controller `k` for `forMs`: a zombie leader once its lease runs out meanwhile. */
  pause(k: number, forMs: number): void {
    this.running[k]?.clock.pause(forMs);
  }

  /** Cuts controller `k` off the store for `forMs`: its store calls fail, its other ports still answer. */
  partition(k: number, forMs: number): void {
    const c = this.running[k];
    if (c) c.cutOffUntilMs = this.o.clock.nowMs() + forMs;
  }

  stopAll(): Promise<unknown> {
    for (const c of this.running) c.stop();
    return Promise.all([...this.running.map((c) => c.done), ...this.stopped]);
  }

  private startOne(slot: number): Running {
    const o = this.o;
    this.started += 1;
    const name = `sim-controller-${this.started}`;
    const abort = new AbortController();
    let dead = false;
    const own = new PausableClock(o.clockFor?.(name) ?? o.clock, o.clockSkewMs?.[slot] ?? 0);
    const running: Running = {
      name, manager: null as unknown as Manager, stop: () => {}, done: Promise.resolve(), clock: own, cutOffUntilMs: 0, dead: false,
    };
    const wrap = <T extends object>(port: T, portName: PortName): T => {
      let p = port;
      if (o.checker && (portName === 'store' || portName === 'commands' || portName === 'fleet')) p = observed(p, portName, name, o.checker);
      if (o.faults) p = o.faults.wrap(p, portName, own);
      if (portName === 'store') p = cutOff(p, () => o.clock.nowMs() < running.cutOffUntilMs);
      return killable(own.gate(p), () => dead);
    };
    const manager = new Manager({
      store: wrap(o.store, 'store'), fleetPort: wrap(o.fleetPort, 'fleet'), commands: wrap(o.commands, 'commands'),
      traffic: wrap(o.traffic, 'traffic'), clock: own, random: o.random, holder: name, settings: o.settings,
      leader: DEFAULT_LEADER_SETTINGS, fleetScanMs: 10_000, log: this.started > 1 ? o.log.child({ holder: name }) : o.log,
      observer: o.observer, ...(o.artifacts ? { artifacts: wrap(o.artifacts, 'artifacts') } : {}),
      ...(o.launchEvents ? { launchEvents: o.launchEvents } : {}),
    });
    running.done = manager.run(abort.signal);
    running.stop = () => {
      dead = true;
      running.dead = true;
      abort.abort(new Error('controller stopped'));
    };
    running.manager = manager;
    return running;
  }
}

/** Fails every call while `isCut()`, as a network partition between one controller and the store does. */
function cutOff<T extends object>(target: T, isCut: () => boolean): T {
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const value: unknown = Reflect.get(obj, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => (isCut()
        ? Promise.reject(new TransientError(`store.${String(prop)}: connection timed out (partition, injected)`))
        : (value as (...a: unknown[]) => unknown).apply(obj, args));
    },
  });
}
