/**
 * The Store port in memory, for the simulator and tests. Same semantics as DynamoStore (the contract suite in
 * test/contract runs against both). Values are deep-copied in and out so callers never share stored state.
 *
 * Choices where the port leaves room (DynamoStore makes the same ones):
 * - acquireLease always issues a new token (previous + 1), even to the holder that already has the lease:
 *   to keep a lease, renew it. Tokens are never reused, not even after a release.
 * - renewLease succeeds while the lease still carries the caller's holder and token, even past its expiry:
 *   an expired lease nobody took has no newer token, so fencing still holds. A leader must stop acting before
 *   its lease expires whatever renew later says.
 * - releaseLease of a lease already lost is a no-op.
 * - getLease returns the lease even when expired (the caller compares with its clock), null once released.
 * - getFleet / getStatus throw MalformedItemError for an item they cannot parse; list calls report it instead.
 * - Fencing: a host or status write whose token is smaller than the item's last writer's is refused; this store
 *   also refuses one smaller than the fleet's current lease token (DynamoStore cannot check both atomically),
 *   unless made with `{ fencing: 'item' }`: then it fences on item tokens only, as DynamoStore does, so the fault
 *   simulations see what a deposed leader's late write does in production.
 */
import type { FleetSpec, FleetStatus } from '../../state/spec.ts';
import type { HostRecord } from '../../state/host.ts';
import { parseFleetStatus, parseHostRecord, parseStoredFleet } from '../../state/storedItems.ts';
import type { ControllerRecord, FleetRecord, HistoryEvent, HostList, Lease, Store } from '../ports/store.ts';
import { ConflictError, MalformedItemError, StaleTokenError, rawGeneration } from '../errors.ts';

interface Fenced {
  value: unknown;
  token: number;
}

interface LeaseSlot {
  holder: string | null;
  token: number;
  expiresAtMs: number;
}

const copy = <T>(value: T): T => structuredClone(value);

function problemOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export interface MemoryStoreOptions {
  /** 'lease' (default): refuse writes older than the item's token or the lease's; 'item': the item's only */
  fencing?: 'lease' | 'item';
}

export class MemoryStore implements Store {
  /** calls that read (get*, list*) */
  reads = 0;
  /** calls that write (put*, delete*, lease changes, appendHistory), counted whether they succeed or not */
  writes = 0;

  private readonly fleets = new Map<string, unknown>();
  private readonly statuses = new Map<string, Fenced>();
  private readonly hosts = new Map<string, Map<string, Fenced>>();
  private readonly leases = new Map<string, LeaseSlot>();
  /** `<fleet>/<instanceId>` of deleted host items → the deleter's token */
  private readonly tombstones = new Map<string, number>();
  private readonly history = new Map<string, Array<{ seq: number; event: HistoryEvent }>>();
  private readonly controllers = new Map<string, number>();
  private historySeq = 0;

  constructor(private readonly options: MemoryStoreOptions = {}) {}

  /** Test hook: stores anything as a fleet's spec item, as a hand edit of the table would. */
  putRawFleet(name: string, value: unknown): void {
    this.fleets.set(name, copy(value));
  }

  /** Test hook: removes a fleet's spec item, as deleting it from the table by hand would. */
  deleteRawFleet(name: string): void {
    this.fleets.delete(name);
  }

  /** Test hook: stores anything as a host item (token 0), as a hand edit of the table would. */
  putRawHost(fleet: string, instanceId: string, value: unknown): void {
    this.hostsOf(fleet).set(instanceId, { value: copy(value), token: 0 });
  }

  /** Test hook: stores anything as a fleet's status item (token 0). */
  putRawStatus(fleet: string, value: unknown): void {
    this.statuses.set(fleet, { value: copy(value), token: 0 });
  }

  /** Test hook: the fleet's newest lease token (0 before any), read without counting a call. */
  leaseToken(fleet: string): number {
    return this.leases.get(fleet)?.token ?? 0;
  }

  /** Test hook: a host item as stored, read without counting a call (do not change it). */
  peekHost(fleet: string, instanceId: string): unknown {
    return this.hosts.get(fleet)?.get(instanceId)?.value;
  }

  /** Test hook: a fleet's spec and status items as stored, read without counting a call (do not change them). */
  peekFleet(name: string): { fleet: unknown; status: unknown } {
    return { fleet: this.fleets.get(name), status: this.statuses.get(name)?.value };
  }

  async listFleets(): Promise<{ fleets: FleetRecord[]; malformed: Array<{ key: string; error: string }> }> {
    this.reads++;
    const fleets: FleetRecord[] = [];
    const malformed: Array<{ key: string; error: string }> = [];
    for (const name of [...this.fleets.keys()].sort()) {
      try {
        fleets.push(copy(parseStoredFleet(this.fleets.get(name))));
      } catch (err) {
        malformed.push({ key: `fleet ${name}`, error: problemOf(err) });
      }
    }
    return { fleets, malformed };
  }

  async getFleet(name: string): Promise<FleetRecord | null> {
    this.reads++;
    if (!this.fleets.has(name)) return null;
    try {
      return copy(parseStoredFleet(this.fleets.get(name)));
    } catch (err) {
      throw new MalformedItemError(`the spec item of fleet ${name} cannot be read: ${problemOf(err)}; fix it with fleetsync fleet apply`,
        { cause: err, generation: rawGeneration(this.fleets.get(name)) });
    }
  }

  async putFleetSpec(args: { name: string; spec: FleetSpec; expectedGeneration: number; nowMs: number }): Promise<FleetRecord> {
    this.writes++;
    const stored = this.fleets.get(args.name) as { generation?: unknown } | undefined;
    const generation = stored === undefined ? 0 : stored.generation;
    if (generation !== args.expectedGeneration) {
      throw new ConflictError(stored === undefined
        ? `fleet ${args.name} does not exist (expected generation ${args.expectedGeneration}): create it first`
        : args.expectedGeneration === 0
          ? `fleet ${args.name} already exists (generation ${String(generation)}): read it and change it instead`
          : `fleet ${args.name} changed meanwhile (generation ${String(generation)}, expected ${args.expectedGeneration}): read it again and retry`);
    }
    const record: FleetRecord = {
      name: args.name, generation: args.expectedGeneration + 1, spec: copy(args.spec), updatedAtMs: args.nowMs,
    };
    this.fleets.set(args.name, copy(record));
    return record;
  }

  async getStatus(fleet: string): Promise<FleetStatus | null> {
    this.reads++;
    const item = this.statuses.get(fleet);
    if (item === undefined) return null;
    try {
      return copy(parseFleetStatus(item.value));
    } catch (err) {
      throw new MalformedItemError(`the status item of fleet ${fleet} cannot be read: ${problemOf(err)}`, { cause: err });
    }
  }

  async putStatus(args: { fleet: string; status: FleetStatus; token: number }): Promise<void> {
    this.writes++;
    this.checkToken(args.fleet, this.statuses.get(args.fleet), args.token, `status of fleet ${args.fleet}`);
    this.statuses.set(args.fleet, { value: copy(args.status), token: args.token });
  }

  async listHosts(fleet: string): Promise<HostList> {
    this.reads++;
    const result: HostList = { hosts: [], malformed: [] };
    const hosts = this.hosts.get(fleet) ?? new Map<string, Fenced>();
    for (const id of [...hosts.keys()].sort()) {
      try {
        result.hosts.push(copy(parseHostRecord(hosts.get(id)?.value)));
      } catch (err) {
        result.malformed.push({ key: `host ${id}`, error: problemOf(err) });
      }
    }
    return result;
  }

  async putHost(args: { fleet: string; host: HostRecord; token: number }): Promise<void> {
    this.writes++;
    const hosts = this.hostsOf(args.fleet);
    const id = args.host.instanceId;
    this.checkToken(args.fleet, this.withTombstone(`${args.fleet}/${id}`, hosts.get(id)), args.token, `host ${id} of fleet ${args.fleet}`);
    hosts.set(id, { value: copy(args.host), token: args.token });
  }

  async deleteHost(args: { fleet: string; instanceId: string; token: number }): Promise<void> {
    this.writes++;
    const hosts = this.hostsOf(args.fleet);
    const key = `${args.fleet}/${args.instanceId}`;
    this.checkToken(args.fleet, this.withTombstone(key, hosts.get(args.instanceId)), args.token, `host ${args.instanceId} of fleet ${args.fleet}`);
    hosts.delete(args.instanceId);
    // as DynamoStore's tombstone: a write of an older leader still in flight must not create the item again
    this.tombstones.set(key, args.token);
  }

  /** The item's fence, or its tombstone's when it was deleted. */
  private withTombstone(key: string, item: Fenced | undefined): Fenced | undefined {
    const deletedBy = this.tombstones.get(key);
    if (item !== undefined || deletedBy === undefined) return item;
    return { value: undefined, token: deletedBy };
  }

  async claimFleet(args: { fleet: string; token: number }): Promise<HostList> {
    const hosts = this.hostsOf(args.fleet);
    for (const [id, item] of hosts) {
      this.writes++;
      this.checkToken(args.fleet, item, args.token, `host ${id} of fleet ${args.fleet}`);
      item.token = args.token;
    }
    const status = this.statuses.get(args.fleet);
    if (status) {
      this.writes++;
      this.checkToken(args.fleet, status, args.token, `status of fleet ${args.fleet}`);
      status.token = args.token;
    }
    return this.listHosts(args.fleet);
  }

  async getLease(fleet: string): Promise<Lease | null> {
    this.reads++;
    const slot = this.leases.get(fleet);
    if (slot === undefined || slot.holder === null) return null;
    return { fleet, holder: slot.holder, token: slot.token, expiresAtMs: slot.expiresAtMs };
  }

  async acquireLease(args: { fleet: string; holder: string; durationMs: number; nowMs: number }): Promise<Lease | null> {
    this.writes++;
    const slot = this.leases.get(args.fleet);
    const live = slot !== undefined && slot.holder !== null && slot.expiresAtMs > args.nowMs;
    if (live && slot.holder !== args.holder) return null;
    const next: LeaseSlot = { holder: args.holder, token: (slot?.token ?? 0) + 1, expiresAtMs: args.nowMs + args.durationMs };
    this.leases.set(args.fleet, next);
    return { fleet: args.fleet, holder: args.holder, token: next.token, expiresAtMs: next.expiresAtMs };
  }

  async renewLease(args: { lease: Lease; durationMs: number; nowMs: number }): Promise<Lease | null> {
    this.writes++;
    const slot = this.leases.get(args.lease.fleet);
    if (slot === undefined || slot.holder !== args.lease.holder || slot.token !== args.lease.token) return null;
    slot.expiresAtMs = args.nowMs + args.durationMs;
    return { ...args.lease, expiresAtMs: slot.expiresAtMs };
  }

  async releaseLease(lease: Lease): Promise<void> {
    this.writes++;
    const slot = this.leases.get(lease.fleet);
    if (slot === undefined || slot.holder !== lease.holder || slot.token !== lease.token) return;
    // The token stays so the next acquire still gets a bigger one.
    slot.holder = null;
    slot.expiresAtMs = 0;
  }

  async putController(record: ControllerRecord): Promise<void> {
    this.writes++;
    this.controllers.set(record.holder, record.expiresAtMs);
  }

  async listControllers(): Promise<ControllerRecord[]> {
    this.reads++;
    return [...this.controllers.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([holder, expiresAtMs]) => ({ holder, expiresAtMs }));
  }

  async deleteController(record: ControllerRecord): Promise<void> {
    this.writes++;
    if (this.controllers.get(record.holder) === record.expiresAtMs) this.controllers.delete(record.holder);
  }

  async appendHistory(fleet: string, event: HistoryEvent): Promise<void> {
    this.writes++;
    const events = this.history.get(fleet) ?? [];
    events.push({ seq: ++this.historySeq, event: copy(event) });
    this.history.set(fleet, events);
  }

  async listHistory(fleet: string, options?: { limit?: number }): Promise<HistoryEvent[]> {
    this.reads++;
    const events = [...(this.history.get(fleet) ?? [])]
      .sort((a, b) => b.event.atMs - a.event.atMs || b.seq - a.seq)
      .map((e) => copy(e.event));
    return options?.limit === undefined ? events : events.slice(0, Math.max(0, options.limit));
  }

  private hostsOf(fleet: string): Map<string, Fenced> {
    let hosts = this.hosts.get(fleet);
    if (hosts === undefined) {
      hosts = new Map();
      this.hosts.set(fleet, hosts);
    }
    return hosts;
  }

  private checkToken(fleet: string, item: Fenced | undefined, token: number, what: string): void {
    const itemToken = item?.token ?? 0;
    const leaseToken = this.options.fencing === 'item' ? 0 : this.leases.get(fleet)?.token ?? 0;
    const newer = Math.max(itemToken, leaseToken);
    if (token < newer) {
      throw new StaleTokenError(
        `${what}: this write carries lease token ${token} but a newer leader holds token ${newer}; this process is no longer the leader of fleet ${fleet}`);
    }
  }
}
