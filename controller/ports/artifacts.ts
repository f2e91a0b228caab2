/**
 * Where revisions live. `Artifacts` answers "can this revision be deployed, and how big is it" (deploy and the
 * controller); `ArtifactStore` is the write side `fleetsync publish` uses: content-addressed objects at
 * `<source>/objects/<sha256>`, deltas from recent revisions at `<source>/<revision>/.fleetsync/delta/<base>.json`
 * and a manifest at `<source>/<revision>/manifest.json`, written last.
 */

export interface ArtifactCheck {
  exists: boolean;
  /** where it was looked for, for messages */
  where: string;
  /** a published revision (a manifest) or a plain folder of files */
  kind?: 'manifest' | 'prefix';
  /** the revision's size, when a manifest tells it */
  files?: number;
  bytes?: number;
  /** why the revision cannot be deployed, when it cannot */
  problem?: string;
}

export interface Artifacts {
  check(args: { source: string; revision: string }): Promise<ArtifactCheck>;
}

export interface ObjectUpload {
  source: string;
  sha256: string;
  /** the local file to upload; its content must hash to sha256, checked while it is read */
  file: string;
  size: number;
  /** told how many bytes went out, as they go */
  onBytes?: (bytes: number) => void;
  signal?: AbortSignal;
}

/** One object as the store holds it. */
export interface StoredObject {
  sha256: string;
  /** relative to the source: `objects/ab/<sha256>`, or `objects/<sha256>` in a store published before sharding */
  key: string;
  size: number;
  /** when it was written: S3's LastModified, a file's mtime */
  modifiedMs: number;
}

export interface ArtifactStore extends Artifacts {
  /** the objects the source holds already, in either layout: sha256 -> size */
  listObjects(args: { source: string; signal?: AbortSignal }): Promise<Map<string, number>>;
  /** every object the source holds, in either layout (paginated inside) */
  scanObjects(args: { source: string; signal?: AbortSignal }): Promise<StoredObject[]>;
  /** the names of the source's folders that may be revisions (everything but objects/) */
  listRevisions(args: { source: string; signal?: AbortSignal }): Promise<string[]>;
  /** Removes objects by key (StoredObject.key); a key that is already gone counts as removed. */
  deleteObjects(args: { source: string; keys: readonly string[]; signal?: AbortSignal }): Promise<void>;
  /** the text of `<revision>/manifest.json`, or null when there is none */
  readManifest(args: { source: string; revision: string }): Promise<string | null>;
  /** whether `<revision>/` holds anything besides a manifest.json and publish's `.fleetsync/` (a plain-folder revision) */
  hasPlainFiles(args: { source: string; revision: string }): Promise<boolean>;
  /** Uploads one object; when the file's content turns out not to match sha256, removes it and throws. */
  putObject(args: ObjectUpload): Promise<void>;
  /** Creates the manifest, never replacing one: 'exists' when a manifest was there first. */
  putManifest(args: { source: string; revision: string; text: string }): Promise<'written' | 'exists'>;
  /** Published revisions (those with a manifest), the latest manifest first, at most `limit`: the bases of deltas. */
  recentRevisions(args: { source: string; limit: number; signal?: AbortSignal }): Promise<string[]>;
  /** Writes `<revision>/.fleetsync/delta/<base>.json`, replacing one a publish cut short left there. */
  putDelta(args: { source: string; revision: string; base: string; text: string }): Promise<void>;
  /** the manifest's URL, for messages */
  manifestUrl(args: { source: string; revision: string }): string;
}
