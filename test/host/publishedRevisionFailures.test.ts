/**
 * deploy/host/fleetsync-sync.sh with published revisions that cannot be synced: corrupt or missing objects, not
 * enough disk space, an interrupted publish, malformed manifests. Each fails before the switch and leaves the
 * host as it was. Also: plain prefixes that hold an app's own manifest.json still sync as plain files.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../controller/hostProtocol.ts';
import { MANIFEST_HEADER, buildManifest, renderManifest } from '../../state/manifest.ts';
import { requireTools, runScript, syncArgs, type ScriptRun } from '../support/hostScript.ts';
import {
  keyOf, manifestOf, publishToFolder, publishToS3, sha256, startPublishedSources, type PublishedSources,
} from '../support/publishedRevision.ts';

const SLOW = 60_000;
const KINDS = [['file://'], ['s3://']] as const;

let src: PublishedSources;

function sync(source: string, revision: string, destination: string, extra: Partial<Parameters<typeof syncArgs>[0]> = {}): Promise<ScriptRun> {
  return runScript(syncArgs({ source, revision, destination, ...extra }), { env: src.env, timeoutMs: SLOW });
}

const sourceOf = (kind: string) => (kind === 's3://' ? src.s3Source('web') : src.fileSource);

/** What a failed attempt must leave: the old release live, no new release, no staging, no work folder. */
async function expectUntouched(dest: string, live: string, revision: string): Promise<void> {
  expect(await readlink(join(dest, 'current'))).toBe(`releases/${live}`);
  expect(await readFile(join(dest, '.fleetsync', 'REVISION'), 'utf8')).toBe(`${live}\n`);
  const releases = await readdir(join(dest, 'releases'));
  expect(releases).not.toContain(revision);
  expect(releases.filter((name) => name.startsWith('.'))).toEqual([]);
  expect(existsSync(join(dest, '.fleetsync', 'work'))).toBe(false);
}

beforeAll(async () => {
  requireTools('bash', 'flock', 'aws');
  src = await startPublishedSources('published-failures');
  await src.publish('good', { 'index.php': 'good', 'lib/ok.php': 'ok' });
}, SLOW);

afterAll(async () => {
  await src?.stop();
});

describe('failures before the switch', () => {
  it.each(KINDS)('a corrupted object from %s fails with exit 3 naming it; the old release stays live and nothing is left over', async (kind) => {
    const revision = kind === 's3://' ? 'c-s3' : 'c-file';
    const content = `broken ${kind}`;
    await src.publish(revision, { 'index.php': 'good', 'lib/ok.php': 'ok', 'lib/broken.php': content });
    // the wrong content under the object's name
    if (kind === 's3://') await src.bucket.put(`web/${keyOf(sha256(content))}`, 'tampered');
    else await writeFile(join(src.folder, keyOf(sha256(content))), 'tampered');
    const dest = src.newDest();
    expect((await sync(src.fileSource, 'good', dest)).code).toBe(EXIT.synced);
    const run = await sync(sourceOf(kind), revision, dest);
    expect(run.code).toBe(EXIT.syncFailed);
    expect(run.result).toMatchObject({ status: 'failed', revision: 'good', target: revision });
    expect(run.result.error).toContain(`object ${sha256(content)} is missing from`);
    expect(run.result.error).toMatch(/or does not match its SHA-256: delete it and publish c-\w+ again$/);
    await expectUntouched(dest, 'good', revision);
  }, SLOW);

  it('a missing object fails the same way', async () => {
    await src.publish('m1', { 'index.php': 'm1', 'gone.php': 'this object will be deleted' });
    await rm(join(src.folder, keyOf(sha256('this object will be deleted'))));
    const dest = src.newDest();
    expect((await sync(src.fileSource, 'good', dest)).code).toBe(EXIT.synced);
    const run = await sync(src.fileSource, 'm1', dest);
    expect(run.code).toBe(EXIT.syncFailed);
    expect(run.result.error).toContain(`object ${sha256('this object will be deleted')} is missing`);
    await expectUntouched(dest, 'good', 'm1');
  });

  it.each(KINDS)('not enough disk space (%s) is reported before anything is written or downloaded', async (kind) => {
    const huge = renderManifest(buildManifest({
      revision: 'huge', publishedBy: 'test@host', publishedAt: '2024-01-01T00:00:00.000Z',
      files: [
        { path: 'big.bin', sha256: 'a'.repeat(64), size: 2 ** 50, mode: '644' },
        { path: 'index.php', sha256: sha256('good'), size: 4, mode: '644' }, // on the host already: not counted
      ],
    }));
    if (kind === 's3://') await src.bucket.put('web/huge/manifest.json', huge);
    else {
      await mkdir(join(src.folder, 'huge'), { recursive: true });
      await writeFile(join(src.folder, 'huge', 'manifest.json'), huge);
    }
    const dest = src.newDest();
    expect((await sync(src.fileSource, 'good', dest)).code).toBe(EXIT.synced);
    src.proxy.clear();
    const run = await sync(sourceOf(kind), 'huge', dest, { attemptId: 'space-check' });
    expect(run.code).toBe(EXIT.syncFailed);
    expect(run.result.error).toMatch(/^not enough disk space in .*: huge needs 1125899906842624 bytes \(\+64 MiB spare\), \d+ are free; free space or lower keepReleases$/);
    expect(src.objectGets()).toEqual([]);
    await expectUntouched(dest, 'good', 'huge');
    const attempt = (await readFile(join(dest, '.fleetsync', 'sync.log'), 'utf8')).split('\n').filter((l) => l.includes('[space-check]'));
    expect(attempt.join('\n')).not.toMatch(/seeding|staging|placed/);
  }, SLOW);

  it.each(KINDS)('an interrupted publish (%s: objects, no manifest) fails saying so', async (kind) => {
    const tree = { 'index.php': `interrupted ${kind}` };
    if (kind === 's3://') await publishToS3(src.bucket, 'web', 'cut', tree, { withoutManifest: true });
    else await publishToFolder(src.folder, 'cut', tree, { withoutManifest: true });
    const run = await sync(sourceOf(kind), 'cut', src.newDest());
    expect(run.code).toBe(EXIT.syncFailed);
    expect(run.result.error).toMatch(/^revision cut not found: .*\/cut\/ holds no files and no manifest\.json \(an interrupted publish leaves none: publish again\)$/);
  }, SLOW);

  it('an empty revision folder says the same', async () => {
    await mkdir(join(src.folder, 'hollow'), { recursive: true });
    const run = await sync(src.fileSource, 'hollow', src.newDest());
    expect(run.code).toBe(EXIT.syncFailed);
    expect(run.result.error).toMatch(/^revision hollow is empty: .* holds no files and no manifest\.json \(an interrupted publish/);
  });

  const valid = manifestOf('bad', { 'a/b.php': 'b', 'c.php': 'c' }).text;
  it.each([
    ['a path with ..', valid.replace('"a/b.php"', '"a/../b.php"'), /line 2: path a\/\.\.\/b\.php is repeated or not a safe relative path/],
    ['an absolute path', valid.replace('"a/b.php"', '"/a/b.php"'), /line 2: path \/a\/b\.php is repeated or not a safe relative path/],
    ['a path in .fleetsync', valid.replace('"a/b.php"', '".fleetsync/REVISION"'), /line 2: path \.fleetsync\/REVISION/],
    ['a repeated path', valid.replace('"c.php"', '"a/b.php"'), /line 3: path a\/b\.php is repeated/],
    ['a backslash', valid.replace('"a/b.php"', '"a\\\\b.php"'), /line 2: not a file entry/],
    ['an uppercase SHA-256', valid.replace(sha256('b'), sha256('b').toUpperCase()), /line 2: not a file entry/],
    ['a short SHA-256', valid.replace(sha256('b'), 'abc'), /line 2: not a file entry/],
    ['totals that do not add up', valid.replace('"totals":{"files":2,', '"totals":{"files":3,'), /totals do not add up/],
    ['a missing comma', valid.replace('},\n', '}\n'), /line 3: misplaced , or \]\}/],
    ['text after the end', `${valid}{"more":1}\n`, /misplaced , or \]\}/],
    ['no end', valid.replace(']}\n', ''), /no \]\}/],
    ['another revision', valid.replace('"revision":"bad"', '"revision":"other"'), /line 1: bad first line/],
    ['no files', renderManifest(buildManifest({ revision: 'bad', publishedBy: 'x', publishedAt: 'y', files: [] })), /no files/],
  ])('a manifest with %s fails with exit 3 and says what is wrong', async (_what, text, message) => {
    expect(text.startsWith(MANIFEST_HEADER)).toBe(true);
    const dest = src.newDest();
    const root = `${dest}-source`;
    await mkdir(join(root, 'bad'), { recursive: true });
    await writeFile(join(root, 'bad', 'manifest.json'), text);
    const run = await sync(`file://${root}`, 'bad', dest);
    expect(run.code).toBe(EXIT.syncFailed);
    expect(run.result.error).toContain(`${root}/bad/manifest.json is not a valid fleetsync manifest: `);
    expect(run.result.error).toMatch(message);
    expect(run.result.error).toMatch(/; publish bad again$/);
    expect(existsSync(join(dest, 'releases', 'bad'))).toBe(false);
  });

  it('strategy inplace refuses a published revision clearly', async () => {
    const run = await sync(src.fileSource, 'good', src.newDest(), { strategy: 'inplace' });
    expect(run.code).toBe(EXIT.syncFailed);
    expect(run.result.error).toBe('strategy inplace cannot sync a published revision yet: use strategy release');
  });
});

describe('plain prefixes', () => {
  it.each(KINDS)('a plain %s prefix with an app\'s own manifest.json still syncs as plain files', async (kind) => {
    const files = { 'manifest.json': '{"name":"my-app","version":"1.0.0"}', 'index.php': 'plain' };
    for (const [path, body] of Object.entries(files)) {
      if (kind === 's3://') await src.bucket.put(`plain/p1/${path}`, body);
      else {
        await mkdir(join(src.tmp, 'plain', 'p1'), { recursive: true });
        await writeFile(join(src.tmp, 'plain', 'p1', path), body);
      }
    }
    const dest = src.newDest();
    const run = await sync(kind === 's3://' ? src.s3Source('plain') : `file://${join(src.tmp, 'plain')}`, 'p1', dest);
    expect(run.code, run.stderr).toBe(EXIT.synced);
    expect(run.result.downloadedFiles).toBe(2);
    expect(await readFile(join(dest, 'current', 'manifest.json'), 'utf8')).toBe(files['manifest.json']);
    expect(await readFile(join(dest, 'current', 'index.php'), 'utf8')).toBe('plain');
    expect(await readFile(join(dest, '.fleetsync', 'sync.log'), 'utf8')).toContain('p1/manifest.json is not a fleetsync manifest: syncing plain files');
    expect(existsSync(join(dest, '.fleetsync', 'manifests', 'p1.tsv'))).toBe(false);
  }, SLOW);
});
