/**
 * The documents `fleetsync status --output json|yaml` prints and the controller's HTTP /status serves: one
 * builder, so both always have the same shape (design: The Fleet resource).
 */
import type { Store } from '../ports/store.ts';
import { API_VERSION, type FleetResource, type FleetStatus } from '../../state/spec.ts';
import { hostView, type HostView } from '../../state/host.ts';

/** The Fleet resource with one more top-level key: the per-host objects. */
export interface FleetDocument extends FleetResource {
  hosts: HostView[];
}

export interface FleetListDocument {
  apiVersion: typeof API_VERSION;
  kind: 'FleetList';
  items: FleetDocument[];
  /** items of the table that could not be read as a fleet (written by hand, or by a newer version) */
  errors?: Array<{ key: string; error: string }>;
}

function problemOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function build(store: Store, record: { name: string; generation: number; spec: FleetResource['spec'] }):
Promise<FleetDocument> {
  const [statusRead, hostList] = await Promise.all([
    // one fleet's unreadable status must not hide the others: it becomes that fleet's error
    store.getStatus(record.name).then(
      (status) => ({ status, error: undefined }),
      (err: unknown) => ({ status: null, error: problemOf(err) })),
    store.listHosts(record.name),
  ]);
  const hosts = hostList.hosts.map(hostView).sort((a, b) => a.instanceId.localeCompare(b.instanceId));
  const errors = [
    ...(statusRead.error ? [`status item: ${statusRead.error}`] : []),
    ...hostList.malformed.map((m) => `host item ${m.key}: ${m.error}`),
  ];
  let status: FleetStatus | undefined = statusRead.status ?? undefined;
  if (errors.length > 0) {
    // no readable status to carry them (a malformed status item): report them on a status of their own
    const base: FleetStatus = status ?? {
      observedGeneration: 0,
      hostCounts: { total: 0, inSync: 0, syncing: 0, queued: 0, failed: 0, launching: 0 },
      conditions: [],
      updatedAtMs: 0,
    };
    status = { ...base, errors: [...new Set([...(base.errors ?? []), ...errors])] };
  }
  return {
    apiVersion: API_VERSION,
    kind: 'Fleet',
    metadata: { name: record.name, generation: record.generation },
    spec: record.spec,
    ...(status ? { status } : {}),
    hosts,
  };
}

/** The Fleet resource of one fleet with its hosts, or null when there is no such fleet. */
export async function fleetDocument(store: Store, name: string): Promise<FleetDocument | null> {
  const record = await store.getFleet(name);
  return record ? build(store, record) : null;
}

/** Every fleet, by name. */
export async function fleetList(store: Store): Promise<FleetListDocument> {
  const { fleets, malformed } = await store.listFleets();
  const sorted = [...fleets].sort((a, b) => a.name.localeCompare(b.name));
  const items = await Promise.all(sorted.map((record) => build(store, record)));
  const list: FleetListDocument = { apiVersion: API_VERSION, kind: 'FleetList', items };
  if (malformed.length > 0) list.errors = malformed;
  return list;
}
