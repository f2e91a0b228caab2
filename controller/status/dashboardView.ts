/**
 * The compact JSON the dashboard polls (/api/fleets, /api/fleets/<name>): built from the same FleetDocument as
 * /status, cut to what the page draws, so a 2,000-host fleet stays small enough to read every second.
 */
import type { Store, HistoryEvent } from '../ports/store.ts';
import type { Condition, ConditionType, HostCounts, RolloutRecord } from '../../state/spec.ts';
import { BUCKET_OF, type Bucket } from '../../state/buckets.ts';
import { fleetDocument, fleetList, type FleetDocument } from './fleetDocument.ts';

/** How many history events one fleet's page shows. */
export const DASHBOARD_HISTORY_LIMIT = 100;

export interface FleetSummary {
  name: string;
  generation: number;
  observedGeneration: number | null;
  /** spec.revision: what the operator asked for */
  desired: string;
  /** status.revision: what every live host has reached, when they have */
  complete: string | null;
  paused: boolean;
  conditions: Partial<Record<ConditionType, Pick<Condition, 'status' | 'reason' | 'message'>>>;
  counts: HostCounts;
  /** hosts reporting the desired revision (the progress bar's numerator) */
  atDesired: number;
  rollout: RolloutRecord | null;
  /** when the controller last refreshed this status, when the status carries it */
  observedAtMs: number | null;
  errors: string[];
}

/**
 * One host as a row: [instanceId, bucket, lifecycleState, state, reportedRevision, targetRevision, attempt,
 * lastError, sinceMs]. An array, not an object: at 2,000 hosts the keys would be half the bytes. The bucket
 * comes from state/buckets.ts so the page never keeps its own copy of the state-to-bucket table.
 */
export type HostRow = [string, Bucket | 'gone', string, string, string | null, string | null, number, string | null, number];

export interface FleetDetail extends FleetSummary {
  spec: {
    source: string;
    destination: string;
    strategy: string;
    maxUnavailable: number | string;
    maxFailures: number;
    autoRollback: boolean;
  };
  hosts: HostRow[];
  /** newest first */
  history: HistoryEvent[];
}

function observedAtMs(status: unknown): number | null {
  // status.observedAt is new (another change adds it): an ISO time or epoch ms, used when present
  const value = (status as { observedAt?: unknown } | undefined)?.observedAt;
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string') {
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? null : ms;
  }
  return null;
}

function summary(doc: FleetDocument): FleetSummary {
  const status = doc.status;
  const conditions: FleetSummary['conditions'] = {};
  for (const c of status?.conditions ?? []) conditions[c.type] = { status: c.status, reason: c.reason, message: c.message };
  const live = doc.hosts.filter((h) => h.state !== 'gone');
  return {
    name: doc.metadata.name,
    generation: doc.metadata.generation,
    observedGeneration: status?.observedGeneration ?? null,
    desired: doc.spec.revision,
    complete: status?.revision ?? null,
    paused: doc.spec.rollout.paused,
    conditions,
    counts: status?.hostCounts ?? { total: live.length, inSync: 0, syncing: 0, queued: 0, failed: 0, launching: 0 },
    atDesired: live.filter((h) => h.reportedRevision === doc.spec.revision).length,
    rollout: status?.rollout ?? null,
    observedAtMs: observedAtMs(status),
    errors: status?.errors ?? [],
  };
}

export async function fleetSummaries(store: Store): Promise<{ fleets: FleetSummary[]; errors: Array<{ key: string; error: string }> }> {
  const list = await fleetList(store);
  return { fleets: list.items.map(summary), errors: list.errors ?? [] };
}

/** One fleet with its hosts and history, or null when there is no such fleet. */
export async function fleetDetail(store: Store, name: string): Promise<FleetDetail | null> {
  const [doc, history] = await Promise.all([
    fleetDocument(store, name),
    store.listHistory(name, { limit: DASHBOARD_HISTORY_LIMIT }),
  ]);
  if (!doc) return null;
  const { rollout } = doc.spec;
  return {
    ...summary(doc),
    spec: {
      source: doc.spec.source, destination: doc.spec.destination, strategy: doc.spec.strategy,
      maxUnavailable: rollout.maxUnavailable, maxFailures: rollout.maxFailures, autoRollback: rollout.autoRollback,
    },
    hosts: doc.hosts.map((h): HostRow => [
      h.instanceId, h.state === 'gone' ? 'gone' : BUCKET_OF[h.state], h.lifecycleState, h.state, h.reportedRevision,
      h.targetRevision, h.attempt, h.lastError, Date.parse(h.since),
    ]),
    history,
  };
}
