import { beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { ListObjectsV2Command, NoSuchBucket, S3Client } from '@aws-sdk/client-s3';
import { S3Artifacts, revisionLocation } from '../../controller/aws/s3Artifacts.ts';
import { CallTally } from '../../controller/aws/callCounter.ts';
import { ControlPlaneError, NotFoundError } from '../../controller/errors.ts';
import { ValidationError } from '../../state/validate.ts';
import { TEST_CLIENT_CONFIG, sdkError } from './awsMocks.ts';

const client = new S3Client(TEST_CLIENT_CONFIG);
const s3 = mockClient(client);
let tally: CallTally;
let artifacts: S3Artifacts;

beforeEach(() => {
  s3.reset();
  tally = new CallTally();
  artifacts = new S3Artifacts({ client, onCall: tally.onCall });
});

describe('S3Artifacts.check', () => {
  it('finds a revision with one key under <prefix>/<revision>/', async () => {
    s3.on(ListObjectsV2Command).resolves({ KeyCount: 1, Contents: [{ Key: 'web/3f9c2ab/index.php' }] });
    expect(await artifacts.check({ source: 's3://my-codebase/web', revision: '3f9c2ab' }))
      .toEqual({ exists: true, where: 's3://my-codebase/web/3f9c2ab/' });
    expect(s3.commandCalls(ListObjectsV2Command).map((c) => c.args[0].input)).toEqual([
      { Bucket: 'my-codebase', Prefix: 'web/3f9c2ab/', MaxKeys: 1 },
    ]);
    expect(tally.get('ListObjectsV2').ok).toBe(1);
  });

  it('says where it looked when the revision is missing', async () => {
    s3.on(ListObjectsV2Command).resolves({ KeyCount: 0 });
    expect(await artifacts.check({ source: 's3://my-codebase/web/', revision: 'nope' }))
      .toEqual({ exists: false, where: 's3://my-codebase/web/nope/' });
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
    s3.on(ListObjectsV2Command).rejectsOnce(new NoSuchBucket({ message: 'The specified bucket does not exist', $metadata: {} }))
      .rejectsOnce(sdkError('AccessDenied', 'Access Denied', 403));
    const missing = await artifacts.check({ source: 's3://gone-bucket/web', revision: 'r1' }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(NotFoundError);
    expect((missing as Error).message).toMatch(/bucket "gone-bucket".*does not exist.*spec.source/);
    const denied = await artifacts.check({ source: 's3://my-codebase/web', revision: 'r1' }).catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(ControlPlaneError);
    expect((denied as Error).message).toMatch(/AccessDenied.*IAM/);
  });
});
