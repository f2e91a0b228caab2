/**
 * The manager starts one leader election per fleet in the store and, for each fleet this process leads, a
 * fleet reconciler. Like controller-runtime's manager, it owns the runnables and stops them together. It also
 * keeps this process's membership record, which the electors' fair share (fairShare.ts) counts, and stops the
 * election of a fleet gone from the store.
 */
import { setMaxListeners } from 'node:events';
import type { Artifacts } from './ports/artifacts.ts';
import type { Clock, Random } from './ports/clock.ts';
import type { Commands } from './ports/commands.ts';
import type { Fleet } from './ports/fleet.ts';
import type { FleetRecord, Store } from './ports/store.ts';
import type { Traffic } from './ports/traffic.ts';
import type { LaunchEvents } from './ports/launchEvents.ts';
import type { Logger } from './log.ts';
import { LeaderElector, type LeaderSettings } from './leader.ts';
import { FairShare } from './fairShare.ts';
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

/** A controller record expired this long is removed by whoever reads it (a process that crashed leaves one). */
const FORGET_CONTROLLER_AFTER_MS = 3_600_000;

interface Election { done: Promise<void>; stop: AbortController }

export class Manager {
  private readonly elections = new Map<string, Election>();
  /** elections of deleted fleets, still winding down (a leader releasing its lease) */
  private readonly stopping = new Set<Promise<void>>();
  private readonly leading = new Set<string>();
  private readonly share: FairShare;
  /** when this process's record last said it expires: it removes the record on the way out */
  private announcedUntilMs: number | null = null;
  /** the last spec of each fleet a reconciler of this process read: the next term starts knowing it */
  private readonly lastSpecs = new Map<string, FleetRecord>();
  private fleetNames: string[] = [];
  /** Auto Scaling group → the fleets that name it, at the last scan */
  private groups = new Map<string, string[]>();
  private lastLoopMs: number;
  storeReachable = false;

  constructor(private readonly o: ManagerOptions) {
    this.lastLoopMs = o.clock.nowMs();
    this.share = new FairShare({ holder: o.holder, clock: o.clock, orphanAfterMs: o.leader.leaseDurationMs });
  }

  /**
   * Hands every fleet this process leads over, one after another at their renewals, as it does when over its
   * share: each reconciler stops, the lease is released, and this process leaves the fleet to others for a lease.
   */
  handOverLeases(): void {
    this.share.requestHandOver(this.leading.size);
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
    // One listener per fleet's election: a hundred fleets is normal.
    setMaxListeners(0, signal);
    // Counted before the first election, so processes that start together see each other and split the fleets.
    await this.announce();
    const members = this.membership(signal);
    while (!signal.aborted) {
      await this.scan(signal);
      try {
        await this.o.clock.sleep(this.o.fleetScanMs, signal);
      } catch {
        break;
      }
    }
    await Promise.allSettled([members, ...this.stopping, ...[...this.elections.values()].map((e) => e.done)]);
    if (this.announcedUntilMs !== null) {
      await this.o.store.deleteController({ holder: this.o.holder, expiresAtMs: this.announcedUntilMs }).catch(() => undefined);
    }
  }

  /**
   * Renews this process's record and reads the others', three times per lease duration: the record lives one
   * lease, so two renewals may fail before it lapses, and a process joining is counted within a third of a lease.
   */
  private async membership(signal: AbortSignal): Promise<void> {
    const everyMs = Math.max(this.o.leader.retryPeriodMs, Math.floor(this.o.leader.leaseDurationMs / 3));
    while (!signal.aborted) {
      try {
        await this.o.clock.sleep(everyMs, signal);
      } catch {
        return;
      }
      if (!signal.aborted) await this.announce();
    }
  }

  private async announce(): Promise<void> {
    const { store, clock, holder, leader } = this.o;
    try {
      // Expires with a lease: a process that died stops counting when its leases can be taken.
      const expiresAtMs = clock.nowMs() + leader.leaseDurationMs;
      await store.putController({ holder, expiresAtMs });
      this.announcedUntilMs = expiresAtMs;
      const records = await store.listControllers();
      this.share.setMembers(records);
      const nowMs = clock.nowMs();
      for (const r of records) {
        if (r.expiresAtMs < nowMs - FORGET_CONTROLLER_AFTER_MS) await store.deleteController(r);
      }
    } catch (error) {
      // Only the spread suffers: the share then counts the holders of the leases this process reads.
      this.o.log.warn({ err: error }, 'could not renew or read the controller records');
    }
  }

  private async scan(signal: AbortSignal): Promise<void> {
    this.lastLoopMs = this.o.clock.nowMs();
    let names: string[];
    let present: Set<string>;
    try {
      const { fleets, malformed } = await this.o.store.listFleets();
      this.storeReachable = true;
      for (const bad of malformed) this.o.log.error({ key: bad.key, problem: bad.error }, 'malformed fleet item: that fleet is skipped, the others go on');
      names = fleets.map((f) => f.name);
      // A malformed item is still a fleet (its leader keeps its launch hooks alive); only a missing one is gone.
      present = new Set([...names, ...malformed.flatMap((m) => (m.key.startsWith('fleet ') ? [m.key.slice('fleet '.length)] : []))]);
      this.groups = new Map();
      for (const f of fleets) this.groups.set(f.spec.autoScalingGroupName, [...(this.groups.get(f.spec.autoScalingGroupName) ?? []), f.name]);
    } catch (error) {
      this.storeReachable = false;
      this.o.log.warn({ err: error }, 'could not list fleets');
      return;
    }
    const wanted = this.o.fleets && this.o.fleets.length > 0 ? names.filter((n) => this.o.fleets!.includes(n)) : names;
    this.fleetNames = wanted;
    for (const [fleet, election] of this.elections) {
      if (present.has(fleet)) continue;
      // Deleted: no more lease attempts for it (its leader, if this process, steps down and releases).
      this.o.log.info({ fleet }, 'the fleet is gone from the store: its election stops');
      election.stop.abort(new Error(`fleet ${fleet} deleted`));
      this.stopping.add(election.done);
      void election.done.finally(() => this.stopping.delete(election.done));
      this.elections.delete(fleet);
      this.share.forget(fleet);
    }
    this.share.setFleets(new Set([...wanted, ...this.elections.keys()]).size);
    for (const fleet of wanted) {
      if (this.elections.has(fleet)) continue;
      const stop = new AbortController();
      const onAbort = (): void => stop.abort(signal.reason);
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      const elector = new LeaderElector({
        store: this.o.store, fleet, holder: this.o.holder, clock: this.o.clock, random: this.o.random,
        settings: this.o.leader, log: this.o.log, share: this.share,
        onLeaseChange: (held) => {
          this.share.leaseChanged(fleet, held);
          if (held) this.leading.add(fleet);
          else this.leading.delete(fleet);
        },
      });
      const election = elector.run(stop.signal, (lease, leadSignal, leaseHeld) => new FleetReconciler({
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
      }).run(leadSignal)).catch((error: unknown) => this.o.log.error({ fleet, err: error }, 'leader election stopped'))
        .finally(() => signal.removeEventListener('abort', onAbort));
      this.elections.set(fleet, { done: election, stop });
    }
  }
}
