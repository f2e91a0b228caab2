/**
 * `fleetsync publish` writes, before the manifest, a delta from each of the source's latest published revisions:
 * the last K by their manifest's time, never a plain folder or the object store, and none when nothing is new.
 */
import { readFile, utimes } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Client } from '@aws-sdk/client-s3';
import { LocalArtifacts } from '../../controller/local/localArtifacts.ts';
import { S3Artifacts } from '../../controller/aws/s3Artifacts.ts';
import { publishRevision } from '../../controller/publish/publish.ts';
import { realClock } from '../../controller/clock/realClock.ts';
import type { ArtifactStore } from '../../controller/ports/artifacts.ts';
import { parseManifest } from '../../state/manifest.ts';
import { applyDelta, type ManifestDelta } from '../../state/manifestDelta.ts';
import { makeTempDir } from '../support/hostScript.ts';
import { codebase, writeTreeFiles } from '../support/publishedRevision.ts';
import { FAKE_CREDENTIALS, startS3rver, type LocalS3 } from '../support/s3rver.ts';

const FILES = 60;

/** The store, with the order of its writes recorded. */
function recording(inner: ArtifactStore, calls: string[]): ArtifactStore {
  return Object.assign(Object.create(inner) as ArtifactStore, {
    putDelta: async (args: Parameters<ArtifactStore['putDelta']>[0]) => {
      calls.push(`delta ${args.base}`);
      await inner.putDelta(args);
    },
    putManifest: async (args: Parameters<ArtifactStore['putManifest']>[0]) => {
      calls.push('manifest');
      return inner.putManifest(args);
    },
  });
}

let tmp: { path: string; remove(): Promise<void> };
let builds = 0;

async function build(version: number): Promise<string> {
  const dir = path.join(tmp.path, `build-${++builds}`);
  await writeTreeFiles(dir, codebase(FILES, [version, version + 1, version * 3], version));
  return dir;
}

beforeAll(async () => {
  tmp = await makeTempDir('publish-deltas');
});
afterAll(() => tmp.remove());

describe('deltas into a file:/// source', () => {
  it('go from the 5 latest published revisions, all before the manifest, and each turns its base into the new revision', async () => {
    const root = path.join(tmp.path, 'source');
    const source = `file://${root}`;
    const store = new LocalArtifacts();
    const publish = async (revision: string, dir: string, calls: string[] = []) => publishRevision({
      dir, source, revision, excludes: [], publishedBy: 'test', clock: realClock, store: recording(store, calls),
    });
    const t0 = Date.now() / 1000 - 1000;
    for (let i = 1; i <= 7; i++) {
      await publish(`r${i}`, await build(i));
      // manifests a second apart, r1 the oldest (publishes in one test run share a millisecond now and then)
      await utimes(path.join(root, `r${i}`, 'manifest.json'), t0 + i, t0 + i);
    }
    // a plain folder revision is never a base (nothing to rebuild it from)
    await writeTreeFiles(path.join(root, 'plain9'), { 'index.php': 'plain' });
    await utimes(path.join(root, 'plain9', 'index.php'), t0 + 100, t0 + 100);

    const calls: string[] = [];
    const summary = await publish('r8', await build(8), calls);
    expect(summary.deltasFrom).toEqual(['r7', 'r6', 'r5', 'r4', 'r3']);
    expect(calls).toEqual(['delta r7', 'delta r6', 'delta r5', 'delta r4', 'delta r3', 'manifest']);

    const target = parseManifest(await readFile(path.join(root, 'r8', 'manifest.json'), 'utf8'), 'r8');
    for (const base of summary.deltasFrom) {
      const delta = JSON.parse(await readFile(path.join(root, 'r8', '.fleetsync', 'delta', `${base}.json`), 'utf8')) as ManifestDelta;
      const baseManifest = parseManifest(await readFile(path.join(root, base, 'manifest.json'), 'utf8'), base);
      expect(delta).toMatchObject({ revision: 'r8', base, baseDigest: baseManifest.digest, digest: target.digest });
      expect(applyDelta(baseManifest.files, delta)).toEqual(target.files);
      expect(delta.files.length).toBeLessThan(target.files.length / 4);
    }
    // a publish of the same content again writes nothing
    const again: string[] = [];
    expect(await publish('r8', path.join(tmp.path, `build-${builds}`), again)).toMatchObject({ alreadyPublished: true, deltasFrom: [] });
    expect(again).toEqual([]);
    // the revision folder holds the manifest and publish's own folder: it is still a published revision, not a plain one
    expect(await store.check({ source, revision: 'r8' })).toMatchObject({ exists: true, kind: 'manifest', files: FILES });
    expect(await store.hasPlainFiles({ source, revision: 'r8' })).toBe(false);
  });

  it('deltaBases 0 writes none', async () => {
    const source = `file://${path.join(tmp.path, 'none')}`;
    const store = new LocalArtifacts();
    await publishRevision({ dir: await build(1), source, revision: 'a', excludes: [], publishedBy: 't', clock: realClock, store });
    const summary = await publishRevision({
      dir: await build(2), source, revision: 'b', excludes: [], publishedBy: 't', clock: realClock, store, deltaBases: 0,
    });
    expect(summary.deltasFrom).toEqual([]);
  });
});

describe('deltas into S3', () => {
  let s3: LocalS3;
  let client: S3Client;
  beforeAll(async () => {
    s3 = await startS3rver('deltas');
    client = new S3Client({
      endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: FAKE_CREDENTIALS,
      requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
    });
  });
  afterAll(async () => {
    client?.destroy();
    await s3?.stop();
  });

  it('find the published revisions by their manifests, write before the manifest, and leave the revision a published one', async () => {
    const store = new S3Artifacts({ client });
    const source = 's3://deltas/web';
    const publish = (revision: string, dir: string, calls: string[] = []) => publishRevision({
      dir, source, revision, excludes: [], publishedBy: 'test', clock: realClock, store: recording(store, calls),
    });
    await publish('s1', await build(1));
    await publish('s2', await build(2));
    const calls: string[] = [];
    const summary = await publish('s3', await build(3), calls);
    expect([...summary.deltasFrom].sort()).toEqual(['s1', 's2']);
    expect(calls.at(-1)).toBe('manifest');
    expect(calls.filter((c) => c.startsWith('delta')).sort()).toEqual(['delta s1', 'delta s2']);
    expect(await store.recentRevisions({ source, limit: 10 })).toHaveLength(3);
    expect(await store.hasPlainFiles({ source, revision: 's3' })).toBe(false);
    expect(await store.check({ source, revision: 's3' })).toMatchObject({ exists: true, kind: 'manifest' });
  });
});
