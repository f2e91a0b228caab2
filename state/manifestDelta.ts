/**
 * A manifest delta (`<source>/<B>/.fleetsync/delta/<A>.json`): what changed from published revision A to B, so
 * that a host holding A fetches a few lines instead of B's whole manifest (293 kB for 2,000 files, 7 MB for
 * 50,000).
 *
 * Why deltas from recent revisions, and not a compressed manifest or a tree of per-folder manifests: a 1% change
 * is a few dozen lines here whatever the tree's size, where gzip only halves a manifest (SHA-256 hex does not
 * compress) and a git-like tree still fetches one manifest per changed folder. The host already lists
 * `<source>/<B>/` to find the manifest, so it sees which deltas exist at no extra request. The manifest stays
 * the source of truth: the delta names the manifest it was made with (`digest`, the SHA-256 over B's canonical
 * entries, also in B's manifest header, and `manifestMd5`, the MD5 of B's manifest text, which S3's listing
 * shows as its ETag), and a host that cannot rebuild exactly that list from its record of A reads the manifest.
 * Under `.fleetsync/` (a folder no published revision holds: publish refuses it), so a revision folder holding
 * only deltas is what an interrupted publish leaves: not a plain folder, and not deployable.
 *
 *   {"apiVersion":"fleetsync.dev/v1","kind":"ManifestDelta","revision":"B","base":"A","baseDigest":"<hex>",
 *    "digest":"<hex>","manifestMd5":"<hex>","totals":{"files":2000,"bytes":1150000},"files":[
 *   {"path":"lib/a.php","sha256":"<64 hex>","size":4,"mode":"644"}
 *   ],"removed":[
 *   "old/b.php"
 *   ]}
 *
 * Not gzip'd: gzip would take a 20-entry delta from 3.3 kB to 1.2 kB and a 500-entry one from 74 kB to 25 kB
 * (measured, bench data), 21 kB for ten hosts in the 2,000-file bench, while a plain delta reads like a manifest.
 *
 * `files` lists the entries of B that A does not have as they are (new paths, other content, size or mode);
 * `removed` the paths of A that B does not have. Both sorted like a manifest.
 */
import {
  MANIFEST_API_VERSION, compareManifestPaths, type Manifest, type ManifestFile,
} from './manifest.ts';

export const DELTA_KIND = 'ManifestDelta';
/** Publish's own files in a revision's folder; a manifest path never starts with it (checkManifestPath). */
export const PUBLISH_STATE_FOLDER = '.fleetsync';
/** Under the revision's folder: `<revision>/.fleetsync/delta/<base>.json`. */
export const DELTA_FOLDER = `${PUBLISH_STATE_FOLDER}/delta`;
/** How many of a source's latest published revisions a publish writes a delta from. */
export const DEFAULT_DELTA_BASES = 5;

export interface ManifestDelta {
  apiVersion: typeof MANIFEST_API_VERSION;
  kind: typeof DELTA_KIND;
  revision: string;
  base: string;
  /** SHA-256 of canonicalText(A's files): the host's record of A must give the same */
  baseDigest: string;
  /** SHA-256 of canonicalText(B's files): the list rebuilt from A and this delta must give the same */
  digest: string;
  /** MD5 of B's manifest text: its S3 ETag, so a delta left by another publish of B is never believed */
  manifestMd5: string;
  totals: { files: number; bytes: number };
  files: ManifestFile[];
  removed: string[];
}

export function deltaPath(base: string): string {
  return `${DELTA_FOLDER}/${base}.json`;
}

/** B's entries that A lacks or holds otherwise, and A's paths B lacks. */
export function computeDelta(args: {
  base: Manifest; baseDigest: string; target: Manifest; digest: string; manifestMd5: string;
}): ManifestDelta {
  const { base, target } = args;
  const inBase = new Map(base.files.map((f) => [f.path, f]));
  const inTarget = new Set(target.files.map((f) => f.path));
  const same = (a: ManifestFile | undefined, b: ManifestFile): boolean =>
    a !== undefined && a.sha256 === b.sha256 && a.size === b.size && a.mode === b.mode;
  return {
    apiVersion: MANIFEST_API_VERSION,
    kind: DELTA_KIND,
    revision: target.revision,
    base: base.revision,
    baseDigest: args.baseDigest,
    digest: args.digest,
    manifestMd5: args.manifestMd5,
    totals: { files: target.totals.files, bytes: target.totals.bytes },
    files: target.files.filter((f) => !same(inBase.get(f.path), f)),
    removed: base.files.filter((f) => !inTarget.has(f.path)).map((f) => f.path),
  };
}

/** B's entries again, from A's and the delta (what a host does; here for tests and for checking a delta). */
export function applyDelta(baseFiles: readonly ManifestFile[], delta: ManifestDelta): ManifestFile[] {
  const files = new Map(baseFiles.map((f) => [f.path, f]));
  for (const path of delta.removed) files.delete(path);
  for (const f of delta.files) files.set(f.path, f);
  return [...files.values()].sort((a, b) => compareManifestPaths(a.path, b.path));
}

/** One entry per line like a manifest, so a delta reads (and diffs) like one. */
export function renderDelta(delta: ManifestDelta): string {
  const head = {
    apiVersion: delta.apiVersion, kind: delta.kind, revision: delta.revision, base: delta.base,
    baseDigest: delta.baseDigest, digest: delta.digest, manifestMd5: delta.manifestMd5,
    totals: { files: delta.totals.files, bytes: delta.totals.bytes },
  };
  const block = (lines: string[]): string => lines.map((l, i) => `${l}${i < lines.length - 1 ? ',' : ''}\n`).join('');
  const files = delta.files.map((f) => JSON.stringify({ path: f.path, sha256: f.sha256, size: f.size, mode: f.mode }));
  return `${JSON.stringify(head).slice(0, -1)},"files":[\n${block(files)}],"removed":[\n${block(delta.removed.map((p) => JSON.stringify(p)))}]}\n`;
}

/** The names of the latest `limit` revisions by their manifest's time, latest first; the same time sorts by name. */
export function newestFirst(found: readonly { name: string; ms: number }[], limit: number): string[] {
  return [...found].sort((a, b) => b.ms - a.ms || compareManifestPaths(a.name, b.name)).slice(0, limit).map((f) => f.name);
}
