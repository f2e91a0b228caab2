/**
 * deploy/host/fleetsync-sync.sh with published revisions (`<source>/<revision>/manifest.json` over
 * `<source>/objects/<sha256>`), from a file:// folder and from a local S3 (s3rver behind a recording proxy, so
 * the tests count the objects that went over the wire): what a host downloads, what it reuses, and that the
 * release it builds is exactly what was published. Reuse from older releases and drift:
 * publishedReuse.test.ts; failures: publishedRevisionFailures.test.ts.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, readlink, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../controller/hostProtocol.ts';
import { requireTools, runScript, syncArgs, type ScriptRun } from '../support/hostScript.ts';
import {
  codebase, folderDigest, sha256, startPublishedSources, writeTreeFiles, type PublishedSources,
} from '../support/publishedRevision.ts';

const FILES = 2000;
const CHANGED = Array.from({ length: 20 }, (_, k) => k * 100 + 3); // 1%
const R1 = codebase(FILES);
const R2 = codebase(FILES, CHANGED);
/** the contents of the files r2 changes */
const CHANGED_CONTENT = CHANGED.map((i) => (R2[`src/module-${i % 40}/part-${i % 7}/file-${i}.php`] as { content: string }).content);
const CHANGED_BYTES = CHANGED_CONTENT.reduce((sum, content) => sum + Buffer.byteLength(content), 0);
const SLOW = 120_000;

let src: PublishedSources;

function sync(source: string, revision: string, destination: string, extra: Partial<Parameters<typeof syncArgs>[0]> = {}): Promise<ScriptRun> {
  return runScript(syncArgs({ source, revision, destination, ...extra }), { env: src.env, timeoutMs: SLOW });
}

beforeAll(async () => {
  requireTools('bash', 'flock', 'aws');
  src = await startPublishedSources('published');
  // the 2,000-file revisions under their own prefix, so the small cases do not list their objects
  await src.publish('r1', R1, 'big');
  await src.publish('r2', R2, 'big');
  await writeTreeFiles(join(src.tmp, 'plain', 'r1'), R1);
}, SLOW);

afterAll(async () => {
  await src?.stop();
});

/** The links to <dest>/shared/media and shared/var every release has: not part of the revision. */
const sharedLinks = (rel: string) => rel === 'media' || rel === 'var';

describe('a 2,000-file revision that changes 1%', () => {
  // One host: at r1 (synced from a plain folder of the same files), r1 -> r2 (file://), back to r1 keeping only
  // it, r1 -> r2 again (s3://).
  let dest: string;

  beforeAll(async () => {
    dest = src.newDest();
    const first = await sync(`file://${join(src.tmp, 'plain')}`, 'r1', dest);
    expect(first.code, first.stderr).toBe(EXIT.synced);
    // a plain folder's files are copied from the source: they count as downloaded
    expect(first.result.downloadedFiles).toBe(2000);
  }, SLOW);

  it('from file://, places only the 20 changed files, builds a release identical to what was published, and leaves the live one alone', async () => {
    const started = Date.now();
    const run = await sync(src.fileSource, 'r2', dest, { keepReleases: 2 });
    const seconds = (Date.now() - started) / 1000;
    expect(run.code, run.stderr).toBe(EXIT.synced);
    expect(run.result).toMatchObject({
      revision: 'r2', status: 'synced', files: 20, bytes: CHANGED_BYTES,
      downloadedFiles: 20, downloadedBytes: CHANGED_BYTES, reusedFiles: FILES - 20,
    });
    expect(seconds).toBeLessThan(15);
    expect(await readlink(join(dest, 'current'))).toBe('releases/r2');
    expect(await folderDigest(join(dest, 'releases', 'r2'), sharedLinks)).toEqual(src.digest('r2'));
    // nothing was written through the hard links the two releases share
    expect(await folderDigest(join(dest, 'releases', 'r1'), sharedLinks)).toEqual(src.digest('r1'));
    // both releases have a record of what was placed: r1 from the plain folder too
    expect((await readdir(join(dest, '.fleetsync', 'records'))).sort()).toEqual(['r1.tsv.gz', 'r2.tsv.gz']);
    expect(existsSync(join(dest, '.fleetsync', 'work'))).toBe(false);
  }, SLOW);

  it('from s3://, downloads only the 20 changed objects (counted on the wire)', async () => {
    // back to r1, keeping only it: r2's content is gone from the host again
    const back = await sync(src.fileSource, 'r1', dest, { keepReleases: 1 });
    expect(back.code, back.stderr).toBe(EXIT.synced);
    // r1 is kept as it was placed (from the plain folder): it goes live again without a download or a hash
    expect(back.result).toMatchObject({ files: 20, downloadedFiles: 0, hashedFiles: 0, reusedFiles: FILES });
    expect((await readdir(join(dest, 'releases'))).sort()).toEqual(['r1']);
    expect((await readdir(join(dest, '.fleetsync', 'records'))).sort()).toEqual(['r1.tsv.gz']); // pruned with its release
    expect(await folderDigest(join(dest, 'current/'), sharedLinks)).toEqual(src.digest('r1'));
    const unchanged = 'src/module-1/part-1/file-1.php';
    const inode = (await stat(join(dest, 'releases', 'r1', unchanged))).ino;

    src.proxy.clear();
    const run = await sync(src.s3Source('big'), 'r2', dest, { keepReleases: 1 });
    expect(run.code, run.stderr).toBe(EXIT.synced);
    expect(run.result).toMatchObject({ files: 20, downloadedFiles: 20, downloadedBytes: CHANGED_BYTES, reusedFiles: FILES - 20 });
    const gets = src.objectGets('big');
    expect(gets).toHaveLength(20);
    expect(new Set(gets)).toEqual(new Set(CHANGED_CONTENT.map(sha256)));
    expect(await folderDigest(join(dest, 'releases', 'r2'), sharedLinks)).toEqual(src.digest('r2'));
    // an unchanged file is the same file as in the release before (hard-linked, not copied)
    expect((await stat(join(dest, 'releases', 'r2', unchanged))).ino).toBe(inode);
  }, SLOW);
});

describe('excludes and links', () => {
  it('drops excluded paths from the manifest, keeps links, and carries excluded host state over', async () => {
    const shared = join(src.tmp, 'shared-media');
    await mkdir(shared, { recursive: true });
    await src.publish('e1', { 'index.php': 'e1', 'media/from-build.jpg': 'excluded', 'var/x': 'excluded', 'lib/a.php': 'a' });
    await src.publish('e2', { 'index.php': 'e2', 'media/from-build.jpg': 'excluded', 'var/x': 'excluded', 'lib/b.php': 'b' });
    const dest = src.newDest();
    const links = `media=${shared}`;
    expect((await sync(src.fileSource, 'e1', dest, { links })).code).toBe(EXIT.synced);
    await mkdir(join(dest, 'current', 'var', 'sessions'), { recursive: true });
    await writeFile(join(dest, 'current', 'var', 'sessions', 's1'), 'session');
    const run = await sync(src.fileSource, 'e2', dest, { links });
    expect(run.code, run.stderr).toBe(EXIT.synced);
    expect(run.result).toMatchObject({ files: 2, reusedFiles: 0 });
    expect(await readlink(join(dest, 'current', 'media'))).toBe(shared);
    expect(await folderDigest(join(dest, 'current/'))).toEqual({
      'index.php': `${sha256('e2')} 644`, 'lib/b.php': `${sha256('b')} 644`, media: 'link', var: 'link',
    });
    // excluded host state lives outside the releases, in shared/, the same folder for every release
    expect(await readlink(join(dest, 'current', 'var'))).toBe(join(dest, 'shared', 'var'));
    expect(await readFile(join(dest, 'shared', 'var', 'sessions', 's1'), 'utf8')).toBe('session');
    expect(await readFile(join(dest, '.fleetsync', 'sync.log'), 'utf8')).toContain('manifest: 2 files (2 more excluded)');
  });
});
