/**
 * Artifacts in a local folder (`file:///path` sources: the embedded default and on-premises hosts). A revision
 * is a published manifest at `<path>/<revision>/manifest.json` over objects at `<path>/objects/ab/<sha256>`
 * (or `<path>/objects/<sha256>`, written before sharding), or a plain folder `<path>/<revision>/` with at least
 * one entry. Objects and the manifest are written beside their
 * place and renamed (or linked) into it, so a reader never sees half a file.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, type Dirent } from 'node:fs';
import { link, lstat, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import type { ArtifactCheck, ArtifactStore, ObjectUpload, StoredObject } from '../ports/artifacts.ts';
import { ControlPlaneError, ObjectDeleteError } from '../errors.ts';
import { PATTERNS, ValidationError, assertValid, checkRevision, checkSource } from '../../state/validate.ts';
import { MANIFEST_FILE, OBJECTS_FOLDER, OBJECT_SHARD_DIGITS, objectKey, objectOfKey } from '../../state/manifest.ts';
import { PUBLISH_STATE_FOLDER, deltaPath, newestFirst } from '../../state/manifestDelta.ts';
import { HashingStream, WHOLE_READ_BYTES, contentChanged, sha256 } from '../publish/hashing.ts';
import { checkStoredRevision } from '../publish/revisionCheck.ts';

function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

export class LocalArtifacts implements ArtifactStore {
  private root(source: string): string {
    assertValid([checkSource(source, 'source')]);
    if (!source.startsWith('file:///')) {
      throw new ControlPlaneError(`LocalArtifacts reads file:/// sources only, not ${source}`);
    }
    return fileURLToPath(source);
  }

  private revisionFolder(source: string, revision: string): string {
    assertValid([checkRevision(revision, 'revision')]);
    return path.join(this.root(source), revision);
  }

  private manifestPath(args: { source: string; revision: string }): string {
    return path.join(this.revisionFolder(args.source, args.revision), MANIFEST_FILE);
  }

  manifestUrl(args: { source: string; revision: string }): string {
    return `file://${this.manifestPath(args)}`;
  }

  async check(args: { source: string; revision: string }): Promise<ArtifactCheck> {
    return checkStoredRevision(this, { ...args, where: this.revisionFolder(args.source, args.revision) });
  }

  async readManifest(args: { source: string; revision: string }): Promise<string | null> {
    const file = this.manifestPath(args);
    try {
      return await readFile(file, 'utf8');
    } catch (err) {
      // missing, or a file where a folder should be: there is no manifest
      if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR') return null;
      throw new ControlPlaneError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
    }
  }

  async hasPlainFiles(args: { source: string; revision: string }): Promise<boolean> {
    const where = this.revisionFolder(args.source, args.revision);
    try {
      return (await readdir(where)).some((entry) => entry !== MANIFEST_FILE && entry !== PUBLISH_STATE_FOLDER);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR') return false;
      throw new ControlPlaneError(`cannot read ${where}: ${(err as Error).message}`, { cause: err });
    }
  }

  async listObjects(args: { source: string }): Promise<Map<string, number>> {
    return new Map((await this.scanObjects(args)).map((o) => [o.sha256, o.size]));
  }

  async scanObjects(args: { source: string }): Promise<StoredObject[]> {
    const folder = path.join(this.root(args.source), OBJECTS_FOLDER);
    const found: StoredObject[] = [];
    const visit = async (rest: string): Promise<void> => {
      const named = objectOfKey(rest);
      if (!named) return;
      const info = await lstat(path.join(folder, rest));
      if (info.isFile()) found.push({ sha256: named.sha256, key: `${OBJECTS_FOLDER}/${rest}`, size: info.size, modifiedMs: info.mtimeMs });
    };
    for (const entry of await this.entries(folder)) {
      if (entry.isDirectory() && /^[0-9a-f]+$/.test(entry.name) && entry.name.length === OBJECT_SHARD_DIGITS) {
        for (const name of await this.entries(path.join(folder, entry.name))) await visit(`${entry.name}/${name.name}`);
      } else {
        await visit(entry.name);
      }
    }
    return found;
  }

  async listRevisions(args: { source: string }): Promise<string[]> {
    return (await this.entries(this.root(args.source)))
      .filter((e) => e.isDirectory() && e.name !== OBJECTS_FOLDER && checkRevision(e.name, 'revision') === undefined)
      .map((e) => e.name);
  }

  async deleteObjects(args: { source: string; keys: readonly string[] }): Promise<void> {
    const root = this.root(args.source);
    for (const key of args.keys) {
      // never anything but an object: a manifest or a plain revision's file is not gc's to remove
      if (!key.startsWith(`${OBJECTS_FOLDER}/`) || !objectOfKey(key.slice(OBJECTS_FOLDER.length + 1))) {
        throw new ValidationError([`${key} is not an object key (objects/ab/<sha256> or objects/<sha256>): nothing was removed`]);
      }
    }
    for (const key of args.keys) {
      try {
        await rm(path.join(root, key));
      } catch (err) {
        if (errnoOf(err) !== 'ENOENT') throw new ObjectDeleteError(`cannot remove ${path.join(root, key)}: ${(err as Error).message}`, { cause: err });
      }
    }
  }

  /** A folder's entries; none when it does not exist. */
  private async entries(folder: string): Promise<Dirent[]> {
    try {
      return await readdir(folder, { withFileTypes: true });
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return [];
      throw new ControlPlaneError(`cannot read ${folder}: ${(err as Error).message}`, { cause: err });
    }
  }

  async putObject(args: ObjectUpload): Promise<void> {
    const final = path.join(this.root(args.source), objectKey(args.sha256));
    const folder = path.dirname(final);
    await mkdir(folder, { recursive: true });
    const temp = path.join(folder, `.tmp-${args.sha256}-${randomBytes(6).toString('hex')}`);
    let renamed = false;
    try {
      let actual: string;
      let bytes: number;
      if (args.size <= WHOLE_READ_BYTES) {
        const data = await readFile(args.file, args.signal ? { signal: args.signal } : {});
        actual = sha256(data);
        bytes = data.length;
        if (actual === args.sha256 && bytes === args.size) await writeFile(temp, data, { flag: 'wx', mode: 0o644 });
        args.onBytes?.(bytes);
      } else {
        const hashing = new HashingStream(args.onBytes);
        await pipeline(createReadStream(args.file), hashing, createWriteStream(temp, { flags: 'wx', mode: 0o644 }),
          ...(args.signal ? [{ signal: args.signal }] : []));
        actual = hashing.digest();
        bytes = hashing.bytes;
      }
      if (actual !== args.sha256 || bytes !== args.size) {
        throw contentChanged({ file: args.file, sha256: args.sha256, actual, size: args.size, bytes });
      }
      await rename(temp, final);
      renamed = true;
    } finally {
      if (!renamed) await rm(temp, { force: true });
    }
  }

  async putManifest(args: { source: string; revision: string; text: string }): Promise<'written' | 'exists'> {
    const final = this.manifestPath(args);
    await mkdir(path.dirname(final), { recursive: true });
    const temp = `${final}.tmp-${randomBytes(6).toString('hex')}`;
    try {
      await writeFile(temp, args.text, { flag: 'wx', mode: 0o644 });
      // link() fails when the manifest exists: two publishes of one revision cannot overwrite each other
      await link(temp, final);
      return 'written';
    } catch (err) {
      if (errnoOf(err) === 'EEXIST') return 'exists';
      throw new ControlPlaneError(`cannot write ${final}: ${(err as Error).message}`, { cause: err });
    } finally {
      await rm(temp, { force: true });
    }
  }

  async recentRevisions(args: { source: string; limit: number }): Promise<string[]> {
    const root = this.root(args.source);
    let names: string[];
    try {
      names = await readdir(root);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return [];
      throw new ControlPlaneError(`cannot read ${root}: ${(err as Error).message}`, { cause: err });
    }
    const found: { name: string; ms: number }[] = [];
    for (const name of names.filter((n) => n !== OBJECTS_FOLDER && PATTERNS.revision.test(n))) {
      const info = await stat(path.join(root, name, MANIFEST_FILE)).catch(() => undefined);
      if (info?.isFile()) found.push({ name, ms: info.mtimeMs });
    }
    return newestFirst(found, args.limit);
  }

  async putDelta(args: { source: string; revision: string; base: string; text: string }): Promise<void> {
    const final = path.join(this.revisionFolder(args.source, args.revision), deltaPath(args.base));
    await mkdir(path.dirname(final), { recursive: true });
    const temp = `${final}.tmp-${randomBytes(6).toString('hex')}`;
    try {
      await writeFile(temp, args.text, { flag: 'wx', mode: 0o644 });
      await rename(temp, final);
    } catch (err) {
      await rm(temp, { force: true });
      throw new ControlPlaneError(`cannot write ${final}: ${(err as Error).message}`, { cause: err });
    }
  }
}

