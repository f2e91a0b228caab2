/**
 * `fleetsync gc`: removes the objects of a source that nothing may fetch any more. An object stays when a
 * manifest of the `keep` newest published revisions (by publish time) lists it, when a revision a fleet uses
 * lists it (pinnedRevisions.ts), or when it is younger than the grace period: a publish uploads objects before
 * its manifest, and a running sync may still fetch what it listed. Manifests, plain revisions and anything
 * else outside objects/ are never touched; a manifest gc cannot read stops it before anything is removed.
 */
import type { ArtifactStore, StoredObject } from '../ports/artifacts.ts';
import type { Clock } from '../ports/clock.ts';
import { UnknownReferencesError } from '../errors.ts';
import { looksLikeManifest, parseManifest, type Manifest } from '../../state/manifest.ts';
import { forEachLimited } from '../publish/concurrency.ts';
import type { PinnedRevisions } from './pinnedRevisions.ts';

const MANIFEST_READS_IN_FLIGHT = 8;
const HOUR_MS = 3_600_000;

export interface CollectOptions {
  source: string;
  /** how many of the newest published revisions keep their objects */
  keep: number;
  gracePeriodMs: number;
  /** revisions fleets use: kept whatever their age */
  pinned: PinnedRevisions;
  dryRun: boolean;
  store: ArtifactStore;
  clock: Clock;
  signal?: AbortSignal;
}

export interface Tally {
  objects: number;
  bytes: number;
}

export interface CollectSummary {
  source: string;
  dryRun: boolean;
  keep: number;
  gracePeriodHours: number;
  revisions: {
    published: number;
    /** the newest `keep` published revisions, newest first */
    newest: string[];
    /** revisions fleets use -> the fleets */
    inUse: Record<string, string[]>;
    /** revisions fleets use that the source holds no manifest for (plain folders, or missing) */
    notPublished: string[];
  };
  stored: Tally;
  referenced: Tally;
  /** unreferenced, but younger than the grace period */
  young: Tally;
  /** removed, or with dryRun what would be */
  removed: Tally;
}

interface Published {
  revision: string;
  manifest: Manifest;
  publishedMs: number;
}

async function readPublished(options: CollectOptions, revisions: readonly string[]): Promise<Published[]> {
  const { store, source } = options;
  const found: Published[] = [];
  await forEachLimited(revisions, MANIFEST_READS_IN_FLIGHT, async (revision) => {
    const text = await store.readManifest({ source, revision });
    // no manifest, or an app's own manifest.json: a plain folder, which references no objects
    if (text === null || !looksLikeManifest(text)) return;
    const url = store.manifestUrl({ source, revision });
    let manifest: Manifest;
    try {
      manifest = parseManifest(text, url);
    } catch (err) {
      throw new UnknownReferencesError(`gc cannot tell which objects revision ${revision} uses: ${(err as Error).message}. `
        + 'Nothing was removed', { cause: err });
    }
    const publishedMs = Date.parse(manifest.publishedAt);
    // a publish time that does not parse counts as the newest: its objects are kept rather than guessed at
    found.push({ revision, manifest, publishedMs: Number.isNaN(publishedMs) ? Number.POSITIVE_INFINITY : publishedMs });
  });
  return found;
}

function add(tally: Tally, object: StoredObject): void {
  tally.objects += 1;
  tally.bytes += object.size;
}

export async function collectObjects(options: CollectOptions): Promise<CollectSummary> {
  const { store, source, clock } = options;
  const signal = options.signal ? { signal: options.signal } : {};
  const revisions = await store.listRevisions({ source, ...signal });
  const published = (await readPublished(options, revisions))
    .sort((a, b) => b.publishedMs - a.publishedMs || (a.revision < b.revision ? -1 : 1));
  const newest = published.slice(0, options.keep);
  const byName = new Map(published.map((p) => [p.revision, p]));
  const referenced = new Set<string>();
  for (const p of newest) for (const f of p.manifest.files) referenced.add(f.sha256);
  for (const revision of options.pinned.keys()) for (const f of byName.get(revision)?.manifest.files ?? []) referenced.add(f.sha256);

  const objects = await store.scanObjects({ source, ...signal });
  const nowMs = clock.nowMs();
  const tally = { stored: { objects: 0, bytes: 0 }, referenced: { objects: 0, bytes: 0 }, young: { objects: 0, bytes: 0 } };
  let doomed: StoredObject[] = [];
  for (const object of objects) {
    add(tally.stored, object);
    if (referenced.has(object.sha256)) add(tally.referenced, object);
    else if (nowMs - object.modifiedMs < options.gracePeriodMs) add(tally.young, object);
    else doomed.push(object);
  }

  // A publish that finished meanwhile may list an object it found already stored: look once more, just before
  // removing, at every revision that had no manifest at the first look.
  const appeared = (await store.listRevisions({ source, ...signal })).filter((r) => !byName.has(r));
  if (appeared.length > 0) {
    const late = new Set<string>();
    for (const p of await readPublished(options, appeared)) for (const f of p.manifest.files) late.add(f.sha256);
    doomed = doomed.filter((o) => {
      if (!late.has(o.sha256)) return true;
      add(tally.referenced, o);
      return false;
    });
  }

  const removed = { objects: 0, bytes: 0 };
  for (const object of doomed) add(removed, object);
  if (!options.dryRun && doomed.length > 0) await store.deleteObjects({ source, keys: doomed.map((o) => o.key), ...signal });
  return {
    source,
    dryRun: options.dryRun,
    keep: options.keep,
    gracePeriodHours: options.gracePeriodMs / HOUR_MS,
    revisions: {
      published: published.length,
      newest: newest.map((p) => p.revision),
      inUse: Object.fromEntries([...options.pinned].sort(([a], [b]) => (a < b ? -1 : 1))),
      notPublished: [...options.pinned.keys()].filter((r) => !byName.has(r)).sort(),
    },
    stored: tally.stored,
    referenced: tally.referenced,
    young: tally.young,
    removed,
  };
}
