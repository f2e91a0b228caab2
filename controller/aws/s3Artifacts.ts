/**
 * Artifacts in S3. A revision is a published manifest at `<prefix>/<revision>/manifest.json` over objects at
 * `<prefix>/objects/ab/<sha256>` (or `<prefix>/objects/<sha256>`, written before sharding), or a plain folder of
 * files under `<prefix>/<revision>/`. The check costs one GetObject (the manifest) and, when there is none, one
 * ListObjectsV2 with MaxKeys 2.
 */
import {
  DeleteObjectCommand, DeleteObjectsCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { createReadStream } from 'node:fs';
import { NotFoundError, ObjectDeleteError } from '../errors.ts';
import type { ArtifactCheck, ArtifactStore, ObjectUpload, StoredObject } from '../ports/artifacts.ts';
import { ValidationError, checkRevision } from '../../state/validate.ts';
import { MANIFEST_FILE, OBJECTS_FOLDER, objectKey, objectOfKey } from '../../state/manifest.ts';
import { PUBLISH_STATE_FOLDER, deltaPath, newestFirst } from '../../state/manifestDelta.ts';
import { forEachLimited } from '../publish/concurrency.ts';
import { HashingStream, contentChanged } from '../publish/hashing.ts';
import { checkStoredRevision } from '../publish/revisionCheck.ts';
import { callAws, type OnCall } from './callCounter.ts';
import { sdkErrorCode } from './sdkErrors.ts';

/** Parts of a multipart upload; an object smaller than one part goes up in a single PutObject. */
const PART_SIZE_BYTES = 8 * 1024 * 1024;
const PARTS_IN_FLIGHT_PER_OBJECT = 2;
/** DeleteObjects takes at most this many keys per request. */
const DELETE_BATCH_KEYS = 1000;

export interface S3ArtifactsOptions {
  client: S3Client;
  onCall?: OnCall;
}

export interface S3Location {
  bucket: string;
  /** the key prefix of the revision's folder, ending with `/` */
  keyPrefix: string;
}

function sourceParts(source: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(source);
  if (!match || !match[1]) {
    throw new ValidationError([`source ${JSON.stringify(source)} is not an S3 URL: use s3://bucket/prefix`]);
  }
  const prefix = (match[2] ?? '').replace(/\/+$/, '');
  return { bucket: match[1], prefix: prefix === '' ? '' : `${prefix}/` };
}

/** `s3://bucket/prefix` + revision → where the revision's objects live. */
export function revisionLocation(source: string, revision: string): S3Location {
  const { bucket, prefix } = sourceParts(source);
  const problem = checkRevision(revision, 'revision');
  if (problem) throw new ValidationError([problem]);
  return { bucket, keyPrefix: `${prefix}${revision}/` };
}

function objectsLocation(source: string): S3Location {
  const { bucket, prefix } = sourceParts(source);
  return { bucket, keyPrefix: `${prefix}${OBJECTS_FOLDER}/` };
}

function isMissingKey(error: unknown): boolean {
  return error instanceof NotFoundError && sdkErrorCode((error as Error).cause) !== 'NoSuchBucket';
}

export class S3Artifacts implements ArtifactStore {
  private readonly client: S3Client;
  private readonly onCall: OnCall | undefined;

  constructor(options: S3ArtifactsOptions) {
    this.client = options.client;
    this.onCall = options.onCall;
  }

  manifestUrl(args: { source: string; revision: string }): string {
    const { bucket, keyPrefix } = revisionLocation(args.source, args.revision);
    return `s3://${bucket}/${keyPrefix}${MANIFEST_FILE}`;
  }

  async check(args: { source: string; revision: string }): Promise<ArtifactCheck> {
    const { bucket, keyPrefix } = revisionLocation(args.source, args.revision);
    const where = `s3://${bucket}/${keyPrefix}`;
    return this.bucketNamed(args.source, bucket, () => checkStoredRevision(this, { ...args, where }));
  }

  async readManifest(args: { source: string; revision: string }): Promise<string | null> {
    const { bucket, keyPrefix } = revisionLocation(args.source, args.revision);
    try {
      const output = await callAws('GetObject', this.onCall, () => this.client.send(
        new GetObjectCommand({ Bucket: bucket, Key: `${keyPrefix}${MANIFEST_FILE}` })));
      return (await output.Body?.transformToString('utf8')) ?? '';
    } catch (error) {
      if (isMissingKey(error)) return null;
      throw error;
    }
  }

  async hasPlainFiles(args: { source: string; revision: string }): Promise<boolean> {
    const { bucket, keyPrefix } = revisionLocation(args.source, args.revision);
    const page = await callAws('ListObjectsV2', this.onCall, () => this.client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: keyPrefix, MaxKeys: 100 })));
    const ours = (key: string | undefined): boolean =>
      key === `${keyPrefix}${MANIFEST_FILE}` || (key ?? '').startsWith(`${keyPrefix}${PUBLISH_STATE_FOLDER}/`);
    return (page.Contents ?? []).some((o) => !ours(o.Key));
  }

  async listObjects(args: { source: string; signal?: AbortSignal }): Promise<Map<string, number>> {
    return new Map((await this.scanObjects(args)).map((o) => [o.sha256, o.size]));
  }

  async scanObjects(args: { source: string; signal?: AbortSignal }): Promise<StoredObject[]> {
    const { bucket, keyPrefix } = objectsLocation(args.source);
    const found: StoredObject[] = [];
    await this.listPages({ source: args.source, bucket, prefix: keyPrefix, ...(args.signal ? { signal: args.signal } : {}) }, (page) => {
      for (const object of page.Contents ?? []) {
        const rest = object.Key?.slice(keyPrefix.length) ?? '';
        const named = objectOfKey(rest);
        if (!named) continue;
        found.push({ sha256: named.sha256, key: `${OBJECTS_FOLDER}/${rest}`, size: object.Size ?? 0, modifiedMs: object.LastModified?.getTime() ?? 0 });
      }
    });
    return found;
  }

  async listRevisions(args: { source: string; signal?: AbortSignal }): Promise<string[]> {
    const { bucket, prefix } = sourceParts(args.source);
    const names: string[] = [];
    await this.listPages({ source: args.source, bucket, prefix, delimiter: '/', ...(args.signal ? { signal: args.signal } : {}) }, (page) => {
      for (const common of page.CommonPrefixes ?? []) {
        const name = (common.Prefix ?? '').slice(prefix.length, -1);
        if (name !== OBJECTS_FOLDER && checkRevision(name, 'revision') === undefined) names.push(name);
      }
    });
    return names;
  }

  async deleteObjects(args: { source: string; keys: readonly string[]; signal?: AbortSignal }): Promise<void> {
    const { bucket, prefix } = sourceParts(args.source);
    for (const key of args.keys) {
      // never anything but an object: a manifest or a plain revision's file is not gc's to remove
      if (!key.startsWith(`${OBJECTS_FOLDER}/`) || !objectOfKey(key.slice(OBJECTS_FOLDER.length + 1))) {
        throw new ValidationError([`${key} is not an object key (objects/ab/<sha256> or objects/<sha256>): nothing was removed`]);
      }
    }
    for (let i = 0; i < args.keys.length; i += DELETE_BATCH_KEYS) {
      const batch = args.keys.slice(i, i + DELETE_BATCH_KEYS);
      const output = await this.bucketNamed(args.source, bucket, () => callAws('DeleteObjects', this.onCall, () => this.client.send(
        new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch.map((key) => ({ Key: `${prefix}${key}` })), Quiet: true } }),
        args.signal ? { abortSignal: args.signal } : {})));
      const refused = (output.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (refused.length > 0) {
        const first = refused[0];
        throw new ObjectDeleteError(`S3 refused to remove ${refused.length} of ${batch.length} objects from s3://${bucket}/${prefix}${OBJECTS_FOLDER}/`
          + ` (first: ${first?.Key ?? '?'}: ${first?.Code ?? '?'} ${first?.Message ?? ''}): gc needs s3:DeleteObject on ${args.source}/${OBJECTS_FOLDER}/*`);
      }
    }
  }

  private async listPages(
    args: { source: string; bucket: string; prefix: string; delimiter?: string; signal?: AbortSignal },
    onPage: (page: { Contents?: Array<{ Key?: string; Size?: number; LastModified?: Date }>; CommonPrefixes?: Array<{ Prefix?: string }> }) => void,
  ): Promise<void> {
    let token: string | undefined;
    await this.bucketNamed(args.source, args.bucket, async () => {
      do {
        const page = await callAws('ListObjectsV2', this.onCall, () => this.client.send(
          new ListObjectsV2Command({ Bucket: args.bucket, Prefix: args.prefix, Delimiter: args.delimiter, ContinuationToken: token }),
          args.signal ? { abortSignal: args.signal } : {}));
        onPage(page);
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    });
  }

  async putObject(args: ObjectUpload): Promise<void> {
    const { bucket, prefix } = sourceParts(args.source);
    const key = `${prefix}${objectKey(args.sha256)}`;
    const hashing = new HashingStream(args.onBytes);
    const upload = new Upload({
      client: this.client,
      params: { Bucket: bucket, Key: key, Body: createReadStream(args.file).pipe(hashing), ContentType: 'application/octet-stream' },
      partSize: PART_SIZE_BYTES,
      queueSize: PARTS_IN_FLIGHT_PER_OBJECT,
      leavePartsOnError: false,
      ...(args.signal ? { abortController: abortControllerFor(args.signal) } : {}),
    });
    await callAws('PutObject', this.onCall, () => upload.done());
    const actual = hashing.digest();
    if (actual !== args.sha256 || hashing.bytes !== args.size) {
      await callAws('DeleteObject', this.onCall, () => this.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })));
      throw contentChanged({ file: args.file, sha256: args.sha256, actual, size: args.size, bytes: hashing.bytes });
    }
  }

  async putManifest(args: { source: string; revision: string; text: string }): Promise<'written' | 'exists'> {
    const { bucket, keyPrefix } = revisionLocation(args.source, args.revision);
    try {
      // S3 conditional write: only when no manifest is there, so two publishes of one revision cannot overwrite.
      await callAws('PutObject', this.onCall, () => this.client.send(new PutObjectCommand({
        Bucket: bucket, Key: `${keyPrefix}${MANIFEST_FILE}`, Body: args.text, ContentType: 'application/json', IfNoneMatch: '*',
      })));
      return 'written';
    } catch (error) {
      const code = sdkErrorCode((error as Error).cause);
      if (code === 'PreconditionFailed' || code === 'ConditionalRequestConflict') return 'exists';
      throw error;
    }
  }

  /** One listing of the source's folders, then one HeadObject per revision for its manifest's time. */
  async recentRevisions(args: { source: string; limit: number; signal?: AbortSignal }): Promise<string[]> {
    const { bucket, prefix } = sourceParts(args.source);
    const names = await this.listRevisions(args);
    const found: { name: string; ms: number }[] = [];
    await forEachLimited(names, 8, async (name) => {
      try {
        const head = await callAws('HeadObject', this.onCall, () => this.client.send(
          new HeadObjectCommand({ Bucket: bucket, Key: `${prefix}${name}/${MANIFEST_FILE}` }),
          args.signal ? { abortSignal: args.signal } : {}));
        found.push({ name, ms: head.LastModified?.getTime() ?? 0 });
      } catch (error) {
        if (!isMissingKey(error)) throw error;
      }
    });
    return newestFirst(found, args.limit);
  }

  async putDelta(args: { source: string; revision: string; base: string; text: string }): Promise<void> {
    const { bucket, keyPrefix } = revisionLocation(args.source, args.revision);
    await callAws('PutObject', this.onCall, () => this.client.send(new PutObjectCommand({
      Bucket: bucket, Key: `${keyPrefix}${deltaPath(args.base)}`, Body: args.text, ContentType: 'application/json',
    })));
  }

  private async bucketNamed<T>(source: string, bucket: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof NotFoundError && !isMissingKey(error)) {
        throw new NotFoundError(`bucket ${JSON.stringify(bucket)} of ${source} does not exist: check the source (the fleet's spec.source, or --source)`, { cause: error });
      }
      throw error;
    }
  }
}

/** lib-storage takes an AbortController; ours is a signal. */
function abortControllerFor(signal: AbortSignal): AbortController {
  const controller = new AbortController();
  if (signal.aborted) controller.abort(signal.reason);
  else signal.addEventListener('abort', () => controller.abort(signal.reason), { once: true });
  return controller;
}
