/**
 * Issue 12, part 2, the other ways a sync stops midway: SIGTERM to the process group (an SSM cancel: the agent's
 * handler rolls the switch back itself and prints the result line exactly once), SIGKILL of the agent alone (the
 * OOM killer: its check lives on as an orphan), and SIGKILL during an inplace sync (no link to roll back: the
 * probe must report no revision rather than a half-synced one). Kill points come from a seeded generator;
 * replay with FLEETSYNC_KILL_SEED=<seed> (in the test names).
 */
import { spawn } from 'node:child_process';
import { readFile, readlink, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../controller/hostProtocol.ts';
import { SCRIPT, makeTempDir, requireTools, syncArgs } from '../support/hostScript.ts';
import { FAST_PATH, mulberry32, runAgent, syncStoppedAfter as stopAfter, type Killed } from '../support/hostSafety.ts';
import { folderDigest, treeDigest, writeTreeFiles, type Tree } from '../support/publishedRevision.ts';

const POINTS = 10;
const BURSTS = 20;
const SEED = Number(process.env.FLEETSYNC_KILL_SEED ?? (Date.now() % 2 ** 31));
const REVISIONS = ['rev-a', 'rev-b', 'rev-c'];

let tmp: { path: string; remove(): Promise<void> };
let counter = 0;

beforeAll(async () => {
  requireTools('bash', 'python3');
  tmp = await makeTempDir('safety-signals');
});
afterAll(async () => {
  await tmp.remove();
});

function revisionTree(revision: string): Tree {
  const tree: Tree = { 'index.txt': `${revision}\n` };
  for (let i = 0; i < 30; i++) tree[`lib/part-${i % 5}/file-${i}.php`] = i % 3 === 0 ? `shared ${i}\n` : `${revision} ${i}\n`;
  tree[`only-${revision}.txt`] = `${revision}\n`;
  return tree;
}
const TREES = Object.fromEntries(REVISIONS.map((r) => [r, revisionTree(r)])) as Record<string, Tree>;

/** A sync in its own process group; after delayMs, `signal` goes to the group (or to the agent alone). */
function syncStoppedAfter(argv: string[], env: Record<string, string>, delayMs: number, how: { signal: NodeJS.Signals; group: boolean }): Promise<Killed> {
  return stopAfter({ argv, env, delayMs, ...how, until: 'exit' });
}

async function readOr(path: string, fallback: string): Promise<string> {
  return readFile(path, 'utf8').catch(() => fallback);
}

async function setUp(strategy: 'release' | 'inplace') {
  counter += 1;
  const root = join(tmp.path, `case${counter}`);
  const source = join(root, 'source');
  for (const r of REVISIONS) await writeTreeFiles(join(source, r), TREES[r] as Tree);
  const checkedLog = join(root, 'checked');
  const check = join(root, 'check');
  await writeFile(check, `#!/bin/sh\nsleep "\${CHECK_SLEEP:-0.25}"\nprintf '%s\\n' "$FLEETSYNC_REVISION" >> '${checkedLog}'\n`, { mode: 0o755 });
  const dest = join(root, 'dest');
  const args = (revision: string) => syncArgs({ source: `file://${source}`, revision, destination: dest, check, strategy, keepReleases: 2 });
  const checked = async () => (await readOr(checkedLog, '')).split('\n').filter((l) => l !== '');
  return { root, dest, args, checked };
}

const skipShared = (rel: string) => rel === 'media' || rel === 'var' || rel === '.fleetsync' || rel.startsWith('.fleetsync/');

describe('signals at random points of a sync with a check', () => {
  it(`SIGTERM to the process group: one result line, the switch rolled back by the agent itself (${POINTS} points, seed ${SEED})`, async () => {
    const random = mulberry32(SEED);
    const c = await setUp('release');
    expect((await runAgent(c.args('rev-a'), { env: { CHECK_SLEEP: '0' } })).code).toBe(EXIT.synced);
    const timed = await syncStoppedAfter(c.args('rev-b'), { PATH: FAST_PATH }, 60_000, { signal: 'SIGTERM', group: true });
    expect(timed.code).toBe(EXIT.synced);
    let good = 'rev-b';
    for (let round = 1; round <= POINTS; round++) {
      const target = REVISIONS.filter((r) => r !== good)[Math.floor(random() * 2)] as string;
      const delayMs = Math.floor(random() * timed.ms * 1.1);
      const where = `seed ${SEED}, round ${round}: SIGTERM to a sync ${good} -> ${target} after ${delayMs} ms`;
      const before = (await c.checked()).length;
      const run = await syncStoppedAfter(c.args(target), { PATH: FAST_PATH }, delayMs, { signal: 'SIGTERM', group: true });
      const checkedNow = (await c.checked()).slice(before);
      const allowed = run.code === EXIT.synced ? [target] : checkedNow.includes(target) ? [good, target] : [good];
      if (run.code !== null) {
        // the agent handled it: exactly one result line, and nothing left for the next run to undo
        const lines = run.stdout.split('\n').filter((l) => l !== '');
        expect(lines, `${where}: ${run.stdout}`).toHaveLength(1);
        expect(lines[0], where).toMatch(/^FLEETSYNC-RESULT \{/);
        const reported = (JSON.parse((lines[0] as string).slice('FLEETSYNC-RESULT '.length)) as { revision: string | null }).revision;
        expect(allowed, `${where}: the result line reported ${reported}`).toContain(reported);
        if (run.code !== EXIT.synced) {
          // rolled back (or kept, if its check had passed) before the line was printed: current and REVISION agree
          await expect(stat(join(c.dest, '.fleetsync', 'journal.json')), `${where}: journal left`).rejects.toThrow(/ENOENT/);
          expect(await readlink(join(c.dest, 'current')), `${where}: ${run.stdout}`).toBe(`releases/${reported}`);
          expect((await readOr(join(c.dest, '.fleetsync', 'REVISION'), '')).trim(), `${where}: ${run.stdout}`).toBe(reported);
        }
      }
      const revisionFile = (await readOr(join(c.dest, '.fleetsync', 'REVISION'), '')).trim();
      expect(allowed, `${where}: REVISION`).toContain(revisionFile);
      const probe = await runAgent(['--mode', 'probe', '--destination', c.dest]);
      expect(probe.code, where).toBe(EXIT.synced);
      expect(allowed, `${where}: probe`).toContain(probe.result.revision);
      expect(await readlink(join(c.dest, 'current')), where).toBe(`releases/${probe.result.revision}`);
      const next = REVISIONS[Math.floor(random() * 3)] as string;
      const again = await runAgent(c.args(next), { env: { CHECK_SLEEP: '0' } });
      expect(again.code, `${where}; then ${next}: ${again.stdout}`).toBe(EXIT.synced);
      good = next;
    }
  }, 120_000);

  it(`SIGKILL of the agent alone (the OOM killer), its check left running: never a revision whose check did not pass (${POINTS} points, seed ${SEED})`, async () => {
    const random = mulberry32(SEED + 1);
    const c = await setUp('release');
    expect((await runAgent(c.args('rev-a'), { env: { CHECK_SLEEP: '0' } })).code).toBe(EXIT.synced);
    const timed = await syncStoppedAfter(c.args('rev-b'), { PATH: FAST_PATH }, 60_000, { signal: 'SIGKILL', group: false });
    expect(timed.code).toBe(EXIT.synced);
    let good = 'rev-b';
    for (let round = 1; round <= POINTS; round++) {
      const target = REVISIONS.filter((r) => r !== good)[Math.floor(random() * 2)] as string;
      const delayMs = Math.floor(random() * timed.ms * 1.1);
      const where = `seed ${SEED + 1}, round ${round}: SIGKILL of the agent of a sync ${good} -> ${target} after ${delayMs} ms`;
      const run = await syncStoppedAfter(c.args(target), { PATH: FAST_PATH }, delayMs, { signal: 'SIGKILL', group: false });
      // the orphaned check may still pass later: only REVISION written by the agent counts
      const finished = run.code === EXIT.synced;
      const probe = await runAgent(['--mode', 'probe', '--destination', c.dest]);
      expect(probe.code, where).toBe(EXIT.synced);
      expect(finished ? [target] : [good, target], `${where}: probe`).toContain(probe.result.revision);
      if (probe.result.revision === target && !finished) {
        expect(await c.checked(), `${where}: ${target} reported, never checked`).toContain(target);
      }
      expect(await readlink(join(c.dest, 'current')), where).toBe(`releases/${probe.result.revision}`);
      expect((await readOr(join(c.dest, '.fleetsync', 'REVISION'), '')).trim(), where).toBe(probe.result.revision);
      await new Promise((r) => setTimeout(r, 300)); // let an orphaned check end before the next run
      const next = REVISIONS[Math.floor(random() * 3)] as string;
      const again = await runAgent(c.args(next), { env: { CHECK_SLEEP: '0' } });
      expect(again.code, `${where}; then ${next}: ${again.stdout}`).toBe(EXIT.synced);
      good = next;
    }
  }, 120_000);

  it(`SIGKILL of an inplace sync: the probe reports the old revision or none, never a half-synced one; the next sync repairs (${POINTS} points, seed ${SEED})`, async () => {
    const random = mulberry32(SEED + 2);
    const c = await setUp('inplace');
    expect((await runAgent(c.args('rev-a'), { env: { CHECK_SLEEP: '0' } })).code).toBe(EXIT.synced);
    const timed = await syncStoppedAfter(c.args('rev-b'), { PATH: FAST_PATH }, 60_000, { signal: 'SIGKILL', group: true });
    expect(timed.code).toBe(EXIT.synced);
    let good = 'rev-b';
    for (let round = 1; round <= POINTS; round++) {
      const target = REVISIONS.filter((r) => r !== good)[Math.floor(random() * 2)] as string;
      const delayMs = Math.floor(random() * timed.ms * 1.1);
      const where = `seed ${SEED + 2}, round ${round}: SIGKILL of an inplace sync ${good} -> ${target} after ${delayMs} ms`;
      const before = (await c.checked()).length;
      const run = await syncStoppedAfter(c.args(target), { PATH: FAST_PATH }, delayMs, { signal: 'SIGKILL', group: true });
      const checkedNow = (await c.checked()).slice(before);
      const probe = await runAgent(['--mode', 'probe', '--destination', c.dest]);
      expect(probe.code, where).toBe(EXIT.synced);
      const reported = probe.result.revision;
      const allowed = run.code === EXIT.synced ? [target] : checkedNow.includes(target) ? [good, target, null] : [good, null];
      expect(allowed, `${where}: probe`).toContain(reported);
      if (reported !== null) {
        // a reported revision is exactly what is on disk
        expect(await folderDigest(c.dest, skipShared), `${where}: the files of ${reported}`).toEqual(treeDigest(TREES[reported] as Tree));
      }
      const next = REVISIONS[Math.floor(random() * 3)] as string;
      const again = await runAgent(c.args(next), { env: { CHECK_SLEEP: '0' } });
      expect(again.code, `${where}; then ${next}: ${again.stdout}`).toBe(EXIT.synced);
      expect(await folderDigest(c.dest, skipShared), `${where}; then ${next}`).toEqual(treeDigest(TREES[next] as Tree));
      good = next;
    }
  }, 120_000);

  it('a probe while a sync runs its check reports the checked revision, not the one being checked; the sync still finishes', async () => {
    const c = await setUp('release');
    expect((await runAgent(c.args('rev-a'), { env: { CHECK_SLEEP: '0' } })).code).toBe(EXIT.synced);
    // a check that holds the run until the probe is done (20 s at most)
    const go = join(c.root, 'check-may-end');
    const held = join(c.root, 'held-check');
    await writeFile(held, `#!/bin/sh\ni=0\nwhile [ ! -e '${go}' ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done\n`, { mode: 0o755 });
    const running = runAgent(syncArgs({ source: `file://${join(c.root, 'source')}`, revision: 'rev-b', destination: c.dest, check: held, keepReleases: 2 }));
    let switched = false;
    for (let i = 0; i < 2000 && !switched; i++) {
      switched = (await readlink(join(c.dest, 'current')).catch(() => '')) === 'releases/rev-b';
      if (!switched) await new Promise((r) => setTimeout(r, 10));
    }
    expect(switched, 'current moved to rev-b before its check ended').toBe(true);
    const during = await runAgent(['--mode', 'probe', '--destination', c.dest]);
    expect(during.code, during.stdout).toBe(EXIT.synced);
    expect(during.result.revision).toBe('rev-a');
    await writeFile(go, '');
    const run = await running;
    expect(run.code, run.stdout).toBe(EXIT.synced);
    const after = await runAgent(['--mode', 'probe', '--destination', c.dest]);
    expect(after.result.revision).toBe('rev-b');
  });

  it('SIGTERM to the agent alone while its check ignores SIGTERM: the agent ends at once, the check with it, the switch undone', async () => {
    const c = await setUp('release');
    expect((await runAgent(c.args('rev-a'), { env: { CHECK_SLEEP: '0' } })).code).toBe(EXIT.synced);
    const pidFile = join(c.root, 'check.pid');
    const stubborn = join(c.root, 'stubborn-check');
    await writeFile(stubborn, `#!/bin/sh\ntrap '' TERM\necho $$ > '${pidFile}'\nwhile :; do sleep 0.1; done\n`, { mode: 0o755 });
    const args = syncArgs({ source: `file://${join(c.root, 'source')}`, revision: 'rev-b', destination: c.dest, check: stubborn });
    const child = spawn(SCRIPT, args, { detached: true, stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, PATH: FAST_PATH } });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let checkPid = 0;
    for (let i = 0; i < 1000 && !checkPid; i++) {
      checkPid = Number((await readOr(pidFile, '')).trim()) || 0;
      if (!checkPid) await new Promise((r) => setTimeout(r, 10));
    }
    expect(checkPid, 'the check started').toBeGreaterThan(0);
    const sent = Date.now();
    process.kill(child.pid as number, 'SIGTERM');
    const code = await exited;
    try {
      expect(Date.now() - sent).toBeLessThan(5_000);
      expect(code, stdout).toBe(EXIT.syncFailed);
      expect(stdout.split('\n').filter((l) => l !== '')).toHaveLength(1);
      await new Promise((r) => setTimeout(r, 100));
      expect(() => process.kill(checkPid, 0), 'the check process is gone').toThrow();
      expect(await readlink(join(c.dest, 'current'))).toBe('releases/rev-a');
      expect((await readOr(join(c.dest, '.fleetsync', 'REVISION'), '')).trim()).toBe('rev-a');
    } finally {
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {
        // the group is gone
      }
    }
  });

  it(`a burst of SIGTERMs (a cancel sent again and again) at random points: one result line whenever the agent answers (${BURSTS} points, seed ${SEED})`, async () => {
    const random = mulberry32(SEED + 3);
    const c = await setUp('release');
    expect((await runAgent(c.args('rev-a'), { env: { CHECK_SLEEP: '0' } })).code).toBe(EXIT.synced);
    const timed = await syncStoppedAfter(c.args('rev-b'), { PATH: FAST_PATH }, 60_000, { signal: 'SIGTERM', group: false });
    expect(timed.code).toBe(EXIT.synced);
    const good = 'rev-b';
    for (let round = 1; round <= BURSTS; round++) {
      const target = REVISIONS.filter((r) => r !== good)[Math.floor(random() * 2)] as string;
      const delayMs = Math.floor(random() * timed.ms);
      const where = `seed ${SEED + 3}, round ${round}: SIGTERM burst to a sync ${good} -> ${target} after ${delayMs} ms`;
      const run = await new Promise<Killed>((resolve, reject) => {
        const started = Date.now();
        const child = spawn(SCRIPT, c.args(target), { detached: true, stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, PATH: FAST_PATH, CHECK_SLEEP: '0.25' } });
        let stdout = '';
        child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
        const timer = setTimeout(() => {
          // forty SIGTERMs a few microseconds apart (a shell's kill builtin in a loop, as a cancel script sends them)
          spawn('bash', ['-c', 'for i in $(seq 40); do kill -TERM "$1" 2>/dev/null || exit 0; done', 'burst', String(child.pid)],
            { stdio: 'ignore' });
        }, delayMs);
        child.on('error', reject);
        child.on('close', (code, signal) => {
          clearTimeout(timer);
          resolve({ code, signal, stdout, ms: Date.now() - started });
        });
      });
      if (run.signal === null) {
        // the agent answered (it may also have died of the signal before its handlers were set: no line then)
        expect(run.stdout.split('\n').filter((l) => l !== ''), `${where}: exit ${run.code}`).toHaveLength(1);
        expect([EXIT.synced, EXIT.syncFailed, EXIT.checkFailed], `${where}: ${run.stdout}`).toContain(run.code);
      }
      const probe = await runAgent(['--mode', 'probe', '--destination', c.dest]);
      expect(probe.code, where).toBe(EXIT.synced);
      expect(await readlink(join(c.dest, 'current')), where).toBe(`releases/${probe.result.revision}`);
      const again = await runAgent(c.args(good), { env: { CHECK_SLEEP: '0' } });
      expect(again.code, `${where}; then ${good}: ${again.stdout}`).toBe(EXIT.synced);
    }
  }, 120_000);
});
