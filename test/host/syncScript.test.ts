/**
 * deploy/host/fleetsync-sync.sh with file:// sources: real bash, real rsync, real files in temp folders.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import {
  chmod, lstat, mkdir, readFile, readdir, readlink, stat, symlink, writeFile,
} from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT, scriptArgs } from '../../controller/hostProtocol.ts';
import {
  holdLock, makeTempDir, requireTools, runScript, syncArgs, writeTree,
} from '../support/hostScript.ts';

let tmp: { path: string; remove(): Promise<void> };
let counter = 0;

beforeAll(async () => {
  requireTools('bash', 'flock', 'unshare');
  tmp = await makeTempDir('host');
});
afterAll(async () => {
  await tmp.remove();
});

/** A fresh case folder: src/ for revisions, dest/ for the host's destination (not created). */
async function newCase(): Promise<{ root: string; src: string; source: string; dest: string }> {
  counter += 1;
  const root = join(tmp.path, `case${counter}`);
  await mkdir(join(root, 'src'), { recursive: true });
  return { root, src: join(root, 'src'), source: `file://${join(root, 'src')}`, dest: join(root, 'dest') };
}

async function read(path: string): Promise<string> {
  return readFile(path, 'utf8');
}

async function walkFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(relative(root, join(entry.parentPath, entry.name)));
  }
  return out.sort();
}

interface FileSnapshot { ino: number; content: string; mtimeMs: number; mode: number }

async function snapshot(root: string): Promise<Map<string, FileSnapshot>> {
  const map = new Map<string, FileSnapshot>();
  for (const rel of await walkFiles(root)) {
    const path = join(root, rel);
    const info = await stat(path);
    map.set(rel, { ino: info.ino, content: await read(path), mtimeMs: info.mtimeMs, mode: info.mode });
  }
  return map;
}

describe('release strategy', () => {
  it('switches <dest>/current atomically: a reader looping over it never sees a mix of two revisions', async () => {
    const c = await newCase();
    const revisions = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6'];
    for (const rev of revisions) {
      const files: Record<string, string> = { 'nested/deep/g.txt': `${rev}\n` };
      for (let i = 0; i < 40; i++) files[`f${i}.txt`] = `${rev}\n`;
      await writeTree(join(c.src, rev), files);
    }
    const first = await runScript(syncArgs({ source: c.source, revision: 'r1', destination: c.dest, keepReleases: 10 }));
    expect(first.code).toBe(EXIT.synced);

    const stop = join(c.root, 'stop');
    // Resolves current once per pass (cd -P), as a process serving a request does, and reads the whole tree;
    // also reads through the link path itself.
    const readerScript = `
      reads=0; bad=0; missing=0
      while [ ! -e "$2" ]; do
        one=$(cat "$1/current/f0.txt" 2>/dev/null) || one=''
        case $one in r[1-6]) ;; *) missing=$((missing+1)); echo "unreadable through the link: '$one'";; esac
        if cd -P "$1/current" 2>/dev/null; then
          kinds=$(cat f*.txt nested/deep/g.txt | sort -u | wc -l)
          count=$(ls f*.txt | wc -l)
          if [ "$kinds" -ne 1 ] || [ "$count" -ne 40 ]; then bad=$((bad+1)); echo "MIX in $(pwd -P): $kinds kinds, $count files"; fi
          reads=$((reads+1)); cd /
        else
          missing=$((missing+1)); echo "current did not resolve"
        fi
      done
      echo "reads=$reads bad=$bad missing=$missing"`;
    const reader = spawn('bash', ['-c', readerScript, 'reader', c.dest, stop], { stdio: ['ignore', 'pipe', 'pipe'] });
    let readerOut = '';
    reader.stdout.on('data', (chunk: Buffer) => { readerOut += chunk.toString(); });
    const readerDone = new Promise<void>((resolve) => reader.on('exit', () => resolve()));

    for (const rev of revisions.slice(1)) {
      const run = await runScript(syncArgs({ source: c.source, revision: rev, destination: c.dest, keepReleases: 10 }));
      expect(run.code).toBe(EXIT.synced);
    }
    await writeFile(stop, '');
    await readerDone;

    const summary = /reads=(\d+) bad=(\d+) missing=(\d+)/.exec(readerOut);
    expect(summary, readerOut).not.toBeNull();
    expect(readerOut.split('\n').filter((l) => l.startsWith('MIX') || l.startsWith('current') || l.startsWith('unreadable'))).toEqual([]);
    expect(Number(summary?.[2])).toBe(0);
    expect(Number(summary?.[3])).toBe(0);
    expect(Number(summary?.[1])).toBeGreaterThan(10);
    expect(await readlink(join(c.dest, 'current'))).toBe('releases/r6');
  });

  it('never changes a file of the live release; seeds by hard links; updates same-size changes and deletes removed files', async () => {
    const c = await newCase();
    const sameTime = 1_700_000_000;
    await writeTree(join(c.src, 'v1'), { 'a.txt': 'AAAA', 'b.txt': 'same', 'c.txt': 'removed in v2', 'sub/d.txt': 'd1' }, sameTime);
    // Same sizes and the same timestamps as v1: only the contents differ.
    await writeTree(join(c.src, 'v2'), { 'a.txt': 'BBBB', 'b.txt': 'same', 'sub/d.txt': 'd2', 'e.txt': 'new' }, sameTime);
    await symlink('/etc/hostname', join(c.src, 'v2', 'link-not-followed'));

    expect((await runScript(syncArgs({ source: c.source, revision: 'v1', destination: c.dest }))).code).toBe(0);
    const live = join(c.dest, 'releases', 'v1');
    const before = await snapshot(live);
    expect([...before.keys()]).toEqual(['a.txt', 'b.txt', 'c.txt', 'sub/d.txt']);

    const run = await runScript(syncArgs({ source: c.source, revision: 'v2', destination: c.dest }));
    expect(run.code).toBe(EXIT.synced);
    expect(run.result).toMatchObject({ revision: 'v2', status: 'synced', strategy: 'release' });

    // The old live release is exactly as it was: same inodes, contents, times and modes.
    const after = await snapshot(live);
    expect(after).toEqual(before);

    const next = join(c.dest, 'current');
    expect(await readlink(next)).toBe('releases/v2');
    expect(await read(join(next, 'a.txt'))).toBe('BBBB');
    expect(await read(join(next, 'sub/d.txt'))).toBe('d2');
    expect(await read(join(next, 'e.txt'))).toBe('new');
    expect(existsSync(join(next, 'c.txt'))).toBe(false);
    // Unchanged files were hard-linked from the live release, changed ones replaced by new files.
    expect((await stat(join(next, 'b.txt'))).ino).toBe(before.get('b.txt')?.ino);
    expect((await stat(join(next, 'a.txt'))).ino).not.toBe(before.get('a.txt')?.ino);
    // Symlinks in a revision are copied as symlinks, never followed.
    expect((await lstat(join(next, 'link-not-followed'))).isSymbolicLink()).toBe(true);
    expect(await readlink(join(next, 'link-not-followed'))).toBe('/etc/hostname');
    expect(await read(join(c.dest, '.fleetsync', 'REVISION'))).toBe('v2\n');
    expect(run.result.files).toBeGreaterThanOrEqual(3);
  });

  it('goes back to an older revision with same-size, same-time files and gets its contents back', async () => {
    const c = await newCase();
    const sameTime = 1_700_000_000;
    await writeTree(join(c.src, 'old'), { 'app.js': 'version=1', 'conf/x.ini': 'k=1' }, sameTime);
    await writeTree(join(c.src, 'new'), { 'app.js': 'version=2', 'conf/x.ini': 'k=2' }, sameTime);
    for (const [rev, expected] of [['old', '1'], ['new', '2'], ['old', '1']] as const) {
      const run = await runScript(syncArgs({ source: c.source, revision: rev, destination: c.dest }));
      expect(run.code).toBe(0);
      expect(await read(join(c.dest, 'current', 'app.js'))).toBe(`version=${expected}`);
      expect(await read(join(c.dest, 'current', 'conf/x.ini'))).toBe(`k=${expected}`);
      expect(await read(join(c.dest, '.fleetsync', 'REVISION'))).toBe(`${rev}\n`);
    }
  });

  it('re-syncing the live revision repairs it in place, keeping host state and links, and current always resolving', async () => {
    const c = await newCase();
    const efs = join(c.root, 'efs');
    await mkdir(efs);
    await writeTree(join(c.src, 'v1'), { 'index.php': 'good', 'lib/x.php': 'x' });
    const args = syncArgs({ source: c.source, revision: 'v1', destination: c.dest, links: `uploads=${efs}` });
    expect((await runScript(args)).code).toBe(0);
    await writeFile(join(c.dest, 'current', 'index.php'), 'tampered');
    await writeFile(join(c.dest, 'current', 'stray.php'), 'not in the revision');
    await writeTree(join(c.dest, 'current'), { 'var/sessions/s1': 'logged in' });
    const untouched = await stat(join(c.dest, 'current', 'lib/x.php'));

    const run = await runScript(args);
    expect(run.code).toBe(0);
    expect(run.result).toMatchObject({ revision: 'v1', status: 'synced' });
    expect(await readlink(join(c.dest, 'current'))).toBe('releases/v1');
    expect(await read(join(c.dest, 'current', 'index.php'))).toBe('good');
    expect(existsSync(join(c.dest, 'current', 'stray.php'))).toBe(false);
    expect(await read(join(c.dest, 'current', 'var/sessions/s1'))).toBe('logged in');
    expect(await readlink(join(c.dest, 'current', 'uploads'))).toBe(efs);
    expect((await stat(join(c.dest, 'current', 'lib/x.php'))).ino).toBe(untouched.ino);
    expect((await readdir(join(c.dest, 'releases'))).sort()).toEqual(['v1']);
  });

  it('leaves excludes and links untouched and copies nothing excluded from the revision', async () => {
    const c = await newCase();
    const efs = join(c.root, 'efs-media');
    await writeTree(efs, { 'shared.jpg': 'shared media' });
    await writeTree(join(c.src, 'v1'), { index: 'v1', 'media/from-source.jpg': 'src', 'var/from-source': 'src' });
    await writeTree(join(c.src, 'v2'), { index: 'v2', 'media/from-source-2.jpg': 'src', 'var/cache/other': 'src' });
    const links = `media=${efs}`;

    expect((await runScript(syncArgs({ source: c.source, revision: 'v1', destination: c.dest, links }))).code).toBe(0);
    // The application writes host state into var/ of the live release.
    await writeTree(join(c.dest, 'current'), { 'var/cache/local': 'host state', 'var/sessions/s1': 'session' });

    const run = await runScript(syncArgs({ source: c.source, revision: 'v2', destination: c.dest, links }));
    expect(run.code).toBe(0);
    const current = join(c.dest, 'current');
    expect(await read(join(current, 'index'))).toBe('v2');
    expect((await lstat(join(current, 'media'))).isSymbolicLink()).toBe(true);
    expect(await readlink(join(current, 'media'))).toBe(efs);
    expect(await readdir(efs)).toEqual(['shared.jpg']);
    expect(await read(join(efs, 'shared.jpg'))).toBe('shared media');
    expect(await read(join(current, 'var/cache/local'))).toBe('host state');
    expect(await read(join(current, 'var/sessions/s1'))).toBe('session');
    expect(existsSync(join(current, 'var/cache/other'))).toBe(false);
    expect(existsSync(join(current, 'var/from-source'))).toBe(false);
  });

  it('exits 75 at once with a clear message while another run holds the lock, and changes nothing', async () => {
    const c = await newCase();
    await writeTree(join(c.src, 'v1'), { index: 'v1' });
    await writeTree(join(c.src, 'v2'), { index: 'v2' });
    expect((await runScript(syncArgs({ source: c.source, revision: 'v1', destination: c.dest }))).code).toBe(0);

    const lock = await holdLock(join(c.dest, '.fleetsync', 'lock'));
    try {
      const started = Date.now();
      const busy = await runScript(syncArgs({ source: c.source, revision: 'v2', destination: c.dest }));
      expect(busy.code).toBe(EXIT.busy);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(busy.result).toMatchObject({ status: 'busy', revision: 'v1' });
      expect(busy.result.error).toMatch(/another fleetsync sync is running.*retry/);
      expect(busy.stderr).toMatch(/another fleetsync sync is running/);
      expect(await readlink(join(c.dest, 'current'))).toBe('releases/v1');
      // A probe does not need the lock.
      const probe = await runScript(['--mode', 'probe', '--destination', c.dest]);
      expect(probe.code).toBe(0);
      expect(probe.result.revision).toBe('v1');
    } finally {
      lock.stop();
    }
    // Released: the next run goes through.
    let run = await runScript(syncArgs({ source: c.source, revision: 'v2', destination: c.dest }));
    for (let i = 0; i < 20 && run.code === EXIT.busy; i++) {
      await new Promise((r) => setTimeout(r, 50));
      run = await runScript(syncArgs({ source: c.source, revision: 'v2', destination: c.dest }));
    }
    expect(run.code).toBe(0);
  });

  it('rolls the link back and exits 4 when the check fails after the switch', async () => {
    const c = await newCase();
    const check = join(c.root, 'healthcheck');
    await writeFile(check, '#!/bin/sh\n# passes only for a release whose status file says ok\ngrep -qx ok "$FLEETSYNC_RELEASE_DIR/status"\n');
    await chmod(check, 0o755);
    await writeTree(join(c.src, 'good'), { status: 'ok' });
    await writeTree(join(c.src, 'broken'), { status: 'broken' });

    const ok = await runScript(syncArgs({ source: c.source, revision: 'good', destination: c.dest, check }));
    expect(ok.code).toBe(0);
    const failed = await runScript(syncArgs({ source: c.source, revision: 'broken', destination: c.dest, check }));
    expect(failed.code).toBe(EXIT.checkFailed);
    expect(failed.result).toMatchObject({ status: 'checkFailed', revision: 'good', target: 'broken' });
    expect(failed.result.error).toMatch(/check .* failed with exit code 1.*rolled back to good/);
    expect(await readlink(join(c.dest, 'current'))).toBe('releases/good');
    expect(await read(join(c.dest, 'current', 'status'))).toBe('ok');
    expect(await read(join(c.dest, '.fleetsync', 'REVISION'))).toBe('good\n');

    // With no release before it, a failing first release is taken down again.
    const fresh = await newCase();
    await writeTree(join(fresh.src, 'broken'), { status: 'broken' });
    const first = await runScript(syncArgs({ source: fresh.source, revision: 'broken', destination: fresh.dest, check }));
    expect(first.code).toBe(EXIT.checkFailed);
    expect(first.result.revision).toBeNull();
    expect(existsSync(join(fresh.dest, 'current'))).toBe(false);
    expect(existsSync(join(fresh.dest, '.fleetsync', 'REVISION'))).toBe(false);
  });

  it('keeps the last N activated releases and prunes the rest', async () => {
    const c = await newCase();
    for (const rev of ['r1', 'r2', 'r3', 'r4']) await writeTree(join(c.src, rev), { index: rev });
    const sync = async (revision: string) => {
      const run = await runScript(syncArgs({ source: c.source, revision, destination: c.dest, keepReleases: 2 }));
      expect(run.code).toBe(0);
    };
    await sync('r1');
    await sync('r2');
    await sync('r3');
    expect((await readdir(join(c.dest, 'releases'))).sort()).toEqual(['r2', 'r3']);
    await sync('r2'); // going back makes r2 the most recent again
    await sync('r4');
    expect((await readdir(join(c.dest, 'releases'))).sort()).toEqual(['r2', 'r4']);
    expect(await readlink(join(c.dest, 'current'))).toBe('releases/r4');
  });

  it('exits 3 with the current revision when the revision does not exist, changing nothing', async () => {
    const c = await newCase();
    await writeTree(join(c.src, 'v1'), { index: 'v1' });
    await mkdir(join(c.src, 'empty'));
    expect((await runScript(syncArgs({ source: c.source, revision: 'v1', destination: c.dest }))).code).toBe(0);
    const missing = await runScript(syncArgs({ source: c.source, revision: 'nope', destination: c.dest }));
    expect(missing.code).toBe(EXIT.syncFailed);
    expect(missing.result).toMatchObject({ status: 'failed', revision: 'v1', target: 'nope' });
    expect(missing.result.error).toMatch(/revision nope not found/);
    const empty = await runScript(syncArgs({ source: c.source, revision: 'empty', destination: c.dest }));
    expect(empty.code).toBe(EXIT.syncFailed);
    expect(empty.result.error).toMatch(/empty/);
    expect(await readlink(join(c.dest, 'current'))).toBe('releases/v1');
    expect((await readdir(join(c.dest, 'releases'))).sort()).toEqual(['v1']);
  });

  it('refuses a destination whose current is a real folder (exit 3)', async () => {
    const c = await newCase();
    await writeTree(join(c.src, 'v1'), { index: 'v1' });
    await writeTree(join(c.dest, 'current'), { index: 'hand-made' });
    const run = await runScript(syncArgs({ source: c.source, revision: 'v1', destination: c.dest }));
    expect(run.code).toBe(EXIT.syncFailed);
    expect(run.result.error).toMatch(/current is a real folder/);
    expect(await read(join(c.dest, 'current', 'index'))).toBe('hand-made');
  });

  it('keeps the result line under 1,000 characters even with a long destination and error', async () => {
    const c = await newCase();
    const longDest = `${c.root}/${'d'.repeat(250 - c.root.length)}`;
    const run = await runScript(syncArgs({ source: c.source, revision: `r${'x'.repeat(120)}`, destination: longDest }));
    expect(run.code).toBe(EXIT.syncFailed);
    expect(run.stdout.length).toBeLessThan(1000);
    expect(run.result.error).toMatch(/not found/);
  });

  it('runs with the argv hostProtocol.scriptArgs builds', async () => {
    const c = await newCase();
    await writeTree(join(c.src, 'v7'), { index: 'v7', 'media/x': 'excluded' });
    const args = scriptArgs({
      mode: 'sync',
      attemptId: 'att-0001',
      params: {
        source: c.source, revision: 'v7', destination: c.dest, strategy: 'release',
        excludes: ['media/*', 'var/*'], links: {}, keepReleases: 3,
      },
    });
    const run = await runScript(args);
    expect(run.code).toBe(0);
    expect(run.result).toMatchObject({ revision: 'v7', status: 'synced', attempt: 'att-0001' });
    expect(existsSync(join(c.dest, 'current', 'media', 'x'))).toBe(false);
  });
});

describe('inplace strategy', () => {
  it('syncs straight into the destination, deletes removed files, leaves excludes and outside folders alone', async () => {
    const c = await newCase();
    const outside = join(c.root, 'outside');
    await writeTree(outside, { 'precious.txt': 'keep me' });
    await writeTree(c.dest, { 'media/host.jpg': 'host media', 'var/log/app.log': 'host log' });
    await symlink(outside, join(c.dest, 'shared'));
    await writeTree(join(c.src, 'v1'), { index: 'v1', 'old.txt': 'old', 'media/src.jpg': 'src', 'var/src': 'src' });
    await writeTree(join(c.src, 'v2'), { index: 'v2!' });

    const first = await runScript(syncArgs({ source: c.source, revision: 'v1', destination: c.dest, strategy: 'inplace' }));
    expect(first.code).toBe(0);
    expect(first.result).toMatchObject({ revision: 'v1', strategy: 'inplace', status: 'synced' });
    expect(await read(join(c.dest, 'old.txt'))).toBe('old');
    expect(existsSync(join(c.dest, 'media/src.jpg'))).toBe(false);

    const second = await runScript(syncArgs({ source: c.source, revision: 'v2', destination: c.dest, strategy: 'inplace' }));
    expect(second.code).toBe(0);
    expect(await read(join(c.dest, 'index'))).toBe('v2!');
    expect(existsSync(join(c.dest, 'old.txt'))).toBe(false);
    expect(await read(join(c.dest, 'media/host.jpg'))).toBe('host media');
    expect(await read(join(c.dest, 'var/log/app.log'))).toBe('host log');
    expect(existsSync(join(c.dest, 'var/src'))).toBe(false);
    // The symlink was not in the revision, so it went; the folder it pointed to was not followed.
    expect(existsSync(join(c.dest, 'shared'))).toBe(false);
    expect(await read(join(outside, 'precious.txt'))).toBe('keep me');
    expect(existsSync(join(c.dest, 'current'))).toBe(false);
    expect(await read(join(c.dest, '.fleetsync', 'REVISION'))).toBe('v2\n');
    expect(await read(join(c.dest, '.fleetsync', 'sync.log'))).toMatch(/sync v2 from file:/);
  });

  it('refuses to sync across a mount point no exclude covers, and syncs once an exclude covers it', async () => {
    const c = await newCase();
    await writeTree(join(c.src, 'v1'), { index: 'v1' });
    await mkdir(join(c.dest, 'efs'), { recursive: true });
    // A private mount namespace: mount a tmpfs under the destination, put a file on it, run the script there.
    const inNamespace = (excludes: string) => new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const script = `
        mount -t tmpfs fleetsync-test "$1/efs" || { echo "cannot mount a tmpfs in a private namespace" >&2; exit 99; }
        echo shared > "$1/efs/shared.txt"
        "$2" --mode sync --source "$3" --revision v1 --destination "$1" --strategy inplace --excludes "$4"
        code=$?
        echo "efs: $(cat "$1/efs/shared.txt" 2>&1)" >&2
        exit $code`;
      execFile('unshare', ['--mount', '--map-root-user', 'bash', '-c', script, 'ns', c.dest,
        join(import.meta.dirname, '..', '..', 'deploy', 'host', 'fleetsync-sync.sh'), c.source, excludes],
      { encoding: 'utf8' }, (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
      });
    });
    const refused = await inNamespace('var/*');
    expect(refused.code, `unshare/mount must work here (util-linux, user namespaces): ${refused.stderr}`).not.toBe(99);
    expect(refused.code).toBe(EXIT.syncFailed);
    expect(refused.stdout).toMatch(/mount point .*efs.* no exclude covers/);
    expect(refused.stderr).toMatch(/efs: shared/);
    expect(existsSync(join(c.dest, 'index'))).toBe(false);

    const covered = await inNamespace('efs/*,var/*');
    expect(covered.code, covered.stderr).toBe(0);
    expect(covered.stderr).toMatch(/efs: shared/);
    expect(await read(join(c.dest, 'index'))).toBe('v1');
  });
});

describe('probe', () => {
  it('reports the revision without writing anything', async () => {
    const c = await newCase();
    const empty = await runScript(['--mode', 'probe', '--destination', c.dest]);
    expect(empty.code).toBe(0);
    expect(empty.result).toMatchObject({ status: 'probed', revision: null });
    expect(existsSync(c.dest)).toBe(false);

    await writeTree(join(c.src, 'v3'), { index: 'v3' });
    expect((await runScript(syncArgs({ source: c.source, revision: 'v3', destination: c.dest }))).code).toBe(0);
    const probe = await runScript(['--mode', 'probe', '--destination', c.dest, '--attempt-id', 'probe-1']);
    expect(probe.code).toBe(0);
    expect(probe.result).toMatchObject({ status: 'probed', revision: 'v3', strategy: 'release', attempt: 'probe-1' });
  });
});

describe('bad arguments', () => {
  const canaryDir = () => join(tmp.path, 'canary');
  const injected = () => `$(touch ${canaryDir()}/pwned)`;
  const cases: Array<[string, (dest: string, source: string) => string[]]> = [
    ['revision ../x', (d, s) => syncArgs({ source: s, revision: '../x', destination: d })],
    ['revision with $(...)', (d, s) => syncArgs({ source: s, revision: injected(), destination: d })],
    ['revision with a backtick', (d, s) => syncArgs({ source: s, revision: `v1\`touch ${canaryDir()}/pwned\``, destination: d })],
    ['revision with a single quote', (d, s) => syncArgs({ source: s, revision: "v1'x", destination: d })],
    ['revision with a double quote', (d, s) => syncArgs({ source: s, revision: 'v1"x', destination: d })],
    ['revision with a newline', (d, s) => syncArgs({ source: s, revision: 'v1\ntouch x', destination: d })],
    ['revision with a trailing newline', (d, s) => syncArgs({ source: s, revision: 'v1\n', destination: d })],
    ['revision with a space', (d, s) => syncArgs({ source: s, revision: 'v1 v2', destination: d })],
    ['empty revision', (d, s) => syncArgs({ source: s, revision: '', destination: d })],
    ['revision with a semicolon', (d, s) => syncArgs({ source: s, revision: `v1;touch ${canaryDir()}/pwned`, destination: d })],
    ['destination ../x', (_d, s) => syncArgs({ source: s, revision: 'v1', destination: '../x' })],
    ['destination with a .. segment', (d, s) => syncArgs({ source: s, revision: 'v1', destination: `${d}/../../etc` })],
    ['destination with $(...)', (d, s) => syncArgs({ source: s, revision: 'v1', destination: `${d}/${injected()}` })],
    ['destination with a space', (d, s) => syncArgs({ source: s, revision: 'v1', destination: `${d} x` })],
    ['destination /', (_d, s) => syncArgs({ source: s, revision: 'v1', destination: '/' })],
    ['destination /etc', (_d, s) => syncArgs({ source: s, revision: 'v1', destination: '/etc' })],
    ['destination /etc/.', (_d, s) => syncArgs({ source: s, revision: 'v1', destination: '/etc/.' })],
    ['destination //usr//', (_d, s) => syncArgs({ source: s, revision: 'v1', destination: '//usr//' })],
    ['relative destination', (_d, s) => syncArgs({ source: s, revision: 'v1', destination: 'var/www' })],
    ['source with a .. segment', (d, s) => syncArgs({ source: `${s}/../..`, revision: 'v1', destination: d })],
    ['source with $(...)', (d) => syncArgs({ source: `s3://bucket/${injected()}`, revision: 'v1', destination: d })],
    ['http source', (d) => syncArgs({ source: 'https://example.com/x', revision: 'v1', destination: d })],
    ['exclude ../x', (d, s) => syncArgs({ source: s, revision: 'v1', destination: d, excludes: '../x' })],
    ['absolute exclude', (d, s) => syncArgs({ source: s, revision: 'v1', destination: d, excludes: '/etc/*' })],
    ['exclude list with an empty item', (d, s) => syncArgs({ source: s, revision: 'v1', destination: d, excludes: 'media/*,,var/*' })],
    ['exclude with a space', (d, s) => syncArgs({ source: s, revision: 'v1', destination: d, excludes: 'media/* var/*' })],
    ['link into /etc', (d, s) => syncArgs({ source: s, revision: 'v1', destination: d, links: 'media=/etc' })],
    ['link name ..', (d, s) => syncArgs({ source: s, revision: 'v1', destination: d, links: '../media=/srv/efs' })],
    ['link name .', (d, s) => syncArgs({ source: s, revision: 'v1', destination: d, links: '.=/srv/efs/x' })],
    ['link without a target', (d, s) => syncArgs({ source: s, revision: 'v1', destination: d, links: 'media' })],
    ['links with inplace', (d, s) => syncArgs({ source: s, revision: 'v1', destination: d, strategy: 'inplace', links: 'media=/srv/efs/media' })],
    ['an exclude that is not a folder, with strategy release', (d, s) => syncArgs({ source: s, revision: 'v1', destination: d, excludes: 'media/*,*.log' })],
    ['overlapping excluded folders', (d, s) => syncArgs({ source: s, revision: 'v1', destination: d, excludes: 'media/*,media/thumbs/*' })],
    ['a link inside an excluded folder', (d, s) => syncArgs({ source: s, revision: 'v1', destination: d, links: 'media/cdn=/srv/efs/cdn' })],
    ['a link into a system tree', (d, s) => syncArgs({ source: s, revision: 'v1', destination: d, links: 'media=/etc/cron.d' })],
    ['check with arguments', (d, s) => syncArgs({ source: s, revision: 'v1', destination: d, check: '/bin/sh -c id' })],
    ['check with $(...)', (d, s) => syncArgs({ source: s, revision: 'v1', destination: d, check: injected() })],
    ['keep-releases 0', (d, s) => syncArgs({ source: s, revision: 'v1', destination: d, keepReleases: 0 })],
    ['keep-releases 101', (d, s) => syncArgs({ source: s, revision: 'v1', destination: d, keepReleases: 101 })],
    ['attempt id with a space', (d, s) => syncArgs({ source: s, revision: 'v1', destination: d, attemptId: 'a b' })],
    ['unknown strategy', (d, s) => [...syncArgs({ source: s, revision: 'v1', destination: d }), '--strategy', 'copy']],
    ['unknown flag', (d, s) => [...syncArgs({ source: s, revision: 'v1', destination: d }), '--delete-everything', 'yes']],
    ['flag given twice', (d, s) => [...syncArgs({ source: s, revision: 'v1', destination: d }), '--revision', 'v2']],
    ['flag without a value', (d, s) => [...syncArgs({ source: s, revision: 'v1', destination: d }), '--check']],
    ['no mode', (d) => ['--destination', d]],
    ['sync without a source', (d) => ['--mode', 'sync', '--revision', 'v1', '--destination', d]],
  ];

  it.each(cases)('refuses %s with exit 2 before anything is written, running nothing injected', async (_name, build) => {
    const c = await newCase();
    await writeTree(join(c.src, 'v1'), { index: 'v1' });
    await mkdir(canaryDir(), { recursive: true });
    const run = await runScript(build(c.dest, c.source));
    expect(run.code).toBe(EXIT.badArguments);
    expect(run.result.status).toBe('badArguments');
    expect(run.result.revision).toBeNull();
    expect(run.result.error).toBeTruthy();
    expect(existsSync(c.dest)).toBe(false);
    expect(await readdir(canaryDir())).toEqual([]);
  });

  it('refuses a bad FLEETSYNC_S3_ENDPOINT_URL', async () => {
    const c = await newCase();
    const run = await runScript(syncArgs({ source: 's3://bucket/web', revision: 'v1', destination: c.dest }),
      { env: { FLEETSYNC_S3_ENDPOINT_URL: 'http://x/$(id)' } });
    expect(run.code).toBe(EXIT.badArguments);
    expect(run.result.error).toMatch(/FLEETSYNC_S3_ENDPOINT_URL/);
    expect(existsSync(c.dest)).toBe(false);
  });
});
