/**
 * How many fleet leases one controller process may hold: ceil(fleets / live controllers). Without a cap the
 * first process up takes every fleet, and with the old one-lease-per-retry pacing the hundredth fleet waited
 * minutes for a leader. With it, free fleets are taken at once up to the share, and a process over its share
 * (another one joined) hands the extra ones over, so fleets spread within one lease of even.
 *
 * Live controllers: membership records not yet expired, every holder of a live lease this process has read
 * (a process can hold fleets before its record is read), and this process. A process at the share while another
 * holds less than the floor hands one over too, so a share that does not divide evenly still ends within one
 * fleet of even. The share only spreads the work; it
 * never decides who may act (the lease and its token do), so a wrong view costs balance, never safety. A fleet
 * left free for a whole lease (membership unreadable, or every other process at its share) is taken whatever
 * the share: spreading never leaves a fleet without a leader.
 */
import type { Clock } from './ports/clock.ts';
import type { ControllerRecord, Lease } from './ports/store.ts';

/** What a leader elector asks of its process's share; one per process, shared by its electors. */
export interface LeaseShare {
  /** the lease of a fleet this process does not lead, as last read (null: none) */
  leaseRead(fleet: string, lease: Lease | null): void;
  /** a place for one more lease: false at the share (unless the fleet has been free since `freeSinceMs` too long) */
  reserve(freeSinceMs: number): boolean;
  /** gives the place back once the acquire settled (a lease taken is counted by then) */
  unreserve(): void;
  /** whether this process should hand `fleet` over now (over its share, and a live process below it) */
  handOver(fleet: string): boolean;
  /** the hand-over `handOver` allowed is done (the lease released) */
  handedOver(): void;
}

/** A share without a cap: a process alone, or tests of one elector. */
export const UNCAPPED_SHARE: LeaseShare = {
  leaseRead: () => undefined, reserve: () => true, unreserve: () => undefined, handOver: () => false, handedOver: () => undefined,
};

export interface FairShareOptions {
  holder: string;
  clock: Clock;
  /** a fleet free this long is taken whatever the share (one lease duration) */
  orphanAfterMs: number;
}

export class FairShare implements LeaseShare {
  private records: ControllerRecord[] = [];
  /** fleet → its lease as last read by this process's elector (fleets it does not lead) */
  private readonly seen = new Map<string, Lease>();
  private readonly held = new Set<string>();
  private fleets = 0;
  private taking = 0;
  private handingOver = 0;
  /** hand-overs asked for whatever the share (Manager.handOverLeases) */
  private requested = 0;

  constructor(private readonly o: FairShareOptions) {}

  setFleets(count: number): void {
    this.fleets = count;
  }

  setMembers(records: ControllerRecord[]): void {
    this.records = records;
  }

  /** A fleet gone from the store: its lease no longer counts for anyone. */
  forget(fleet: string): void {
    this.seen.delete(fleet);
  }

  leaseChanged(fleet: string, held: boolean): void {
    if (held) {
      this.held.add(fleet);
      this.seen.delete(fleet);
    } else this.held.delete(fleet);
  }

  leaseRead(fleet: string, lease: Lease | null): void {
    if (lease && lease.holder !== '' && lease.holder !== this.o.holder) this.seen.set(fleet, lease);
    else this.seen.delete(fleet);
  }

  /** Live controllers, sorted (this process among them). */
  live(): string[] {
    const now = this.o.clock.nowMs();
    const live = new Set<string>([this.o.holder]);
    for (const r of this.records) if (r.expiresAtMs > now) live.add(r.holder);
    for (const lease of this.seen.values()) if (lease.expiresAtMs > now) live.add(lease.holder);
    return [...live].sort();
  }

  share(): number {
    return Math.ceil(this.fleets / this.live().length);
  }

  reserve(freeSinceMs: number): boolean {
    const orphaned = this.o.clock.nowMs() - freeSinceMs >= this.o.orphanAfterMs;
    if (!orphaned && this.held.size + this.taking >= this.share()) return false;
    this.taking += 1;
    return true;
  }

  unreserve(): void {
    this.taking = Math.max(0, this.taking - 1);
  }

  /** Asks for `count` hand-overs whatever the share. */
  requestHandOver(count: number): void {
    this.requested += count;
  }

  handOver(fleet: string): boolean {
    // One at a time: the fleet just freed may be all the one below needed.
    if (!this.held.has(fleet) || this.handingOver > 0) return false;
    if (this.requested > 0) {
      this.requested -= 1;
      this.handingOver += 1;
      return true;
    }
    const share = this.share();
    const floor = Math.floor(this.fleets / this.live().length);
    const held = this.held.size;
    // Over the share: only to someone below it, else the fleet would be orphaned. At a share that does not divide
    // evenly (21 fleets on 4: 6, 6, 6, 3): to someone below the floor, so the spread ends within one (6, 5, 5, 5).
    const over = held > share ? this.someoneBelow(share) : held === share && share > floor && this.someoneBelow(floor);
    if (!over) return false;
    this.handingOver += 1;
    return true;
  }

  handedOver(): void {
    this.handingOver = Math.max(0, this.handingOver - 1);
  }

  private someoneBelow(share: number): boolean {
    const now = this.o.clock.nowMs();
    const counts = new Map<string, number>();
    for (const lease of this.seen.values()) if (lease.expiresAtMs > now) counts.set(lease.holder, (counts.get(lease.holder) ?? 0) + 1);
    return this.live().some((holder) => holder !== this.o.holder && (counts.get(holder) ?? 0) < share);
  }
}
