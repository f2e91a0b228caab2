/**
 * A published revision's manifest (`<source>/<revision>/manifest.json`): every file of the revision with its
 * SHA-256, size and mode, over content-addressed objects at `<source>/objects/ab/<sha256>` (ab: the first two hex
 * digits; stores published before sharding hold `<source>/objects/<sha256>`, still read). Written last by
 * `fleetsync publish`, so a revision without one is not complete.
 *
 * The text is canonical JSON with one file per line, so the host script can read it with awk (hosts have no
 * JSON tool) and two publishes of the same tree give the same bytes apart from who and when:
 *
 *   {"apiVersion":"fleetsync.dev/v1","kind":"Manifest","revision":"r2",...,"digest":"<64 hex>","totals":{"files":2,"bytes":9},"files":[
 *   {"path":"index.php","sha256":"<64 hex>","size":5,"mode":"644"},
 *   {"path":"lib/a.php","sha256":"<64 hex>","size":4,"mode":"644"}
 *   ]}
 *
 * `digest` (written by publish since deltas came, optional when read) is the SHA-256 of `canonicalText(files)`:
 * what a host that rebuilt the file list from a delta compares, so it can prove its list is this manifest's
 * without downloading the manifest. It covers the entries only, not who published or when.
 */
import { PATTERNS } from './validate.ts';

export const MANIFEST_API_VERSION = 'fleetsync.dev/v1';
export const MANIFEST_KIND = 'Manifest';
export const MANIFEST_FILE = 'manifest.json';
export const OBJECTS_FOLDER = 'objects';
/** Hex digits of the shard folder: 256 folders, so a host lists (or fetches) only the part of the store it needs. */
export const OBJECT_SHARD_DIGITS = 2;
/** The manifest's first bytes: how the host script and the Artifacts check tell it from an app's own manifest.json. */
export const MANIFEST_HEADER = `{"apiVersion":"${MANIFEST_API_VERSION}","kind":"${MANIFEST_KIND}",`;

export const SHA256_PATTERN = /^[0-9a-f]{64}$/;
export const MODE_PATTERN = /^[0-7]{3}$/;
/** Longest path in a manifest, in characters (Linux PATH_MAX is 4096 bytes for the whole host path). */
export const MAX_PATH_LENGTH = 1024;

export interface ManifestFile {
  /** relative to the revision's root, `/`-separated */
  path: string;
  sha256: string;
  size: number;
  /** permission bits as three octal digits, like "644" */
  mode: string;
}

export interface Manifest {
  apiVersion: typeof MANIFEST_API_VERSION;
  kind: typeof MANIFEST_KIND;
  revision: string;
  publishedBy: string;
  publishedAt: string;
  /** SHA-256 of canonicalText(files), lowercase hex; absent in manifests published before deltas */
  digest?: string;
  totals: { files: number; bytes: number };
  /** sorted by path (code unit order), paths unique */
  files: ManifestFile[];
}

export class ManifestError extends Error {
  override readonly name = 'ManifestError';
}

/**
 * Why a file path cannot go in a manifest, or undefined. The host script reads paths with awk and hands them
 * to sha256sum and ln, so a path holds no quote, backslash or control character, and no segment that could
 * leave the release.
 */
export function checkManifestPath(path: string): string | undefined {
  if (path === '') return 'the path is empty';
  if (path.length > MAX_PATH_LENGTH) return `the path is longer than ${MAX_PATH_LENGTH} characters`;
  if (path.startsWith('/')) return 'the path is absolute';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f"\\]/.test(path)) return 'the path holds a quote, backslash or control character';
  if (/[\ud800-\udfff]/.test(path)) return 'the path is not valid UTF-8';
  const segments = path.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) return 'the path has an empty, "." or ".." segment';
  if (segments[0] === '.fleetsync') return 'the path is inside .fleetsync, which the host script keeps for itself';
  return undefined;
}

export function modeString(mode: number): string {
  return (mode & 0o777).toString(8).padStart(3, '0');
}

export function compareManifestPaths(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * What a manifest's digest covers: one line `path TAB sha256 TAB size TAB mode LF` per entry, in manifest order
 * (paths sorted by UTF-16 code unit; the host sorts by UTF-16BE bytes, the same order). Paths hold no tab or
 * newline (checkManifestPath), so the text is unambiguous.
 */
export function canonicalText(files: readonly ManifestFile[]): string {
  return files.map((f) => `${f.path}\t${f.sha256}\t${f.size}\t${f.mode}\n`).join('');
}

/** `sha256` hashes UTF-8 text to lowercase hex (state/ does no hashing of its own): given, the header gets a digest. */
export function buildManifest(args: {
  revision: string; publishedBy: string; publishedAt: string; files: ManifestFile[]; sha256?: (text: string) => string;
}): Manifest {
  const files = [...args.files].sort((a, b) => compareManifestPaths(a.path, b.path));
  const manifest: Manifest = {
    apiVersion: MANIFEST_API_VERSION,
    kind: MANIFEST_KIND,
    revision: args.revision,
    publishedBy: args.publishedBy,
    publishedAt: args.publishedAt,
    ...(args.sha256 ? { digest: args.sha256(canonicalText(files)) } : {}),
    totals: { files: files.length, bytes: files.reduce((sum, f) => sum + f.size, 0) },
    files,
  };
  validateManifest(manifest, 'the new manifest');
  return manifest;
}

/** The canonical text: header fields on the first line, one file per line, `]}` on the last. */
export function renderManifest(manifest: Manifest): string {
  const head = {
    apiVersion: manifest.apiVersion,
    kind: manifest.kind,
    revision: manifest.revision,
    publishedBy: manifest.publishedBy,
    publishedAt: manifest.publishedAt,
    ...(manifest.digest !== undefined ? { digest: manifest.digest } : {}),
    totals: { files: manifest.totals.files, bytes: manifest.totals.bytes },
  };
  const lines = manifest.files.map((f, i) => JSON.stringify({ path: f.path, sha256: f.sha256, size: f.size, mode: f.mode })
    + (i < manifest.files.length - 1 ? ',' : ''));
  return `${JSON.stringify(head).slice(0, -1)},"files":[\n${lines.map((l) => `${l}\n`).join('')}]}\n`;
}

/** True when the text starts like a fleetsync manifest (an app may ship a manifest.json of its own). */
export function looksLikeManifest(text: string): boolean {
  return text.startsWith(MANIFEST_HEADER);
}

function fail(where: string, problem: string): never {
  throw new ManifestError(`${where} is not a valid fleetsync manifest: ${problem}; publish the revision again with \`fleetsync publish\``);
}

function validateManifest(m: Manifest, where: string): void {
  if (m.apiVersion !== MANIFEST_API_VERSION || m.kind !== MANIFEST_KIND) fail(where, 'apiVersion or kind is wrong');
  if (typeof m.revision !== 'string' || !PATTERNS.revision.test(m.revision)) fail(where, 'revision is not a valid revision name');
  if (typeof m.publishedBy !== 'string' || typeof m.publishedAt !== 'string') fail(where, 'publishedBy or publishedAt is missing');
  if (m.digest !== undefined && (typeof m.digest !== 'string' || !SHA256_PATTERN.test(m.digest))) fail(where, 'digest is not 64 lowercase hex digits');
  if (!Array.isArray(m.files)) fail(where, 'files is not a list');
  let bytes = 0;
  let previous: string | undefined;
  for (const [i, f] of m.files.entries()) {
    const at = `files[${i}]`;
    if (typeof f !== 'object' || f === null) fail(where, `${at} is not an object`);
    if (typeof f.path !== 'string') fail(where, `${at}.path is not a string`);
    const problem = checkManifestPath(f.path);
    if (problem) fail(where, `${at}.path ${JSON.stringify(f.path)}: ${problem}`);
    if (typeof f.sha256 !== 'string' || !SHA256_PATTERN.test(f.sha256)) fail(where, `${at}.sha256 is not 64 lowercase hex digits`);
    if (!Number.isSafeInteger(f.size) || f.size < 0) fail(where, `${at}.size is not a whole number of bytes`);
    if (typeof f.mode !== 'string' || !MODE_PATTERN.test(f.mode)) fail(where, `${at}.mode is not three octal digits`);
    if (previous !== undefined) {
      if (compareManifestPaths(previous, f.path) >= 0) fail(where, `${at}.path is not sorted after ${JSON.stringify(previous)}, or repeats it`);
      if (f.path.startsWith(`${previous}/`)) fail(where, `${JSON.stringify(previous)} is both a file and a folder`);
    }
    previous = f.path;
    bytes += f.size;
  }
  const totals = m.totals as Manifest['totals'] | undefined;
  if (!totals || totals.files !== m.files.length || totals.bytes !== bytes) fail(where, 'totals do not add up to its files');
}

/** Parses and checks a manifest's text; `where` names it in errors (a URL or a path). */
export function parseManifest(text: string, where: string): Manifest {
  if (!looksLikeManifest(text)) fail(where, `it does not start with ${MANIFEST_HEADER}`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    fail(where, `it is not JSON (${(err as Error).message})`);
  }
  validateManifest(value as Manifest, where);
  return value as Manifest;
}

/** Paths whose content, size or mode differ between two manifests, or that only one of them has. */
export function manifestDifferences(a: Manifest, b: Manifest): string[] {
  const key = (f: ManifestFile): string => `${f.sha256} ${f.size} ${f.mode}`;
  const inA = new Map(a.files.map((f) => [f.path, key(f)]));
  const inB = new Map(b.files.map((f) => [f.path, key(f)]));
  const out: string[] = [];
  for (const [path, k] of inA) if (inB.get(path) !== k) out.push(path);
  for (const path of inB.keys()) if (!inA.has(path)) out.push(path);
  return out.sort(compareManifestPaths);
}

/** Where an object is written, relative to the source: `objects/ab/<sha256>`. */
export function objectKey(sha256: string): string {
  return `${OBJECTS_FOLDER}/${sha256.slice(0, OBJECT_SHARD_DIGITS)}/${sha256}`;
}

/** Where a store published before sharding holds an object, relative to the source: `objects/<sha256>`. */
export function flatObjectKey(sha256: string): string {
  return `${OBJECTS_FOLDER}/${sha256}`;
}

/**
 * The object a key under `objects/` names (`ab/<sha256>` or the older `<sha256>`), or undefined for anything else
 * (temporary files, a shard folder that does not match its object).
 */
export function objectOfKey(underObjects: string): { sha256: string; layout: 'sharded' | 'flat' } | undefined {
  if (SHA256_PATTERN.test(underObjects)) return { sha256: underObjects, layout: 'flat' };
  const slash = underObjects.indexOf('/');
  const sha256 = underObjects.slice(slash + 1);
  if (slash === OBJECT_SHARD_DIGITS && SHA256_PATTERN.test(sha256) && underObjects.slice(0, slash) === sha256.slice(0, slash)) {
    return { sha256, layout: 'sharded' };
  }
  return undefined;
}

/** `<source>/objects/` holds every published revision's content: no revision may take that name. */
export function reservedRevision(): string {
  return `the revision name "${OBJECTS_FOLDER}" is reserved: <source>/${OBJECTS_FOLDER}/ holds the content of published revisions; use another name`;
}

export interface RevisionDescription {
  exists: boolean;
  kind?: 'manifest' | 'prefix';
  files?: number;
  bytes?: number;
  problem?: string;
}

/**
 * Whether a revision can be deployed, from what its folder holds: a valid manifest of ours (the size comes
 * with it), or any file (a plain folder). An app's own manifest.json makes it a plain folder. An empty folder
 * is what an interrupted publish leaves: its manifest is written last.
 */
export function describeRevision(args: {
  revision: string; manifestText: string | null; hasOtherFiles: boolean; where: string; manifestWhere: string;
}): RevisionDescription {
  const { revision, manifestText, where, manifestWhere } = args;
  if (revision === OBJECTS_FOLDER) return { exists: false, problem: reservedRevision() };
  if (manifestText !== null && looksLikeManifest(manifestText)) {
    try {
      const manifest = parseManifest(manifestText, manifestWhere);
      if (manifest.revision !== revision) {
        return { exists: false, kind: 'manifest', problem: `${manifestWhere} is the manifest of revision ${manifest.revision}, not ${revision}: publish ${revision} with \`fleetsync publish\`` };
      }
      return { exists: true, kind: 'manifest', files: manifest.totals.files, bytes: manifest.totals.bytes };
    } catch (err) {
      return { exists: false, kind: 'manifest', problem: (err as Error).message };
    }
  }
  if (manifestText !== null || args.hasOtherFiles) return { exists: true, kind: 'prefix' };
  return {
    exists: false,
    problem: `revision ${revision} has no manifest.json and no files at ${where}: publish it (\`fleetsync publish DIR --revision ${revision} ...\`) or upload its files there. `
      + 'A publish that was interrupted leaves no manifest.json (it is written last): run the publish again',
  };
}
