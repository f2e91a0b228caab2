/**
 * The manager starts one leader election per fleet in the store and, for each fleet this process leads, a
 * fleet reconciler. Like controller-runtime's manager, it owns the runnables and stops them together.
 */
import type { Artifacts } from './ports/artifacts.ts';
import type { Clock, Random } from './ports/clock.ts';
import type { Commands } from './ports/commands.ts';
import type { Fleet } from './ports/fleet.ts';
import type { FleetRecord, Store } from './ports/store.ts';
import type { Traffic } from './ports/traffic.ts';
import type { LaunchEvents } from './ports/launchEvents.ts';
import type { Logger } from './log.ts';
import { LeaderElector, LeaseTurns, type LeaderSettings } from './leader.ts';
import { FleetReconciler } from './reconciler/fleetReconciler.ts';
import type { ReconcilerObserver } from './reconciler/observer.ts';
import type { ReconcilerSettings } from './reconciler/settings.ts';

export interface ManagerOptions {
  store: Store;
  fleetPort: Fleet;
  commands: Commands;
  traffic: Traffic;
  clock: Clock;
  random: Random;
  holder: string;
  settings: ReconcilerSettings;
  leader: LeaderSettings;
  /** how often the store is scanned for new fleets */
  fleetScanMs: number;
  /** only these fleets (all when empty) */
  fleets?: string[];
  log: Logger;
  observer?: ReconcilerObserver;
  /** checked once per rollout for the revision's size (and whether it is complete) */
  artifacts?: Artifacts;
  /** each fleet's reconciler follows its group's launch events while this process leads the fleet */
  launchEvents?: LaunchEvents;
}

export class Manager {
  private readonly elections = new Map<string, Promise<void>>();
  private readonly leading = new Set<string>();
  private readonly turns = new LeaseTurns();
  /** the last spec of each fleet a reconciler of this process read: the next term starts knowing it */
  private readonly lastSpecs = new Map<string, FleetRecord>();
  private fleetNames: string[] = [];
  /** Auto Scaling group → the fleets that name it, at the last scan */
  private groups = new Map<string, string[]>();
  private lastLoopMs: number;
  storeReachable = false;

  constructor(private readonly o: ManagerOptions) {
    this.lastLoopMs = o.clock.nowMs();
  }

  /** Fleets this process leads now. */
  leases(): string[] {
    return [...this.leading].sort();
  }

  fleets(): string[] {
    return this.fleetNames;
  }

  /** When the fleet scan loop last turned: a stuck loop shows in /healthz. */
  lastLoop(): number {
    return this.lastLoopMs;
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.scan(signal);
      try {
        await this.o.clock.sleep(this.o.fleetScanMs, signal);
      } catch {
        break;
      }
    }
    await Promise.allSettled([...this.elections.values()]);
  }

  private async scan(signal: AbortSignal): Promise<void> {
    this.lastLoopMs = this.o.clock.nowMs();
    let names: string[];
    try {
      const { fleets, malformed } = await this.o.store.listFleets();
      this.storeReachable = true;
      for (const bad of malformed) this.o.log.error({ key: bad.key, problem: bad.error }, 'malformed fleet item: that fleet is skipped, the others go on');
      names = fleets.map((f) => f.name);
      this.groups = new Map();
      for (const f of fleets) this.groups.set(f.spec.autoScalingGroupName, [...(this.groups.get(f.spec.autoScalingGroupName) ?? []), f.name]);
    } catch (error) {
      this.storeReachable = false;
      this.o.log.warn({ err: error }, 'could not list fleets');
      return;
    }
    const wanted = this.o.fleets && this.o.fleets.length > 0 ? names.filter((n) => this.o.fleets!.includes(n)) : names;
    this.fleetNames = wanted;
    for (const fleet of wanted) {
      if (this.elections.has(fleet)) continue;
      const elector = new LeaderElector({
        store: this.o.store, fleet, holder: this.o.holder, clock: this.o.clock, random: this.o.random,
        settings: this.o.leader, log: this.o.log, heldElsewhere: () => this.leading.size, turns: this.turns,
        onLeaseChange: (held) => (held ? this.leading.add(fleet) : this.leading.delete(fleet)),
      });
      const election = elector.run(signal, (lease, leadSignal, leaseHeld) => new FleetReconciler({
        fleet, lease, leaseHeld,
        lastKnownSpec: this.lastSpecs.get(fleet),
        onSpecRead: (record) => this.lastSpecs.set(fleet, record),
        sharingGroup: (record) => {
          // the spec the reconciler holds may be newer than the scan: its own group counts, not the scanned one
          const others = [...this.groups.entries()].flatMap(([group, named]) => (group === record.spec.autoScalingGroupName ? named : []));
          return others.filter((name) => name !== fleet);
        },
        store: this.o.store, fleetPort: this.o.fleetPort, commands: this.o.commands, traffic: this.o.traffic,
        clock: this.o.clock, random: this.o.random, settings: this.o.settings, log: this.o.log, observer: this.o.observer,
        ...(this.o.artifacts ? { artifacts: this.o.artifacts } : {}),
        ...(this.o.launchEvents ? { launchEvents: this.o.launchEvents } : {}),
      }).run(leadSignal)).catch((error: unknown) => this.o.log.error({ fleet, err: error }, 'leader election stopped'));
      this.elections.set(fleet, election);
    }
  }
}
