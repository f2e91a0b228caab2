/**
 * Issue 12, part 1: no user data is ever deleted. With strategy release every exclude FOLDER/* lives in
 * <dest>/shared/FOLDER, linked into each release; a link never goes over a non-empty real folder (its content
 * moves to <dest>/.fleetsync/aside/); a strategy change refuses while the other strategy's files are there.
 * Each test drives the real agent with file:// sources in a temp folder.
 */
import { chmod, chown, lstat, mkdir, readFile, readdir, readlink, realpath, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../controller/hostProtocol.ts';
import { makeTempDir, requireTools, syncArgs, writeTree } from '../support/hostScript.ts';
import { findByContent, runAgent, writeCheck } from '../support/hostSafety.ts';

let tmp: { path: string; remove(): Promise<void> };
let counter = 0;

beforeAll(async () => {
  requireTools('bash', 'python3');
  tmp = await makeTempDir('safety-shared');
});
afterAll(async () => {
  await tmp.remove();
});

interface Case { root: string; src: string; source: string; dest: string; mnt: string }

/** src/ with rev1..rev3 (each with an excluded media/ and var/ file the release must not take), an empty mnt/. */
async function newCase(): Promise<Case> {
  counter += 1;
  const root = join(tmp.path, `case${counter}`);
  const src = join(root, 'src');
  for (const rev of ['rev1', 'rev2', 'rev3']) {
    await writeTree(join(src, rev), {
      'index.php': `<?php echo "${rev}";\n`,
      'lib/app.php': `app ${rev}\n`,
      'media/logo.png': `logo from the revision ${rev}\n`,
      'var/cache.txt': `cache from the revision ${rev}\n`,
    });
  }
  await mkdir(join(root, 'mnt'), { recursive: true });
  return { root, src, source: `file://${src}`, dest: join(root, 'dest'), mnt: join(root, 'mnt') };
}

async function sync(c: Case, revision: string, extra: { links?: string; keepReleases?: number; check?: string; strategy?: 'release' | 'inplace'; excludes?: string } = {}) {
  return runAgent(syncArgs({ source: c.source, revision, destination: c.dest, ...extra }));
}

/** Every entry under root (links not followed): relative path -> content, link target or "dir". */
async function tree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(root, { withFileTypes: true, recursive: true })) {
    const abs = join(entry.parentPath, entry.name);
    const rel = relative(root, abs);
    if (entry.isSymbolicLink()) out[rel] = `-> ${await readlink(abs)}`;
    else if (entry.isDirectory()) out[rel] = 'dir';
    else out[rel] = await readFile(abs, 'utf8');
  }
  return out;
}

/** The layout the bash agent left: uploads in a real media/ folder inside the live release. */
async function legacyHost(c: Case, revision: string, uploads: Record<string, string>): Promise<void> {
  const release = join(c.dest, 'releases', revision);
  await writeTree(release, { 'index.php': `<?php echo "${revision}";\n`, 'lib/app.php': `app ${revision}\n`, ...uploads });
  await symlink(`releases/${revision}`, join(c.dest, 'current'));
  await mkdir(join(c.dest, '.fleetsync'), { mode: 0o700 });
  await writeFile(join(c.dest, '.fleetsync', 'REVISION'), `${revision}\n`);
}

describe('case 1a: an upload survives a link added over its folder', () => {
  it('re-deploying the live revision with --links media=... keeps upload.jpg (in shared/media or moved aside)', async () => {
    const c = await newCase();
    expect((await sync(c, 'rev1')).code).toBe(EXIT.synced);
    await writeFile(join(c.dest, 'current', 'media', 'upload.jpg'), 'a user upload\n');

    const again = await sync(c, 'rev1', { links: `media=${c.mnt}` });
    expect(again.code, again.stdout).toBe(EXIT.synced);
    expect(await readlink(join(c.dest, 'releases', 'rev1', 'media'))).toBe(c.mnt);
    expect(await findByContent(c.dest, 'a user upload\n')).toHaveLength(1);
  });

  it('deploying a new revision with --links media=... keeps upload.jpg', async () => {
    const c = await newCase();
    expect((await sync(c, 'rev1')).code).toBe(EXIT.synced);
    await writeFile(join(c.dest, 'current', 'media', 'upload.jpg'), 'a user upload\n');

    const next = await sync(c, 'rev2', { links: `media=${c.mnt}`, keepReleases: 1 });
    expect(next.code, next.stdout).toBe(EXIT.synced);
    expect(await readlink(join(c.dest, 'current'))).toBe('releases/rev2');
    expect(await readlink(join(c.dest, 'releases', 'rev2', 'media'))).toBe(c.mnt);
    // rev1 was pruned (keep 1): the upload must not have gone with it
    expect(await findByContent(c.dest, 'a user upload\n')).toHaveLength(1);
  });

  it('on a host the bash agent left (uploads in a real releases/rev1/media), the link moves them aside, never deletes them', async () => {
    const c = await newCase();
    await legacyHost(c, 'rev1', { 'media/upload.jpg': 'legacy upload\n', 'media/2024/deep.jpg': 'deep upload\n' });

    const again = await sync(c, 'rev1', { links: `media=${c.mnt}` });
    expect(again.code, again.stdout).toBe(EXIT.synced);
    expect(await readlink(join(c.dest, 'releases', 'rev1', 'media'))).toBe(c.mnt);
    const found = await findByContent(c.dest, 'legacy upload\n');
    expect(found).toHaveLength(1);
    // aside/<timestamp>.<path with / as _>.<pid>/upload.jpg
    expect(found[0]).toMatch(/^\.fleetsync\/aside\/\d{8}T\d{6}Z\.[^/]*releases_rev1_media\.\d+\/upload\.jpg$/);
    expect(await readFile(join(c.dest, (found[0] as string).replace(/upload\.jpg$/, '2024/deep.jpg')), 'utf8')).toBe('deep upload\n');

    const next = await sync(c, 'rev2', { links: `media=${c.mnt}`, keepReleases: 1 });
    expect(next.code, next.stdout).toBe(EXIT.synced);
    expect(await findByContent(c.dest, 'legacy upload\n')).toEqual(found);
  });

  it('on a host the bash agent left, without links, the live media/ and var/ move to shared/ on the first sync', async () => {
    const c = await newCase();
    await legacyHost(c, 'rev1', { 'media/upload.jpg': 'legacy upload\n', 'var/session.dat': 'a session\n' });
    const media = join(c.dest, 'releases', 'rev1', 'media');
    const inode = (await lstat(join(media, 'upload.jpg'))).ino;

    const next = await sync(c, 'rev2');
    expect(next.code, next.stdout).toBe(EXIT.synced);
    // moved (renamed), not copied: the same inode, now in shared/
    expect((await lstat(join(c.dest, 'shared', 'media', 'upload.jpg'))).ino).toBe(inode);
    expect(await readFile(join(c.dest, 'shared', 'var', 'session.dat'), 'utf8')).toBe('a session\n');
    for (const rev of ['rev1', 'rev2']) {
      expect(await readlink(join(c.dest, 'releases', rev, 'media'))).toBe(join(c.dest, 'shared', 'media'));
      expect(await readlink(join(c.dest, 'releases', rev, 'var'))).toBe(join(c.dest, 'shared', 'var'));
    }
  });
});

describe('the move to shared/ keeps owner and mode', () => {
  it('a legacy media/ owned by www-data-like uid 33, mode 2775, keeps both in shared/media; nested excludes too', async () => {
    const c = await newCase();
    await legacyHost(c, 'rev1', { 'media/upload.jpg': 'legacy upload\n', 'storage/logs/app.log': 'a log line\n' });
    const media = join(c.dest, 'releases', 'rev1', 'media');
    await chown(media, 33, 33);
    await chmod(media, 0o2775);
    await chown(join(media, 'upload.jpg'), 33, 33);
    const logs = join(c.dest, 'releases', 'rev1', 'storage', 'logs');
    await chmod(logs, 0o750);

    const run = await sync(c, 'rev2', { excludes: 'media/*,storage/logs/*' });
    expect(run.code, run.stdout).toBe(EXIT.synced);
    const shared = await stat(join(c.dest, 'shared', 'media'));
    expect([shared.uid, shared.gid, shared.mode & 0o7777]).toEqual([33, 33, 0o2775]);
    expect((await stat(join(c.dest, 'shared', 'media', 'upload.jpg'))).uid).toBe(33);
    expect((await stat(join(c.dest, 'shared', 'storage', 'logs'))).mode & 0o7777).toBe(0o750);
    expect(await readFile(join(c.dest, 'current', 'storage', 'logs', 'app.log'), 'utf8')).toBe('a log line\n');
  });
});

describe('case 1b: uploads written before the switch are in the new release', () => {
  it('an upload written between rev1 and rev2 is in rev2, and media is one shared folder for every release', async () => {
    const c = await newCase();
    expect((await sync(c, 'rev1')).code).toBe(EXIT.synced);
    await writeFile(join(c.dest, 'current', 'media', 'before.jpg'), 'written on rev1\n');
    expect((await sync(c, 'rev2')).code).toBe(EXIT.synced);

    expect(await readFile(join(c.dest, 'current', 'media', 'before.jpg'), 'utf8')).toBe('written on rev1\n');
    // a file written through the old release appears in the new one: the same folder, not a snapshot
    await writeFile(join(c.dest, 'releases', 'rev1', 'media', 'later.jpg'), 'written via rev1\n');
    expect(await readFile(join(c.dest, 'releases', 'rev2', 'media', 'later.jpg'), 'utf8')).toBe('written via rev1\n');
    const shared = join(c.dest, 'shared', 'media');
    expect(await readlink(join(c.dest, 'releases', 'rev2', 'media'))).toBe(shared);
    expect(await realpath(join(c.dest, 'releases', 'rev1', 'media'))).toBe(await realpath(shared));
    // the revision's own media/logo.png is excluded: it never lands over the host's folder
    expect(await readdir(shared)).not.toContain('logo.png');
  });

  it('an upload written while a slow download runs is in the new release', async () => {
    const c = await newCase();
    expect((await sync(c, 'rev1')).code).toBe(EXIT.synced);
    // a plain revision with a large file: copying and hashing it keeps the sync in its download phase a while
    await writeFile(join(c.src, 'rev2', 'big.bin'), Buffer.alloc(96 << 20, 7));
    const releases = join(c.dest, 'releases');
    const running = sync(c, 'rev2');
    let sawStaging = false;
    for (let i = 0; i < 2000 && !sawStaging; i++) {
      sawStaging = (await readdir(releases)).some((name) => name.startsWith('.staging-'));
      if (!sawStaging) await new Promise((r) => setTimeout(r, 2));
    }
    await writeFile(join(c.dest, 'current', 'media', 'during.jpg'), 'written during the download\n');
    const run = await running;
    await rm(join(c.src, 'rev2', 'big.bin'));
    expect(run.code, run.stdout).toBe(EXIT.synced);
    expect(sawStaging, 'the upload was written while the new release was being built').toBe(true);
    expect(await readFile(join(c.dest, 'releases', 'rev2', 'media', 'during.jpg'), 'utf8')).toBe('written during the download\n');
  });
});

describe('case 1c: a strategy change refuses while the other strategy\'s files are there', () => {
  it('release -> inplace exits 3, names what to do, and deletes nothing', async () => {
    const c = await newCase();
    expect((await sync(c, 'rev1')).code).toBe(EXIT.synced);
    expect((await sync(c, 'rev2')).code).toBe(EXIT.synced);
    await writeFile(join(c.dest, 'current', 'media', 'upload.jpg'), 'a user upload\n');
    const before = await tree(c.dest);
    const beforeState = Object.keys(before).filter((p) => !p.startsWith('.fleetsync'));

    const run = await sync(c, 'rev3', { strategy: 'inplace' });
    expect(run.code, run.stdout).toBe(EXIT.syncFailed);
    expect(run.result.error).toMatch(/strategy/);
    expect(run.result.error).toMatch(/releases|current|shared/);
    const after = await tree(c.dest);
    for (const path of beforeState) expect(after[path], path).toBe(before[path]);
    expect(await readlink(join(c.dest, 'current'))).toBe('releases/rev2');
  });

  it('release -> inplace also refuses when only shared/ is left (releases moved away by hand)', async () => {
    const c = await newCase();
    expect((await sync(c, 'rev1')).code).toBe(EXIT.synced);
    await writeFile(join(c.dest, 'shared', 'media', 'upload.jpg'), 'a user upload\n');
    await rm(join(c.dest, 'current'));
    await rm(join(c.dest, 'releases'), { recursive: true });

    const run = await sync(c, 'rev1', { strategy: 'inplace' });
    expect(run.code, run.stdout).toBe(EXIT.syncFailed);
    expect(await readFile(join(c.dest, 'shared', 'media', 'upload.jpg'), 'utf8')).toBe('a user upload\n');
  });

  it('inplace -> release exits 3 and leaves the inplace files alone', async () => {
    const c = await newCase();
    expect((await sync(c, 'rev1', { strategy: 'inplace' })).code).toBe(EXIT.synced);
    await writeTree(c.dest, { 'media/upload.jpg': 'a user upload\n' });
    const before = await tree(c.dest);
    const run = await sync(c, 'rev2');
    expect(run.code, run.stdout).toBe(EXIT.syncFailed);
    expect(run.result.error).toMatch(/strategy/);
    const after = await tree(c.dest);
    for (const path of Object.keys(before).filter((p) => !p.startsWith('.fleetsync'))) expect(after[path], path).toBe(before[path]);
    expect(Object.keys(after).filter((p) => p === 'current' || p.startsWith('releases') || p.startsWith('shared'))).toEqual([]);
  });
});

describe('excludes with strategy release', () => {
  it.each(['*.log', 'media/*.jpg', 'media', 'media/**', './media/*', 'a/../media/*'])('refuses --excludes %s with exit 2 and touches nothing', async (pattern) => {
    const c = await newCase();
    const run = await sync(c, 'rev1', { excludes: pattern });
    expect(run.code, run.stdout).toBe(EXIT.badArguments);
    await expect(lstat(c.dest)).rejects.toThrow(/ENOENT/);
  });

  it('takes nested folders (a/b/*) and keeps them in shared/a/b', async () => {
    const c = await newCase();
    await writeTree(join(c.src, 'rev1'), { 'storage/logs/app.log': 'from the revision\n' });
    const run = await sync(c, 'rev1', { excludes: 'media/*,storage/logs/*' });
    expect(run.code, run.stdout).toBe(EXIT.synced);
    expect(await readlink(join(c.dest, 'current', 'storage', 'logs'))).toBe(join(c.dest, 'shared', 'storage', 'logs'));
    await rm(join(c.src, 'rev1', 'storage'), { recursive: true });
  });
});

describe('nothing under an exclude is ever deleted, inplace', () => {
  it('across syncs whose revisions carry the excluded paths (even media as a file) and drop folders', async () => {
    const c = await newCase();
    await writeTree(join(c.src, 'rev3'), { 'debug.log': 'from the revision\n', 'cache/a/x.bin': 'from the revision\n' });
    await rm(join(c.src, 'rev3', 'media'), { recursive: true });
    await writeFile(join(c.src, 'rev3', 'media'), 'media is a file in rev3\n');
    const excludes = 'media/*,var/*,*.log,cache/?/*';
    expect((await sync(c, 'rev1', { strategy: 'inplace', excludes })).code).toBe(EXIT.synced);
    const markers: Record<string, string> = {
      'media/upload.jpg': 'marker: media\n',
      'media/2024/01/deep.jpg': 'marker: deep media\n',
      'var/sessions/s1': 'marker: var\n',
      'lib/app.log': 'marker: a log beside the code\n',
      'debug.log': 'marker: the host\'s debug.log\n',
      'cache/b/y.bin': 'marker: cache\n',
    };
    await writeTree(c.dest, markers);
    for (const revision of ['rev2', 'rev3', 'rev1', 'rev3']) {
      const run = await sync(c, revision, { strategy: 'inplace', excludes });
      expect(run.code, `${revision}: ${run.stdout}`).toBe(EXIT.synced);
      for (const [path, content] of Object.entries(markers)) {
        expect(await readFile(join(c.dest, path), 'utf8').catch(() => 'missing'), `${path} after ${revision}`).toBe(content);
      }
      expect(await readFile(join(c.dest, 'index.php'), 'utf8')).toBe(`<?php echo "${revision}";\n`);
    }
  });
});

describe('nothing under an exclude is ever deleted', () => {
  it('across syncs, prunes (keep 1), a failed check, rollbacks and link changes', async () => {
    const c = await newCase();
    const failing = await writeCheck(join(c.root, 'fails'), { logFile: join(c.root, 'checked'), exitCode: 1 });
    expect((await sync(c, 'rev1', { keepReleases: 1 })).code).toBe(EXIT.synced);
    const markers: Record<string, string> = {
      'shared/media/a.jpg': 'marker: shared media\n',
      'shared/var/cache.bin': 'marker: shared var\n',
      'current/media/sub/b.jpg': 'marker: current media\n',
      'current/var/sessions/c.txt': 'marker: current var\n',
      // same name as the revision's own excluded file: the revision must not win
      'current/media/logo.png': 'marker: the user\'s logo\n',
    };
    await writeTree(c.dest, markers);
    const steps: Array<[string, Parameters<typeof sync>[2], number]> = [
      ['rev2', { keepReleases: 1 }, EXIT.synced],
      ['rev3', { keepReleases: 1, check: failing }, EXIT.checkFailed],
      ['rev1', { keepReleases: 1 }, EXIT.synced],
      ['rev1', { keepReleases: 1, links: `media=${c.mnt}` }, EXIT.synced],
      ['rev2', { keepReleases: 1, links: `media=${c.mnt}` }, EXIT.synced],
      ['rev3', { keepReleases: 1 }, EXIT.synced],
      ['rev2', { keepReleases: 2 }, EXIT.synced],
      ['rev3', { keepReleases: 2 }, EXIT.synced],
    ];
    for (const [revision, options, code] of steps) {
      const run = await sync(c, revision, options);
      expect(run.code, `${revision} ${JSON.stringify(options)}: ${run.stdout}`).toBe(code);
      for (const [path, content] of Object.entries(markers)) {
        expect(await findByContent(c.dest, content), `${path} after ${revision} ${JSON.stringify(options)}`).toHaveLength(1);
      }
    }
    // and they are where the user put them: the shared folders, seen through current
    for (const [path, content] of Object.entries(markers)) {
      expect(await readFile(join(c.dest, path), 'utf8'), path).toBe(content);
    }
  });
});
