import { beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import {
  DeleteObjectCommand, DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, NoSuchBucket, NoSuchKey, PutObjectCommand, S3Client,
  type GetObjectCommandOutput,
} from '@aws-sdk/client-s3';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { S3Artifacts, revisionLocation } from '../../controller/aws/s3Artifacts.ts';
import { CallTally } from '../../controller/aws/callCounter.ts';
import { ContentChangedError, ControlPlaneError, NotFoundError, ObjectDeleteError } from '../../controller/errors.ts';
import { ValidationError } from '../../state/validate.ts';
import { buildManifest, renderManifest } from '../../state/manifest.ts';
import { TEST_CLIENT_CONFIG, sdkError } from './awsMocks.ts';

const client = new S3Client(TEST_CLIENT_CONFIG);
const s3 = mockClient(client);
let tally: CallTally;
let artifacts: S3Artifacts;

const SHA = 'c'.repeat(64);
const manifestText = (revision: string): string => renderManifest(buildManifest({
  revision, publishedBy: 'ci@build', publishedAt: '2026-11-25T00:00:00.000Z',
  files: [{ path: 'index.php', sha256: SHA, size: 1200, mode: '644' }, { path: 'lib/a.php', sha256: SHA, size: 34, mode: '644' }],
}));
const body = (text: string): GetObjectCommandOutput => ({
  $metadata: {}, Body: { transformToString: () => Promise.resolve(text) } as unknown as GetObjectCommandOutput['Body'],
});
const noSuchKey = (): NoSuchKey => new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} });

beforeEach(() => {
  s3.reset();
  tally = new CallTally();
  artifacts = new S3Artifacts({ client, onCall: tally.onCall });
});

describe('S3Artifacts.check', () => {
  it('reads a published revision\'s manifest and reports its size, in one call', async () => {
    s3.on(GetObjectCommand).resolves(body(manifestText('3f9c2ab')));
    expect(await artifacts.check({ source: 's3://my-codebase/web', revision: '3f9c2ab' }))
      .toEqual({ exists: true, kind: 'manifest', files: 2, bytes: 1234, where: 's3://my-codebase/web/3f9c2ab/' });
    expect(s3.commandCalls(GetObjectCommand).map((c) => c.args[0].input)).toEqual([{ Bucket: 'my-codebase', Key: 'web/3f9c2ab/manifest.json' }]);
    expect(s3.commandCalls(ListObjectsV2Command)).toHaveLength(0);
    expect(tally.get('GetObject').ok).toBe(1);
  });

  it('refuses a manifest copied under another revision\'s name, and one that does not parse', async () => {
    s3.on(GetObjectCommand).resolvesOnce(body(manifestText('other'))).resolvesOnce(body(manifestText('r1').replace('"size":34', '"size":35')));
    expect(await artifacts.check({ source: 's3://my-codebase/web', revision: 'r1' }))
      .toMatchObject({ exists: false, problem: expect.stringMatching(/manifest of revision other, not r1/) as unknown });
    expect(await artifacts.check({ source: 's3://my-codebase/web', revision: 'r1' }))
      .toMatchObject({ exists: false, problem: expect.stringMatching(/not a valid fleetsync manifest: totals/) as unknown });
  });

  it('without a manifest, a plain folder with one key is a revision (an app\'s own manifest.json too)', async () => {
    s3.on(GetObjectCommand).rejectsOnce(noSuchKey()).resolvesOnce(body('{"name":"my pwa"}'));
    s3.on(ListObjectsV2Command).resolves({ KeyCount: 1, Contents: [{ Key: 'web/3f9c2ab/index.php' }] });
    expect(await artifacts.check({ source: 's3://my-codebase/web', revision: '3f9c2ab' }))
      .toEqual({ exists: true, kind: 'prefix', where: 's3://my-codebase/web/3f9c2ab/' });
    expect(s3.commandCalls(ListObjectsV2Command).map((c) => c.args[0].input)).toEqual([
      { Bucket: 'my-codebase', Prefix: 'web/3f9c2ab/', MaxKeys: 100 },
    ]);
    expect(await artifacts.check({ source: 's3://my-codebase/web', revision: '3f9c2ab' }))
      .toEqual({ exists: true, kind: 'prefix', where: 's3://my-codebase/web/3f9c2ab/' });
  });

  it('an empty folder is refused, saying an interrupted publish leaves no manifest', async () => {
    s3.on(GetObjectCommand).rejects(noSuchKey());
    s3.on(ListObjectsV2Command).resolves({ KeyCount: 0 });
    const check = await artifacts.check({ source: 's3://my-codebase/web/', revision: 'nope' });
    expect(check).toMatchObject({ exists: false, where: 's3://my-codebase/web/nope/' });
    expect(check.problem).toMatch(/no manifest.json and no files at s3:\/\/my-codebase\/web\/nope\/.*interrupted.*run the publish again/);
  });

  it('a folder holding only publish\'s deltas is an interrupted publish, not a plain folder', async () => {
    s3.on(GetObjectCommand).rejects(noSuchKey());
    s3.on(ListObjectsV2Command).resolves({ KeyCount: 2, Contents: [{ Key: 'web/r2/.fleetsync/delta/r1.json' }, { Key: 'web/r2/.fleetsync/delta/r0.json' }] });
    const check = await artifacts.check({ source: 's3://my-codebase/web', revision: 'r2' });
    expect(check).toMatchObject({ exists: false, where: 's3://my-codebase/web/r2/' });
    expect(check.problem).toMatch(/interrupted/);
  });

  it('looks at the bucket root for a source without a prefix, and never matches a longer revision name', () => {
    expect(revisionLocation('s3://my-codebase', 'r1')).toEqual({ bucket: 'my-codebase', keyPrefix: 'r1/' });
    // the trailing slash keeps r1 from matching r10/...
    expect(revisionLocation('s3://my-codebase/a/b', 'r1').keyPrefix).toBe('a/b/r1/');
  });

  it('refuses a source that is not S3 and a bad revision name before calling S3', async () => {
    await expect(artifacts.check({ source: 'file:///srv/artifacts', revision: 'r1' })).rejects.toBeInstanceOf(ValidationError);
    await expect(artifacts.check({ source: 's3://my-codebase/web', revision: '../etc' })).rejects.toThrow(/revision/);
    expect(s3.calls()).toHaveLength(0);
  });

  it('says the bucket is missing, and that access denied is a permission to grant', async () => {
    s3.on(GetObjectCommand).rejectsOnce(new NoSuchBucket({ message: 'The specified bucket does not exist', $metadata: {} }))
      .rejectsOnce(sdkError('AccessDenied', 'Access Denied', 403));
    const missing = await artifacts.check({ source: 's3://gone-bucket/web', revision: 'r1' }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(NotFoundError);
    expect((missing as Error).message).toMatch(/bucket "gone-bucket".*does not exist.*spec.source/);
    const denied = await artifacts.check({ source: 's3://my-codebase/web', revision: 'r1' }).catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(ControlPlaneError);
    expect((denied as Error).message).toMatch(/AccessDenied.*IAM/);
  });
});

describe('S3Artifacts as the publish store', () => {
  it('lists objects page by page in both layouts (objects/ab/<sha256>, and objects/<sha256> of older stores), keeping only object names', async () => {
    const D = 'd'.repeat(64);
    const when = new Date('2026-11-20T10:00:00.000Z');
    s3.on(ListObjectsV2Command)
      .resolvesOnce({ IsTruncated: true, NextContinuationToken: 't1', Contents: [
        { Key: `web/objects/cc/${SHA}`, Size: 5, LastModified: when }, { Key: 'web/objects/cc/.tmp-x', Size: 1 },
        // a shard folder that does not match its object's name is not an object
        { Key: `web/objects/ab/${D}`, Size: 9 },
      ] })
      .resolvesOnce({ IsTruncated: false, Contents: [{ Key: `web/objects/${D}`, Size: 7, LastModified: when }] });
    const objects = await artifacts.listObjects({ source: 's3://my-codebase/web' });
    expect([...objects]).toEqual([[SHA, 5], [D, 7]]);
    expect(s3.commandCalls(ListObjectsV2Command).map((c) => c.args[0].input)).toEqual([
      { Bucket: 'my-codebase', Prefix: 'web/objects/', ContinuationToken: undefined },
      { Bucket: 'my-codebase', Prefix: 'web/objects/', ContinuationToken: 't1' },
    ]);
  });

  it('creates the manifest only when none is there (If-None-Match), and says so when one was', async () => {
    s3.on(PutObjectCommand).resolvesOnce({}).rejectsOnce(sdkError('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', 412));
    expect(await artifacts.putManifest({ source: 's3://my-codebase/web', revision: 'r1', text: 'x' })).toBe('written');
    expect(await artifacts.putManifest({ source: 's3://my-codebase/web', revision: 'r1', text: 'x' })).toBe('exists');
    expect(s3.commandCalls(PutObjectCommand)[0]!.args[0].input).toMatchObject({ Key: 'web/r1/manifest.json', IfNoneMatch: '*' });
  });

  it('removes an uploaded object whose bytes do not hash to its name', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'fleetsync-s3art-'));
    try {
      const file = path.join(dir, 'a.php');
      await writeFile(file, 'changed since it was hashed');
      s3.on(PutObjectCommand).resolves({});
      s3.on(DeleteObjectCommand).resolves({});
      const error = await artifacts.putObject({ source: 's3://my-codebase/web', sha256: SHA, file, size: 27 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ContentChangedError);
      expect((error as Error).message).toMatch(/a\.php changed while it was being published/);
      expect(s3.commandCalls(PutObjectCommand)[0]!.args[0].input).toMatchObject({ Key: `web/objects/cc/${SHA}` });
      expect(s3.commandCalls(DeleteObjectCommand).map((c) => c.args[0].input)).toEqual([{ Bucket: 'my-codebase', Key: `web/objects/cc/${SHA}` }]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('S3Artifacts for gc', () => {
  const source = 's3://my-codebase/web';

  it('scans objects with their key and LastModified, in both layouts', async () => {
    s3.on(ListObjectsV2Command).resolves({ IsTruncated: false, Contents: [
      { Key: `web/objects/cc/${SHA}`, Size: 5, LastModified: new Date('2026-11-20T10:00:00.000Z') },
      { Key: `web/objects/${SHA}`, Size: 5, LastModified: new Date('2026-01-01T00:00:00.000Z') },
    ] });
    expect(await artifacts.scanObjects({ source })).toEqual([
      { sha256: SHA, key: `objects/cc/${SHA}`, size: 5, modifiedMs: Date.parse('2026-11-20T10:00:00.000Z') },
      { sha256: SHA, key: `objects/${SHA}`, size: 5, modifiedMs: Date.parse('2026-01-01T00:00:00.000Z') },
    ]);
  });

  it('lists revision folders by delimiter, page by page, leaving out objects/ and names that are not revisions', async () => {
    s3.on(ListObjectsV2Command)
      .resolvesOnce({ IsTruncated: true, NextContinuationToken: 't1', CommonPrefixes: [{ Prefix: 'web/objects/' }, { Prefix: 'web/r1/' }] })
      .resolvesOnce({ IsTruncated: false, CommonPrefixes: [{ Prefix: 'web/r 2/' }, { Prefix: 'web/r3/' }] });
    expect(await artifacts.listRevisions({ source })).toEqual(['r1', 'r3']);
    expect(s3.commandCalls(ListObjectsV2Command).map((c) => c.args[0].input)).toEqual([
      { Bucket: 'my-codebase', Prefix: 'web/', Delimiter: '/', ContinuationToken: undefined },
      { Bucket: 'my-codebase', Prefix: 'web/', Delimiter: '/', ContinuationToken: 't1' },
    ]);
  });

  it('deletes in batches of 1,000 keys; a key already gone is fine, a refused one is an error naming the permission', async () => {
    const keys = Array.from({ length: 2500 }, (_, i) => `objects/${i.toString(16).padStart(64, '0')}`);
    s3.on(DeleteObjectsCommand).resolves({ Errors: [{ Key: `web/${keys[0]!}`, Code: 'NoSuchKey' }] });
    await artifacts.deleteObjects({ source, keys });
    const batches = s3.commandCalls(DeleteObjectsCommand).map((c) => c.args[0].input);
    expect(batches.map((b) => b.Delete?.Objects?.length)).toEqual([1000, 1000, 500]);
    expect(batches[2]!.Delete?.Objects?.at(-1)).toEqual({ Key: `web/${keys[2499]!}` });

    s3.reset();
    s3.on(DeleteObjectsCommand).resolves({ Errors: [{ Key: `web/${keys[1]!}`, Code: 'AccessDenied', Message: 'Access Denied' }] });
    const refused = await artifacts.deleteObjects({ source, keys: keys.slice(0, 3) }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ObjectDeleteError);
    expect((refused as Error).message).toMatch(/refused to remove 1 of 3 objects .*AccessDenied.*s3:DeleteObject on s3:\/\/my-codebase\/web\/objects\/\*/);
  });

  it('refuses, before calling S3, to delete anything that is not an object key', async () => {
    for (const key of ['r1/manifest.json', `objects/ab/${SHA}`, 'objects/../r1/manifest.json', `${SHA}`]) {
      const error = await artifacts.deleteObjects({ source, keys: [`objects/cc/${SHA}`, key] }).catch((e: unknown) => e);
      expect(error, key).toBeInstanceOf(ValidationError);
    }
    expect(s3.commandCalls(DeleteObjectsCommand)).toHaveLength(0);
  });
});
