/**
 * Artifacts in S3: a revision is there when at least one object lives under `<prefix>/<revision>/` (a synced
 * tree, or a published revision's manifest.json). One ListObjectsV2 call with MaxKeys 1: one key answers it.
 */
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { NotFoundError } from '../errors.ts';
import type { ArtifactCheck, Artifacts } from '../ports/artifacts.ts';
import { ValidationError, checkRevision } from '../../state/validate.ts';
import { callAws, type OnCall } from './callCounter.ts';

export interface S3ArtifactsOptions {
  client: S3Client;
  onCall?: OnCall;
}

export interface S3Location {
  bucket: string;
  /** the key prefix of the revision's folder, ending with `/` */
  keyPrefix: string;
}

/** `s3://bucket/prefix` + revision → where the revision's objects live. */
export function revisionLocation(source: string, revision: string): S3Location {
  const match = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(source);
  if (!match || !match[1]) {
    throw new ValidationError([`source ${JSON.stringify(source)} is not an S3 URL: use s3://bucket/prefix`]);
  }
  const problem = checkRevision(revision, 'revision');
  if (problem) throw new ValidationError([problem]);
  const prefix = (match[2] ?? '').replace(/\/+$/, '');
  return { bucket: match[1], keyPrefix: prefix === '' ? `${revision}/` : `${prefix}/${revision}/` };
}

export class S3Artifacts implements Artifacts {
  private readonly client: S3Client;
  private readonly onCall: OnCall | undefined;

  constructor(options: S3ArtifactsOptions) {
    this.client = options.client;
    this.onCall = options.onCall;
  }

  async check(args: { source: string; revision: string }): Promise<ArtifactCheck> {
    const { bucket, keyPrefix } = revisionLocation(args.source, args.revision);
    const where = `s3://${bucket}/${keyPrefix}`;
    try {
      const page = await callAws('ListObjectsV2', this.onCall, () => this.client.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: keyPrefix, MaxKeys: 1 })));
      const count = page.KeyCount ?? page.Contents?.length ?? 0;
      return { exists: count > 0, where };
    } catch (error) {
      if (error instanceof NotFoundError) {
        throw new NotFoundError(`bucket ${JSON.stringify(bucket)} of ${args.source} does not exist: check the `
          + 'fleet\'s spec.source', { cause: error });
      }
      throw error;
    }
  }
}
