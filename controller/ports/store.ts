/**
 * Durable state: fleet specs, fleet status, one item per host, leases and history.
 * One DynamoDB table in production; every write that must not be lost or duplicated is conditional.
 */
import type { FleetSpec, FleetStatus } from '../../state/spec.ts';
import type { HostRecord } from '../../state/host.ts';

export interface FleetRecord {
  name: string;
  /** bumped on every spec change */
  generation: number;
  spec: FleetSpec;
  updatedAtMs: number;
}

export interface Lease {
  fleet: string;
  holder: string;
  /** grows on every change of holder: a write carrying an older token is rejected */
  token: number;
  expiresAtMs: number;
}

export type HistoryType =
  | 'deploy' | 'rollback' | 'autoRollback' | 'pause' | 'resume' | 'retry' | 'apply'
  | 'rolloutStarted' | 'rolloutFinished' | 'halted' | 'hostFailed' | 'leaderChanged'
  | 'promote' | 'stepStarted' | 'stepFinished' | 'stepPaused' | 'stepPromoted';

export interface HistoryEvent {
  type: HistoryType;
  atMs: number;
  /** who asked: --actor, else user@hostname; "controller" for the controller's own events */
  actor: string;
  message: string;
  reason?: string;
  revision?: string;
  generation?: number;
  instanceId?: string;
  durationMs?: number;
}

/** A controller process's membership record: fair-share leasing counts the live ones. */
export interface ControllerRecord {
  holder: string;
  /** live until then, on the writer's clock; renewed with the leases */
  expiresAtMs: number;
}

/** Reading a fleet's hosts can find items it cannot parse: they are reported, never fatal. */
export interface HostList {
  hosts: HostRecord[];
  malformed: Array<{ key: string; error: string }>;
}

export interface Store {
  /** Every fleet's spec (paginated inside). Malformed items are returned apart, not thrown. */
  listFleets(): Promise<{ fleets: FleetRecord[]; malformed: Array<{ key: string; error: string }> }>;
  getFleet(name: string): Promise<FleetRecord | null>;
  /**
   * Creates (expectedGeneration 0) or changes a spec, bumping generation by one.
   * Throws ConflictError when the stored generation is not expectedGeneration.
   */
  putFleetSpec(args: { name: string; spec: FleetSpec; expectedGeneration: number; nowMs: number }): Promise<FleetRecord>;

  getStatus(fleet: string): Promise<FleetStatus | null>;
  /** Throws StaleTokenError when a newer leader has written this fleet's status. */
  putStatus(args: { fleet: string; status: FleetStatus; token: number }): Promise<void>;

  listHosts(fleet: string): Promise<HostList>;
  /** Throws StaleTokenError when a newer leader has written this host's item. */
  putHost(args: { fleet: string; host: HostRecord; token: number }): Promise<void>;
  deleteHost(args: { fleet: string; instanceId: string; token: number }): Promise<void>;
  /**
   * A new leader's claim: raises the token of the fleet's status and of every host item to `token` without
   * changing what they hold, so a deposed leader's later writes are refused, and returns the host items as
   * they were at the claim (a write the deposed leader made before it is kept, not overwritten).
   * Throws StaleTokenError when an item already carries a newer token.
   */
  claimFleet(args: { fleet: string; token: number }): Promise<HostList>;

  getLease(fleet: string): Promise<Lease | null>;
  /** Takes the lease when free or expired (token + 1); returns null when another holder's lease is live. */
  acquireLease(args: { fleet: string; holder: string; durationMs: number; nowMs: number }): Promise<Lease | null>;
  /** Extends a lease this holder still has (same token); null when it was lost. */
  renewLease(args: { lease: Lease; durationMs: number; nowMs: number }): Promise<Lease | null>;
  releaseLease(lease: Lease): Promise<void>;

  /** Records (or renews) this controller process as live until expiresAtMs. */
  putController(record: ControllerRecord): Promise<void>;
  /** Every controller record, expired ones too (the caller compares with its clock). */
  listControllers(): Promise<ControllerRecord[]>;
  /** Removes a controller record, only while it still expires at expiresAtMs (not renewed meanwhile). */
  deleteController(record: ControllerRecord): Promise<void>;

  appendHistory(fleet: string, event: HistoryEvent): Promise<void>;
  /** Newest first. */
  listHistory(fleet: string, options?: { limit?: number }): Promise<HistoryEvent[]>;
}
