/**
 * deploy/host/fleetsync-sync.sh with an s3:// source: a local S3 (s3rver on 127.0.0.1) and the real `aws` CLI.
 */
import { existsSync } from 'node:fs';
import { readFile, readdir, readlink, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../controller/hostProtocol.ts';
import { makeTempDir, requireTools, runScript, syncArgs } from '../support/hostScript.ts';
import { FAKE_CREDENTIALS, startS3rver, type LocalS3 } from '../support/s3rver.ts';

const SLOW = 180_000;
let s3: LocalS3;
let client: S3Client;
let tmp: { path: string; remove(): Promise<void> };
let source: string;

async function upload(revision: string, files: Record<string, string>): Promise<void> {
  for (const [key, body] of Object.entries(files)) {
    await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `web/${revision}/${key}`, Body: body }));
  }
}

async function filesUnder(root: string): Promise<Map<string, { ino: number; content: string; mtimeMs: number }>> {
  const map = new Map<string, { ino: number; content: string; mtimeMs: number }>();
  for (const entry of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const info = await stat(path);
    map.set(relative(root, path), { ino: info.ino, content: await readFile(path, 'utf8'), mtimeMs: info.mtimeMs });
  }
  return map;
}

beforeAll(async () => {
  requireTools('bash', 'flock', 'aws');
  s3 = await startS3rver();
  client = new S3Client({
    endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: FAKE_CREDENTIALS,
  });
  tmp = await makeTempDir('s3');
  source = `s3://${s3.bucket}/web`;
  // v1 is uploaded first ("earlier"); v2 changes a.txt without changing its size.
  await upload('v1', { 'a.txt': 'AAAA', 'dir/b.txt': 'same in both', 'c.txt': 'only in v1', 'media/from-s3.jpg': 'excluded' });
  await upload('v2', { 'a.txt': 'BBBB', 'dir/b.txt': 'same in both', 'd.txt': 'only in v2', 'var/cache/x': 'excluded' });
});

afterAll(async () => {
  client?.destroy();
  await s3?.stop();
  await tmp?.remove();
});

describe('s3:// source through the aws CLI', () => {
  it('syncs, updates a same-size change, deletes removed files, never touches the live release, and goes back', async () => {
    const dest = join(tmp.path, 'host1');
    const env = s3.env;

    const first = await runScript(syncArgs({ source, revision: 'v1', destination: dest }), { env });
    expect(first.code, first.stderr).toBe(EXIT.synced);
    expect(first.result).toMatchObject({ revision: 'v1', status: 'synced', strategy: 'release' });
    const live = join(dest, 'releases', 'v1');
    const before = await filesUnder(live);
    expect([...before.keys()].sort()).toEqual(['a.txt', 'c.txt', 'dir/b.txt']);

    const second = await runScript(syncArgs({ source, revision: 'v2', destination: dest }), { env });
    expect(second.code, second.stderr).toBe(EXIT.synced);
    expect(await filesUnder(live)).toEqual(before);
    const current = join(dest, 'current');
    expect(await readlink(current)).toBe('releases/v2');
    expect(await readFile(join(current, 'a.txt'), 'utf8')).toBe('BBBB');
    expect(await readFile(join(current, 'd.txt'), 'utf8')).toBe('only in v2');
    expect(existsSync(join(current, 'c.txt'))).toBe(false);
    expect(existsSync(join(current, 'var/cache/x'))).toBe(false);
    expect(existsSync(join(current, 'media/from-s3.jpg'))).toBe(false);

    const back = await runScript(syncArgs({ source, revision: 'v1', destination: dest }), { env });
    expect(back.code, back.stderr).toBe(EXIT.synced);
    expect(await readFile(join(current, 'a.txt'), 'utf8')).toBe('AAAA');
    expect(await readFile(join(current, 'c.txt'), 'utf8')).toBe('only in v1');
    expect(existsSync(join(current, 'd.txt'))).toBe(false);
    expect(await readFile(join(dest, '.fleetsync', 'REVISION'), 'utf8')).toBe('v1\n');
  }, SLOW);

  it('replaces a downloaded file whose size and timestamp match but whose content does not (MD5 check)', async () => {
    const dest = join(tmp.path, 'host2');
    const env = s3.env;
    expect((await runScript(syncArgs({ source, revision: 'v1', destination: dest }), { env })).code).toBe(0);
    // A stale download: same size, same timestamp as the object, wrong bytes. aws s3 sync alone keeps it.
    const cached = join(dest, '.fleetsync', 's3-cache', 'a.txt');
    const { atime, mtime } = await stat(cached);
    await writeFile(cached, 'ZZZZ');
    await utimes(cached, atime, mtime);

    const again = await runScript(syncArgs({ source, revision: 'v1', destination: dest }), { env });
    expect(again.code, again.stderr).toBe(EXIT.synced);
    expect(await readFile(join(dest, 'current', 'a.txt'), 'utf8')).toBe('AAAA');
  }, SLOW);

  it('a plain prefix downloads only what changed: files found on the host by their ETag (MD5) are reused', async () => {
    const files = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`src/f${i}.php`, `file ${i} `.repeat(20)]));
    await upload('e1', files);
    // e2: uploaded later (every LastModified differs), one file changed (same size), one added, one removed
    const changed = { ...files, 'src/f3.php': 'FILE 3 '.repeat(20), 'src/new.php': 'new' };
    await upload('e2', Object.fromEntries(Object.entries(changed).filter(([key]) => key !== 'src/f29.php')));
    const dest = join(tmp.path, 'host-etag');
    const first = await runScript(syncArgs({ source, revision: 'e1', destination: dest }), { env: s3.env });
    expect(first.code, first.stderr).toBe(EXIT.synced);
    expect(first.result).toMatchObject({ downloadedFiles: 30 });
    const second = await runScript(syncArgs({ source, revision: 'e2', destination: dest }), { env: s3.env });
    expect(second.code, second.stderr).toBe(EXIT.synced);
    expect(second.result).toMatchObject({ downloadedFiles: 2, files: 2 });
    expect(await readFile(join(dest, 'current', 'src', 'f3.php'), 'utf8')).toBe('FILE 3 '.repeat(20));
    expect(await readFile(join(dest, 'current', 'src', 'f4.php'), 'utf8')).toBe('file 4 '.repeat(20));
    expect(existsSync(join(dest, 'current', 'src', 'f29.php'))).toBe(false);
    // a cached copy edited on the host (same size) is never taken for its ETag: it is downloaded again
    const cached = join(dest, '.fleetsync', 's3-cache', 'src', 'f5.php');
    await writeFile(cached, 'FILE 5 '.repeat(20));
    const third = await runScript(syncArgs({ source, revision: 'e1', destination: join(tmp.path, 'host-etag') }), { env: s3.env });
    expect(third.code, third.stderr).toBe(EXIT.synced);
    // e1 is kept as it was placed: the rollback downloads nothing at all
    expect(third.result).toMatchObject({ downloadedFiles: 0, hashedFiles: 0 });
    await rm(join(dest, 'releases', 'e2'), { recursive: true });
    const fourth = await runScript(syncArgs({ source, revision: 'e2', destination: dest }), { env: s3.env });
    expect(fourth.code, fourth.stderr).toBe(EXIT.synced);
    expect(await readFile(join(dest, 'current', 'src', 'f5.php'), 'utf8')).toBe('file 5 '.repeat(20));
    expect(fourth.result.downloadedFiles).toBe(1);
  }, SLOW);

  it('exits 3 and names the revision when it is not in the bucket', async () => {
    const dest = join(tmp.path, 'host3');
    const run = await runScript(syncArgs({ source, revision: 'v9', destination: dest }), { env: s3.env });
    expect(run.code).toBe(EXIT.syncFailed);
    expect(run.result).toMatchObject({ status: 'failed', revision: null, target: 'v9' });
    expect(run.result.error).toMatch(/revision v9 not found: s3:\/\/.*\/web\/v9\//);
    expect(existsSync(join(dest, 'current'))).toBe(false);
  }, SLOW);

  it('syncs inplace from S3 too', async () => {
    const dest = join(tmp.path, 'host4');
    const run = await runScript(syncArgs({ source, revision: 'v2', destination: dest, strategy: 'inplace' }), { env: s3.env });
    expect(run.code, run.stderr).toBe(EXIT.synced);
    expect(await readFile(join(dest, 'a.txt'), 'utf8')).toBe('BBBB');
    expect(await readFile(join(dest, '.fleetsync', 'REVISION'), 'utf8')).toBe('v2\n');
  }, SLOW);
});
