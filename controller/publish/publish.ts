/**
 * `fleetsync publish`: a build folder becomes a revision. Every file is hashed; only contents the source does
 * not hold yet are uploaded, to `<source>/objects/<sha256>` (shared by all revisions); the manifest is written
 * last, so a revision is deployable only once all of its objects are there. Publishing the same content again
 * is a no-op; other content under a published revision's name is refused (revisions are immutable).
 *
 * Before the manifest, a delta from each of the source's latest published revisions (state/manifestDelta.ts says
 * why deltas): a host holding one of them fetches what changed instead of the whole manifest. Deltas go first
 * so that no host ever sees a complete revision without them; a host that finds none reads the manifest.
 */
import type { ArtifactStore } from '../ports/artifacts.ts';
import type { Clock } from '../ports/clock.ts';
import { RevisionExistsError } from '../errors.ts';
import { ValidationError } from '../../state/validate.ts';
import {
  OBJECTS_FOLDER, buildManifest, canonicalText, looksLikeManifest, reservedRevision, manifestDifferences, modeString, parseManifest, renderManifest, type Manifest,
  type ManifestFile,
} from '../../state/manifest.ts';
import { DEFAULT_DELTA_BASES, computeDelta, renderDelta } from '../../state/manifestDelta.ts';
import { createHash } from 'node:crypto';
import { forEachLimited } from './concurrency.ts';
import { sha256File } from './hashing.ts';
import { walkTree } from './walk.ts';

export const DEFAULT_HASH_CONCURRENCY = 8;
export const DEFAULT_UPLOAD_CONCURRENCY = 8;

export interface PublishProgress {
  phase: 'hashing' | 'uploading';
  done: number;
  total: number;
  bytes: number;
  bytesTotal: number;
}

export interface PublishSummary {
  revision: string;
  source: string;
  manifest: string;
  files: number;
  bytes: number;
  uploadedObjects: number;
  uploadedBytes: number;
  seconds: number;
  /** the revisions a delta to this one was written from, latest first */
  deltasFrom: string[];
  /** the same content was published before: nothing was uploaded or written */
  alreadyPublished: boolean;
  /** symlinks and other non-regular files left out */
  skipped: string[];
  excluded: number;
}

export interface PublishOptions {
  dir: string;
  source: string;
  revision: string;
  excludes: readonly string[];
  publishedBy: string;
  store: ArtifactStore;
  clock: Clock;
  hashConcurrency?: number;
  uploadConcurrency?: number;
  /** how many of the source's latest published revisions get a delta to this one (DEFAULT_DELTA_BASES; 0: none) */
  deltaBases?: number;
  onProgress?: (progress: PublishProgress) => void;
  signal?: AbortSignal;
}

const SHOWN_PATHS = 5;

function listed(paths: string[]): string {
  const head = paths.slice(0, SHOWN_PATHS).join(', ');
  return paths.length > SHOWN_PATHS ? `${head} and ${paths.length - SHOWN_PATHS} more` : head;
}

async function hashFiles(options: PublishOptions, walked: Awaited<ReturnType<typeof walkTree>>): Promise<ManifestFile[]> {
  const bytesTotal = walked.files.reduce((sum, f) => sum + f.size, 0);
  const progress = { phase: 'hashing' as const, done: 0, total: walked.files.length, bytes: 0, bytesTotal };
  const files: ManifestFile[] = [];
  await forEachLimited(walked.files, options.hashConcurrency ?? DEFAULT_HASH_CONCURRENCY, async (file) => {
    const sha256 = await sha256File(file.absolute, options.signal, file.size);
    files.push({ path: file.path, sha256, size: file.size, mode: modeString(file.mode) });
    progress.done += 1;
    progress.bytes += file.size;
    options.onProgress?.({ ...progress });
  });
  return files;
}

/** Refuses a revision name already used for other content; true when this very content is published there. */
async function samePublished(options: PublishOptions, manifest: Manifest): Promise<boolean> {
  const { store, source, revision } = options;
  const url = store.manifestUrl({ source, revision });
  const text = await store.readManifest({ source, revision });
  if (text !== null && looksLikeManifest(text)) {
    const differences = manifestDifferences(parseManifest(text, url), manifest);
    if (differences.length === 0) return true;
    throw new RevisionExistsError(`revision ${revision} is already published at ${url} with other content `
      + `(${differences.length} files differ: ${listed(differences)}): revisions are immutable, so publish this build under a new revision name`);
  }
  if (text !== null || await store.hasPlainFiles({ source, revision })) {
    throw new RevisionExistsError(`revision ${revision} already exists in ${source} as a plain folder of files: `
      + 'revisions are immutable, so publish this build under a new revision name');
  }
  return false;
}

export async function publishRevision(options: PublishOptions): Promise<PublishSummary> {
  const { store, source, revision, clock } = options;
  if (revision === OBJECTS_FOLDER) throw new ValidationError([reservedRevision()]);
  const startedMs = clock.nowMs();
  const walked = await walkTree(options.dir, options.excludes);
  if (walked.refused.length > 0) {
    throw new ValidationError(walked.refused.slice(0, SHOWN_PATHS * 2).map((p) => `cannot publish ${p}: rename it, or leave it out with an exclude`));
  }
  const files = await hashFiles(options, walked);
  const manifest = buildManifest({
    revision, publishedBy: options.publishedBy, publishedAt: new Date(startedMs).toISOString(), files, sha256: textDigest('sha256'),
  });
  const summary = (uploadedObjects: number, uploadedBytes: number, alreadyPublished: boolean, deltasFrom: string[]): PublishSummary => ({
    revision, source, manifest: store.manifestUrl({ source, revision }),
    files: manifest.totals.files, bytes: manifest.totals.bytes, uploadedObjects, uploadedBytes,
    seconds: Math.round((clock.nowMs() - startedMs) / 10) / 100, deltasFrom, alreadyPublished,
    skipped: walked.skipped, excluded: walked.excluded,
  });
  if (await samePublished(options, manifest)) return summary(0, 0, true, []);

  const held = await store.listObjects({ source, ...(options.signal ? { signal: options.signal } : {}) });
  const missing = new Map<string, { file: string; size: number }>();
  const absolute = new Map(walked.files.map((f) => [f.path, f.absolute]));
  for (const f of manifest.files) {
    if (held.get(f.sha256) !== f.size && !missing.has(f.sha256)) missing.set(f.sha256, { file: absolute.get(f.path) as string, size: f.size });
  }
  const uploads = [...missing].map(([sha256, { file, size }]) => ({ sha256, file, size }));
  const bytesTotal = uploads.reduce((sum, u) => sum + u.size, 0);
  const progress = { phase: 'uploading' as const, done: 0, total: uploads.length, bytes: 0, bytesTotal };
  options.onProgress?.({ ...progress });
  await forEachLimited(uploads, options.uploadConcurrency ?? DEFAULT_UPLOAD_CONCURRENCY, async (upload) => {
    await store.putObject({
      source, ...upload,
      onBytes: (bytes) => { progress.bytes += bytes; options.onProgress?.({ ...progress }); },
      ...(options.signal ? { signal: options.signal } : {}),
    });
    progress.done += 1;
    options.onProgress?.({ ...progress });
  });

  const text = renderManifest(manifest);
  const deltasFrom = await writeDeltas(options, manifest, text);
  if (await store.putManifest({ source, revision, text }) === 'exists') {
    // another publish of this revision finished first: fine when it published the same content (a host checks
    // a delta's manifestMd5 against the manifest, so deltas this run wrote beside another manifest are ignored)
    if (!await samePublished(options, manifest)) throw new RevisionExistsError(`revision ${revision} appeared in ${source} while publishing: publish under a new name`);
  }
  return summary(uploads.length, bytesTotal, false, deltasFrom);
}

function textDigest(algorithm: 'sha256' | 'md5'): (text: string) => string {
  return (text) => createHash(algorithm).update(text, 'utf8').digest('hex');
}

/** A delta from each of the latest published revisions; a base whose manifest is gone or unreadable is skipped. */
async function writeDeltas(options: PublishOptions, manifest: Manifest, text: string): Promise<string[]> {
  const { store, source, revision } = options;
  const limit = options.deltaBases ?? DEFAULT_DELTA_BASES;
  if (limit <= 0) return [];
  const recent = (await store.recentRevisions({ source, limit: limit + 1, ...(options.signal ? { signal: options.signal } : {}) }))
    .filter((name) => name !== revision).slice(0, limit);
  const digest = manifest.digest ?? textDigest('sha256')(canonicalText(manifest.files));
  const manifestMd5 = textDigest('md5')(text);
  const written: string[] = [];
  for (const base of recent) {
    const baseText = await store.readManifest({ source, revision: base });
    if (baseText === null || !looksLikeManifest(baseText)) continue;
    let baseManifest: Manifest;
    try {
      baseManifest = parseManifest(baseText, store.manifestUrl({ source, revision: base }));
    } catch {
      continue;
    }
    const baseDigest = textDigest('sha256')(canonicalText(baseManifest.files));
    const delta = computeDelta({ base: baseManifest, baseDigest, target: manifest, digest, manifestMd5 });
    await store.putDelta({ source, revision, base, text: renderDelta(delta) });
    written.push(base);
  }
  return written;
}
