/**
 * The revisions the fleets using a source may still sync to, read from the Store: each fleet's desired revision,
 * the last one it completed and the last one it attempted, the one `rollback` would go back to, and every
 * revision its hosts report, target or failed at. `fleetsync gc` keeps their objects whatever their age.
 */
import type { Store } from '../ports/store.ts';
import { UnknownReferencesError } from '../errors.ts';
import { previousRevision } from '../cli/commands/rollback.ts';

/** One spelling per source: `s3://b/web/` and `s3://b/web` are the same place. */
export function sameSource(a: string, b: string): boolean {
  return a.replace(/\/+$/, '') === b.replace(/\/+$/, '');
}

/** revision -> the fleets that use it (sorted names) */
export type PinnedRevisions = Map<string, string[]>;

export async function pinnedRevisions(store: Store, source: string): Promise<{ pinned: PinnedRevisions; fleets: string[] }> {
  const { fleets, malformed } = await store.listFleets();
  if (malformed.length > 0) {
    throw new UnknownReferencesError(`${malformed.length} fleet item(s) in the store cannot be read (${malformed[0]?.key ?? '?'}: `
      + `${malformed[0]?.error ?? '?'}), so gc cannot tell whether they use ${source}: fix or delete them; nothing was removed`);
  }
  const pinned: PinnedRevisions = new Map();
  const using = fleets.filter((f) => sameSource(f.spec.source, source));
  const pin = (revision: string | null | undefined, fleet: string): void => {
    if (!revision) return;
    const names = pinned.get(revision) ?? [];
    if (!names.includes(fleet)) pinned.set(revision, [...names, fleet].sort());
  };
  for (const fleet of using) {
    pin(fleet.spec.revision, fleet.name);
    const status = await store.getStatus(fleet.name);
    pin(status?.revision, fleet.name);
    pin(status?.lastAttemptedRevision, fleet.name);
    pin((await previousRevision(store, fleet))?.revision, fleet.name);
    const hosts = await store.listHosts(fleet.name);
    if (hosts.malformed.length > 0) {
      throw new UnknownReferencesError(`${hosts.malformed.length} host item(s) of fleet ${fleet.name} cannot be read `
        + `(${hosts.malformed[0]?.key ?? '?'}: ${hosts.malformed[0]?.error ?? '?'}), so gc cannot tell which revisions they run: `
        + 'fix or delete them; nothing was removed');
    }
    for (const host of hosts.hosts) {
      const c = host.context;
      for (const revision of [c.reportedRevision, c.desiredRevision, c.targetRevision, c.failedRevision]) pin(revision, fleet.name);
    }
  }
  return { pinned, fleets: using.map((f) => f.name).sort() };
}
