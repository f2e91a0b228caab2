/**
 * How the host script downloads a published revision's objects from S3, at objects/ab/<sha256>: from a small store
 * (one shard counted tells), one listing and includes; from a large one, a routine deploy goes by exact key or one
 * shard at a time and never lists the store; a first sync that needs most of the store syncs the objects folder
 * whole (one listing, no filters) and says what moved. Stores published before sharding (objects/<sha256>), and
 * stores holding both layouts, still sync, from S3 and from a folder.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../controller/hostProtocol.ts';
import { requireTools, runScript, syncArgs, type ScriptRun } from '../support/hostScript.ts';
import { codebase, folderDigest, sha256, startPublishedSources, type PublishedSources, type Tree } from '../support/publishedRevision.ts';

const SLOW = 300_000;
const FILES = 500;
const CHANGED = [11, 111, 211, 311, 411];
const CHANGED_AGAIN = [3, 53, 103, 153, 203, 253, 303, 353, 403, 453];
let src: PublishedSources;
let dest: string;

/** 80 files whose objects a publish before sharding wrote (objects/<sha256>) and 40 new ones (objects/ab/<sha256>) */
const OLD = codebase(300);
const FILLER = codebase(300, Array.from({ length: 300 }, (_, i) => i), 5);
const MIXED: Tree = Object.fromEntries([
  ...Object.entries(OLD).slice(0, 80),
  ...Object.entries(codebase(300, Array.from({ length: 300 }, (_, i) => i), 7)).slice(80, 120),
]);
const TINY: Tree = Object.fromEntries(Object.entries(OLD).slice(0, 10));

function sync(source: string, revision: string, destination: string): Promise<ScriptRun> {
  return runScript(syncArgs({ source, revision, destination, excludes: '' }), { env: src.env, timeoutMs: SLOW });
}

/** ListObjects requests the proxy served for the whole store, <prefix>/objects/ (not one shard of it) */
function storeListings(prefix: string): number {
  return src.proxy.requests.filter((r) => r.method === 'GET' && r.query.includes('list-type=2')
    && new URLSearchParams(r.query).get('prefix') === `${prefix}/objects/`).length;
}

/** Makes the store look large to the host: 70 more objects in one shard (it counts one shard, times 256). */
async function fillShard(prefix: string, shard: string): Promise<void> {
  await Promise.all(Array.from({ length: 70 }, (_, i) => src.bucket.put(
    `${prefix}/objects/${shard}/${shard}${i.toString(16).padStart(62, '0')}`, `filler ${i}`)));
}

/** Two contents whose objects share a shard folder. */
function sameShard(): [string, string] {
  const seen = new Map<string, string>();
  for (let i = 0; ; i++) {
    const content = `extra file ${i}\n`;
    const shard = sha256(content).slice(0, 2);
    const other = seen.get(shard);
    if (other !== undefined) return [other, content];
    seen.set(shard, content);
  }
}

beforeAll(async () => {
  requireTools('bash', 'flock', 'aws');
  src = await startPublishedSources('published-fetch');
  await src.publish('f1', codebase(FILES), 'fetch');
  await src.publish('f2', codebase(FILES, CHANGED), 'fetch');
  await src.publish('f3', codebase(FILES, CHANGED_AGAIN, 3), 'fetch');
  // a store published before sharding, then used by a publish that shards: 300 + 300 + 40 objects
  await src.publish('old', OLD, 'mixed', 'flat');
  await src.publish('tiny', TINY, 'mixed', 'flat');
  await src.publish('filler', FILLER, 'mixed', 'sharded');
  await src.publish('new', MIXED, 'mixed', 'sharded');
}, SLOW);

afterAll(async () => {
  await src?.stop();
});

describe('downloading objects from S3', () => {
  it('a first sync that needs most of the store downloads it whole, reports what moved, and builds the release exactly', async () => {
    dest = src.newDest();
    src.proxy.clear();
    const first = await sync(src.s3Source('fetch'), 'f1', dest);
    expect(first.code, first.stdout).toBe(EXIT.synced);
    // 500 objects needed of the 515 the store holds: all 515 came down, and the result line says so
    const stored = FILES + CHANGED.length + CHANGED_AGAIN.length;
    expect(src.objectGets('fetch')).toHaveLength(stored);
    expect(first.result).toMatchObject({ revision: 'f1', downloadedFiles: stored, reusedFiles: 0 });
    expect(await folderDigest(join(dest, 'current'))).toEqual(src.digest('f1'));
    const log = await readFile(join(dest, '.fleetsync', 'sync.log'), 'utf8');
    expect(log).toContain(`downloading all ${stored} objects of s3://`);
  }, SLOW);

  it('a few objects: each by its exact key, the store never listed, whatever it holds', async () => {
    for (const [revision, changed] of [['f2', CHANGED], ['f3', CHANGED_AGAIN]] as const) {
      src.proxy.clear();
      const run = await sync(src.s3Source('fetch'), revision, dest);
      expect(run.code, run.stdout).toBe(EXIT.synced);
      expect(src.objectGets('fetch')).toHaveLength(changed.length);
      expect(storeListings('fetch')).toBe(0);
      expect(run.result).toMatchObject({ downloadedFiles: changed.length, reusedFiles: FILES - changed.length });
      expect(await folderDigest(join(dest, 'current'))).toEqual(src.digest(revision));
    }
    expect(await readFile(join(dest, '.fleetsync', 'sync.log'), 'utf8')).toContain(`${CHANGED_AGAIN.length} objects needed: by exact key`);

    // a shard holding 70 more objects changes nothing: two keys, two objects
    const [one, two] = sameShard();
    await fillShard('fetch', sha256(one).slice(0, 2));
    await src.publish('f4', { ...codebase(FILES, CHANGED_AGAIN, 3), 'extra/one.txt': one, 'extra/two.txt': two }, 'fetch');
    src.proxy.clear();
    const run = await sync(src.s3Source('fetch'), 'f4', dest);
    expect(run.code, run.stdout).toBe(EXIT.synced);
    expect(storeListings('fetch')).toBe(0);
    expect(src.objectGets('fetch').sort()).toEqual([sha256(one), sha256(two)].sort());
    expect(run.result).toMatchObject({ downloadedFiles: 2 });
    expect(await folderDigest(join(dest, 'current'))).toEqual(src.digest('f4'));
  }, SLOW);

  it('a plain folder\'s 1% change: one listing of the revision, then exactly the changed files, each by its key', async () => {
    const p1 = codebase(FILES);
    const p2 = codebase(FILES, CHANGED);
    for (const [name, tree] of [['p1', p1], ['p2', p2]] as const) {
      for (const [path, value] of Object.entries(tree)) {
        await src.bucket.put(`plainfetch/${name}/${path}`, typeof value === 'string' || Buffer.isBuffer(value) ? value : value.content);
      }
    }
    const host = src.newDest();
    const first = await sync(src.s3Source('plainfetch'), 'p1', host);
    expect(first.code, first.stdout).toBe(EXIT.synced);
    src.proxy.clear();
    const next = await sync(src.s3Source('plainfetch'), 'p2', host);
    expect(next.code, next.stdout).toBe(EXIT.synced);
    const listings = src.proxy.requests.filter((r) => r.method === 'GET' && r.query.includes('list-type=2'));
    expect(listings.map((r) => new URLSearchParams(r.query).get('prefix'))).toEqual(['plainfetch/p2/']);
    const gets = src.proxy.requests.filter((r) => r.method === 'GET' && !r.query.includes('list-type=2'));
    expect(gets).toHaveLength(CHANGED.length);
    expect(next.result).toMatchObject({ downloadedFiles: CHANGED.length });
    expect(await folderDigest(join(host, 'current'))).toEqual(await folderDigest(join(host, 'releases', 'p2')));
  }, SLOW);

  it('refuses the revision name "objects": that folder is the object store, not a codebase', async () => {
    const run = await runScript(syncArgs({ source: src.fileSource, revision: 'objects', destination: src.newDest(), excludes: '' }),
      { env: src.env, timeoutMs: SLOW });
    expect(run.code).toBe(EXIT.syncFailed);
    expect(run.result.error).toContain('revision objects is reserved');
  });
});

describe('a store published before sharding (objects/<sha256>)', () => {
  for (const kind of ['s3://', 'file://'] as const) {
    const source = (): string => (kind === 's3://' ? src.s3Source('mixed') : src.fileSource);

    it(`${kind}: a host syncs its flat objects, then a revision whose new objects are sharded`, async () => {
      const host = src.newDest();
      const first = await sync(source(), 'old', host);
      expect(first.code, first.stdout).toBe(EXIT.synced);
      expect(await folderDigest(join(host, 'current'))).toEqual(src.digest('old'));
      src.proxy.clear();
      const next = await sync(source(), 'new', host);
      expect(next.code, next.stdout).toBe(EXIT.synced);
      expect(next.result).toMatchObject({ downloadedFiles: 40, reusedFiles: 80 });
      expect(await folderDigest(join(host, 'current'))).toEqual(src.digest('new'));
    }, SLOW);

    it(`${kind}: a new host fetches flat objects by key from a large store, and a mix of both layouts by name`, async () => {
      const tinyObjects = Object.values(TINY).map((v) => sha256((v as { content: string }).content)).sort();
      if (kind === 's3://') await fillShard('mixed', (tinyObjects[0] as string).slice(0, 2));
      const small = src.newDest();
      src.proxy.clear();
      const tiny = await sync(source(), 'tiny', small);
      expect(tiny.code, tiny.stdout).toBe(EXIT.synced);
      expect(tiny.result).toMatchObject({ downloadedFiles: 10 });
      expect(await folderDigest(join(small, 'current'))).toEqual(src.digest('tiny'));
      if (kind === 's3://') {
        expect(storeListings('mixed')).toBe(0);
        expect(await readFile(join(small, '.fleetsync', 'sync.log'), 'utf8')).toContain('10 objects are not at s3://');
      }

      // 120 objects needed of the 710 the store holds: not synced whole; each by the name its layout gives it
      const fresh = src.newDest();
      src.proxy.clear();
      const run = await sync(source(), 'new', fresh);
      expect(run.code, run.stdout).toBe(EXIT.synced);
      expect(run.result).toMatchObject({ downloadedFiles: 120, reusedFiles: 0 });
      expect(await folderDigest(join(fresh, 'current'))).toEqual(src.digest('new'));
      if (kind === 's3://') {
        expect(new Set(src.objectGets('mixed')).size).toBe(120);
        const log = await readFile(join(fresh, '.fleetsync', 'sync.log'), 'utf8');
        expect(log).toContain('120 objects needed; the store holds 710');
        expect(log).toContain('downloading 120 objects by name from the listing');
        expect(log).not.toContain('are not at s3://');
      }
    }, SLOW);
  }
});
