/**
 * The host agent with manifest deltas, from file:// and from S3 (s3rver behind the recording proxy), published
 * by the real `fleetsync publish` code: a host holding A builds B from its record of A and the delta publish wrote,
 * the same release byte for byte as a host that read B's whole manifest; a delta that is missing, damaged, gives
 * other files or belongs to another publish of B is never believed: the host reads the manifest.
 */
import { readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { GetObjectCommand, PutObjectCommand, DeleteObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../controller/hostProtocol.ts';
import { S3Artifacts } from '../../controller/aws/s3Artifacts.ts';
import { LocalArtifacts } from '../../controller/local/localArtifacts.ts';
import { publishRevision } from '../../controller/publish/publish.ts';
import { realClock } from '../../controller/clock/realClock.ts';
import type { ArtifactStore } from '../../controller/ports/artifacts.ts';
import { requireTools, runScript, syncArgs, type ScriptRun } from '../support/hostScript.ts';
import {
  folderDigest, startPublishedSources, treeDigest, writeTreeFiles, type PublishedSources, type Tree,
} from '../support/publishedRevision.ts';

const SLOW = 120_000;
let src: PublishedSources;
let builds = 0;

const A: Tree = {};
for (let i = 0; i < 40; i++) A[`app/f${i}.php`] = `<?php // ${i}\n${'x'.repeat(i * 17)}`;
A['bin/run'] = { content: '#!/bin/sh\necho run\n', mode: 0o755 };
A['docs/read me ü.txt'] = 'spaces and UTF-8';
const B: Tree = { ...A };
B['app/f1.php'] = 'changed 1';
B['app/f2.php'] = { content: 'changed 2, executable', mode: 0o755 };
B['app/moved/f4.php'] = A['app/f4.php'] as string;
delete B['app/f4.php'];
delete B['app/f5.php'];
B['app/f6.php'] = { content: A['app/f6.php'] as string, mode: 0o700 };
B['docs/new ü.txt'] = 'new file';
// what another publish of revision b (cut short, then published again with other content) leaves behind
const OTHER_B: Tree = { ...B, 'app/f7.php': 'another b' };

/** The links to <dest>/shared/media and shared/var every release has: not part of the revision. */
const sharedLinks = (rel: string): boolean => rel === 'media' || rel === 'var';

interface Source {
  name: string;
  url: (prefix: string) => string;
  store: () => ArtifactStore;
  readDelta(prefix: string, revision: string, base: string): Promise<string>;
  writeDelta(prefix: string, revision: string, base: string, text: string | null): Promise<void>;
}

const sources: Source[] = [
  {
    name: 'file://',
    url: (prefix) => `file://${join(src.tmp, prefix)}`,
    store: () => new LocalArtifacts(),
    readDelta: (prefix, revision, base) => readFile(join(src.tmp, prefix, revision, '.fleetsync', 'delta', `${base}.json`), 'utf8'),
    async writeDelta(prefix, revision, base, text) {
      const file = join(src.tmp, prefix, revision, '.fleetsync', 'delta', `${base}.json`);
      if (text === null) await rm(file);
      else await writeFile(file, text);
    },
  },
  {
    name: 'S3',
    url: (prefix) => src.s3Source(prefix),
    store: () => new S3Artifacts({ client: src.bucket.client }),
    async readDelta(prefix, revision, base) {
      const out = await src.bucket.client.send(new GetObjectCommand({ Bucket: src.bucket.bucket, Key: `${prefix}/${revision}/.fleetsync/delta/${base}.json` }));
      return out.Body?.transformToString('utf8') ?? '';
    },
    async writeDelta(prefix, revision, base, text) {
      const Key = `${prefix}/${revision}/.fleetsync/delta/${base}.json`;
      if (text === null) await src.bucket.client.send(new DeleteObjectCommand({ Bucket: src.bucket.bucket, Key }));
      else await src.bucket.client.send(new PutObjectCommand({ Bucket: src.bucket.bucket, Key, Body: text }));
    },
  },
];

async function publish(source: Source, prefix: string, revision: string, tree: Tree, store = source.store()): Promise<string[]> {
  const dir = join(src.tmp, `build-${++builds}`);
  await writeTreeFiles(dir, tree);
  const summary = await publishRevision({
    dir, source: source.url(prefix), revision, excludes: [], publishedBy: 'test', clock: realClock, store,
  });
  return summary.deltasFrom;
}

function sync(source: Source, prefix: string, revision: string, destination: string): Promise<ScriptRun> {
  return runScript(syncArgs({ source: source.url(prefix), revision, destination }), { env: src.env, timeoutMs: SLOW });
}

async function synced(source: Source, prefix: string, revision: string, destination: string): Promise<ScriptRun> {
  const run = await sync(source, prefix, revision, destination);
  expect(run.code, `${run.stdout} ${run.stderr.slice(-2000)}`).toBe(EXIT.synced);
  return run;
}

async function recordDigest(dest: string, revision: string): Promise<unknown> {
  const text = gunzipSync(await readFile(join(dest, '.fleetsync', 'records', `${revision}.tsv.gz`))).toString('utf8');
  return (JSON.parse(text.split('\n')[0] as string) as { digest?: string }).digest;
}

beforeAll(async () => {
  requireTools('bash', 'aws');
  src = await startPublishedSources('published-delta');
  for (const source of sources) {
    expect(await publish(source, 'web', 'a', A)).toEqual([]);
    expect(await publish(source, 'web', 'b', B)).toEqual(['a']);
    // the same a, another b: its delta from a is right for that b, wrong for ours
    await publish(source, 'other', 'a', A);
    await publish(source, 'other', 'b', OTHER_B);
  }
}, SLOW);

afterAll(async () => {
  await src?.stop();
});

describe.each(sources)('deltas from $name', (source) => {
  it('a host holding a builds b from the delta: the same release, modes and links as a host that read the whole manifest', async () => {
    const withBase = src.newDest();
    await synced(source, 'web', 'a', withBase);
    src.proxy.clear();
    const delta = await synced(source, 'web', 'b', withBase);
    expect(delta.result).toMatchObject({ manifest: 'delta', files: 5, downloadedFiles: 3 });
    const deltaBytes = (delta.result as { manifestBytes?: number }).manifestBytes ?? 0;
    if (source.name === 'S3') {
      const gets = src.proxy.requests.filter((r) => r.method === 'GET' && !r.query.includes('list-type')).map((r) => r.path);
      expect(gets).toContain(`/${src.bucket.bucket}/web/b/.fleetsync/delta/a.json`);
      expect(gets).not.toContain(`/${src.bucket.bucket}/web/b/manifest.json`);
    }

    const noBase = src.newDest();
    const full = await synced(source, 'web', 'b', noBase);
    expect(full.result).toMatchObject({ manifest: 'full' });
    expect(deltaBytes).toBeGreaterThan(0);
    expect(deltaBytes).toBeLessThan((full.result as { manifestBytes?: number }).manifestBytes ?? 0);

    const built = await folderDigest(join(withBase, 'current/'), sharedLinks);
    expect(built).toEqual(treeDigest(B));
    expect(await folderDigest(join(noBase, 'current/'), sharedLinks)).toEqual(built);
    expect(await recordDigest(withBase, 'b')).toEqual(await recordDigest(noBase, 'b'));
    expect(await recordDigest(withBase, 'b')).toMatch(/^[0-9a-f]{64}$/);
  }, SLOW);

  const damages: Array<{ what: string; change: (text: string, other: string) => string | null; why: RegExp }> = [
    { what: 'missing', change: () => null, why: /no delta from a release this host keeps/ },
    { what: 'damaged (cut short)', change: (text) => text.slice(0, Math.floor(text.length / 2)), why: /unusable \(not JSON\)/ },
    {
      what: 'giving other files than the manifest',
      change: (text) => text.replace(/"sha256":"([0-9a-f]{64})"/, (_, sha: string) => `"sha256":"${sha.startsWith('0') ? '1' : '0'}${sha.slice(1)}"`),
      why: /do not hash to the manifest's digest/,
    },
    {
      what: 'left by another publish of b',
      change: (_, other) => other,
      why: source.name === 'S3' ? /belongs to another manifest of b/ : /its digest is not the one in the manifest/,
    },
  ];
  it.each(damages)('a delta $what is not believed: the host reads the manifest and builds b', async ({ change, why }) => {
    const original = await source.readDelta('web', 'b', 'a');
    const other = await source.readDelta('other', 'b', 'a');
    expect(other).not.toBe(original);
    await source.writeDelta('web', 'b', 'a', change(original, other));
    try {
      const dest = src.newDest();
      await synced(source, 'web', 'a', dest);
      const run = await synced(source, 'web', 'b', dest);
      expect(run.result).toMatchObject({ manifest: 'full' });
      expect(await readFile(join(dest, '.fleetsync', 'sync.log'), 'utf8')).toMatch(why);
      expect(await folderDigest(join(dest, 'current/'), sharedLinks)).toEqual(treeDigest(B));
    } finally {
      await source.writeDelta('web', 'b', 'a', original);
    }
  }, SLOW);

  it('a publish cut short before its manifest leaves deltas only: not deployable, and the host says it is not there', async () => {
    const inner = source.store();
    const store: ArtifactStore = Object.assign(Object.create(inner) as ArtifactStore, {
      putManifest: () => Promise.reject(new Error('cut short')),
    });
    await expect(publish(source, 'web', 'c', { ...B, 'app/c.php': 'c' }, store)).rejects.toThrow(/cut short/);
    expect(await source.readDelta('web', 'c', 'b')).toContain('"kind":"ManifestDelta"');
    expect(await source.store().check({ source: source.url('web'), revision: 'c' })).toMatchObject({ exists: false });
    const run = await sync(source, 'web', 'c', src.newDest());
    expect(run.code).toBe(EXIT.syncFailed);
    expect(run.result.error).toMatch(/revision c (not found|is empty)/);
  }, SLOW);
});

describe('records of an older agent', () => {
  it('a plain .tsv record is still trusted: the next sync hashes only what is new, and leaves a gzip\'d record', async () => {
    const source = sources[0] as Source;
    const dest = src.newDest();
    await synced(source, 'web', 'a', dest);
    const records = join(dest, '.fleetsync', 'records');
    await writeFile(join(records, 'a.tsv'), gunzipSync(await readFile(join(records, 'a.tsv.gz'))));
    await rm(join(records, 'a.tsv.gz'));
    const run = await synced(source, 'web', 'b', dest);
    expect(run.result).toMatchObject({ manifest: 'delta', downloadedFiles: 3, hashedFiles: 3 });
    expect((await readdir(records)).sort()).toEqual(['a.tsv.gz', 'b.tsv.gz']);
  }, SLOW);
});
