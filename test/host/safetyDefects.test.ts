/**
 * Issue 12, part 6 (and 7's host side): a file mode below 0100 verifies and syncs; the agent needs nothing but
 * bash, python3 and the aws CLI (only for s3:// sources): no rsync, flock, sha256sum or GNU timeout. The tools
 * are cut off with a PATH that holds only a bin folder of links to the few allowed.
 */
import { chmod, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../controller/hostProtocol.ts';
import { makeTempDir, requireTools, syncArgs, writeTree } from '../support/hostScript.ts';
import { minimalBin, runAgent } from '../support/hostSafety.ts';
import { folderDigest, publishToFolder, treeDigest, writeTreeFiles, type Tree } from '../support/publishedRevision.ts';

let tmp: { path: string; remove(): Promise<void> };
let counter = 0;

beforeAll(async () => {
  requireTools('bash', 'python3', 'env', 'dirname');
  tmp = await makeTempDir('safety-defects');
});
afterAll(async () => {
  await tmp.remove();
});

const sharedLinks = (rel: string) => rel === 'media' || rel === 'var';

function newCase(): { root: string; source: string; src: string; dest: string } {
  counter += 1;
  const root = join(tmp.path, `case${counter}`);
  return { root, src: join(root, 'src'), source: `file://${join(root, 'src')}`, dest: join(root, 'dest') };
}

describe('a file mode below 0100', () => {
  const tree: Tree = {
    'index.php': 'index\n',
    'config/secret.ini': { content: 'readable by group and others only\n', mode: 0o044 },
    'config/none.txt': { content: 'no permissions at all\n', mode: 0o000 },
    'config/owner-read.txt': { content: 'owner read only\n', mode: 0o400 },
  };

  it('a published manifest with mode "044" verifies, syncs with that mode, and re-syncs as unchanged', async () => {
    const c = newCase();
    const published = await publishToFolder(c.src, 'rev1', tree);
    expect(published.text).toContain('"mode":"044"');
    const run = await runAgent(syncArgs({ source: c.source, revision: 'rev1', destination: c.dest }));
    expect(run.code, run.stdout).toBe(EXIT.synced);
    expect((await stat(join(c.dest, 'current', 'config', 'secret.ini'))).mode & 0o7777).toBe(0o044);
    expect(await folderDigest(join(c.dest, 'current/'), sharedLinks)).toEqual(treeDigest(tree));

    const again = await runAgent(syncArgs({ source: c.source, revision: 'rev1', destination: c.dest }));
    expect(again.code, again.stdout).toBe(EXIT.synced);
    expect(again.fields.files).toBe(0);
    expect(again.fields.downloadedFiles).toBe(0);
  });

  it('a plain revision with a mode 044 file syncs with that mode, and a kept release holding it is reused', async () => {
    const c = newCase();
    await writeTreeFiles(join(c.src, 'rev1'), tree);
    await writeTreeFiles(join(c.src, 'rev2'), { ...tree, 'index.php': 'index 2\n' });
    let last: Record<string, unknown> = {};
    for (const revision of ['rev1', 'rev2', 'rev1']) {
      const run = await runAgent(syncArgs({ source: c.source, revision, destination: c.dest }));
      expect(run.code, `${revision}: ${run.stdout}`).toBe(EXIT.synced);
      last = run.fields;
    }
    expect(last).toMatchObject({ downloadedFiles: 0, hashedFiles: 0 });
    expect((await stat(join(c.dest, 'current', 'config', 'secret.ini'))).mode & 0o7777).toBe(0o044);
    expect(await folderDigest(join(c.dest, 'current/'), sharedLinks)).toEqual(treeDigest(tree));
  });
});

describe('more identical files than a file system allows links to one inode (ext4: 65,000)', () => {
  it('syncs them all, and after the limit links the rest to a fresh copy instead of copying each file', async () => {
    const c = newCase();
    const count = 66_000;
    const tree: Tree = {};
    // empty files (__init__.py, .gitkeep) are the usual case: one content, thousands of paths
    for (let i = 0; i < count; i++) tree[`pkg${Math.floor(i / 1000)}/m${i}/__init__.py`] = '';
    await publishToFolder(c.src, 'rev1', tree);
    const run = await runAgent(syncArgs({ source: c.source, revision: 'rev1', destination: c.dest }), { timeoutMs: 120_000 });
    expect(run.code, run.stdout).toBe(EXIT.synced);
    const inodes = new Map<number, number>();
    let files = 0;
    const release = join(c.dest, 'releases', 'rev1');
    for (const entry of await readdir(release, { withFileTypes: true, recursive: true })) {
      if (!entry.isFile()) continue;
      files++;
      const info = await stat(join(entry.parentPath, entry.name));
      expect(info.size).toBe(0);
      inodes.set(info.ino, (inodes.get(info.ino) ?? 0) + 1);
    }
    expect(files).toBe(count);
    // one inode per 65,000 files or so; not one copy per file past the limit
    expect(inodes.size, `${inodes.size} inodes for ${count} identical files`).toBeLessThanOrEqual(4);
  }, 180_000);
});

describe('a host with nothing but bash, python3, env and dirname', () => {
  async function bare(c: { root: string }, extra: string[] = []): Promise<Record<string, string>> {
    const bin = await minimalBin(join(c.root, 'bin'), ['bash', 'python3', 'env', 'dirname', ...extra]);
    return { PATH: bin };
  }

  it('syncs a plain file:// revision, a published one, and probes', async () => {
    const c = newCase();
    await writeTree(join(c.src, 'plain1'), { 'index.php': 'plain\n', 'lib/a.php': 'a\n' });
    const publishedTree: Tree = { 'index.php': 'published\n', 'lib/a.php': 'a\n', 'bin/run': { content: '#!/bin/sh\n', mode: 0o755 } };
    await publishToFolder(c.src, 'pub2', publishedTree);
    const env = await bare(c);
    // a check needs a shell: sh is the check's business, not the agent's
    const checkBin = await minimalBin(join(c.root, 'check-bin'), ['sh']);
    const check = join(c.root, 'check');
    await writeFile(check, `#!${join(checkBin, 'sh')}\nprintf '%s\\n' "$FLEETSYNC_REVISION" >> '${join(c.root, 'checked')}'\n`);
    await chmod(check, 0o755);

    for (const [revision, strategy] of [['plain1', 'release'], ['pub2', 'release'], ['plain1', 'release']] as const) {
      const run = await runAgent(syncArgs({ source: c.source, revision, destination: c.dest, strategy, check }), { env });
      expect(run.code, `${revision}: ${run.stdout} ${run.stderr}`).toBe(EXIT.synced);
      expect(run.result.revision).toBe(revision);
    }
    expect(await readFile(join(c.dest, 'current', 'index.php'), 'utf8')).toBe('plain\n');
    expect((await readFile(join(c.root, 'checked'), 'utf8')).split('\n').filter(Boolean)).toEqual(['plain1', 'pub2', 'plain1']);
    const probe = await runAgent(['--mode', 'probe', '--destination', c.dest], { env });
    expect(probe.code, probe.stdout).toBe(EXIT.synced);
    expect(probe.result.revision).toBe('plain1');
  });

  it('syncs a plain file:// revision with strategy inplace', async () => {
    const c = newCase();
    await writeTree(join(c.src, 'plain1'), { 'index.php': 'plain\n', 'lib/a.php': 'a\n' });
    await writeTree(join(c.src, 'plain2'), { 'index.php': 'plain 2\n' });
    const env = await bare(c);
    for (const revision of ['plain1', 'plain2']) {
      const run = await runAgent(syncArgs({ source: c.source, revision, destination: c.dest, strategy: 'inplace' }), { env });
      expect(run.code, `${revision}: ${run.stdout} ${run.stderr}`).toBe(EXIT.synced);
    }
    expect(await readFile(join(c.dest, 'index.php'), 'utf8')).toBe('plain 2\n');
    await expect(stat(join(c.dest, 'lib', 'a.php'))).rejects.toThrow(/ENOENT/);
  });

  it('an s3:// source without the aws CLI fails (exit 3) saying to install it', async () => {
    const c = newCase();
    const env = await bare(c);
    const run = await runAgent(syncArgs({ source: 's3://fleetsync-bucket/web', revision: 'rev1', destination: c.dest }), { env });
    expect(run.code, run.stdout).toBe(EXIT.syncFailed);
    expect(run.result.error).toMatch(/aws CLI/);
  });

  it('without python3, or with one older than 3.9, the wrapper prints one result line and exits 3', async () => {
    const c = newCase();
    const bin = await minimalBin(join(c.root, 'bin'), ['bash', 'env', 'dirname']);
    const none = await runAgent(['--mode', 'probe', '--destination', c.dest], { env: { PATH: bin } });
    expect(none.code, none.stdout).toBe(EXIT.syncFailed);
    expect(none.result.error).toMatch(/python3 is not installed/);

    // a python3 that answers the version check as 3.6 would
    await writeFile(join(bin, 'python3'), '#!/bin/sh\nexit 1\n', { mode: 0o755 });
    const old = await runAgent(['--mode', 'probe', '--destination', c.dest], { env: { PATH: bin } });
    expect(old.code, old.stdout).toBe(EXIT.syncFailed);
    expect(old.result.error).toMatch(/older than 3\.9/);
  });
});
