/**
 * A local S3 (s3rver) on 127.0.0.1 for tests, in a temporary folder, with one bucket; plus the environment
 * that points the `aws` CLI (and the host script) at it and nowhere else.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

export interface LocalS3 {
  endpoint: string;
  bucket: string;
  /** for child processes: fake credentials, this endpoint, no user config */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export const FAKE_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export async function startS3rver(bucket = 'fleetsync-test'): Promise<LocalS3> {
  const directory = await mkdtemp(join(tmpdir(), 'fleetsync-s3rver-'));
  const server = new S3rver({
    address: '127.0.0.1', port: 0, directory, silent: true, configureBuckets: [{ name: bucket }],
  });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const env = {
    AWS_ACCESS_KEY_ID: FAKE_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: FAKE_CREDENTIALS.secretAccessKey,
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_ENDPOINT_URL: endpoint,
    AWS_ENDPOINT_URL_S3: endpoint,
    // Debian's aws CLI 2.9 ignores AWS_ENDPOINT_URL; the host script passes this one as --endpoint-url.
    FLEETSYNC_S3_ENDPOINT_URL: endpoint,
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_PAGER: '',
  };
  let stopped = false;
  return {
    endpoint,
    bucket,
    env,
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
