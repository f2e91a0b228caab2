/**
 * Issue 12, parts 1 and 2 together: kill -9 (the whole process group) at random points of the syncs where data
 * moves: the very first sync of a host (nothing to roll back to), and the first sync of a host the bash agent
 * left (uploads in a real releases/rev1/media, moved to shared/ or aside by this sync). After each kill a probe
 * reports only a checked revision, the next sync succeeds, and every upload still exists.
 * Replay with FLEETSYNC_KILL_SEED=<seed> (in the test names).
 */
import { spawn } from 'node:child_process';
import { cp, mkdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../controller/hostProtocol.ts';
import { SCRIPT, makeTempDir, requireTools, syncArgs, writeTree } from '../support/hostScript.ts';
import { FAST_PATH, findByContent, mulberry32, runAgent } from '../support/hostSafety.ts';

const POINTS = 12;
const SEED = Number(process.env.FLEETSYNC_KILL_SEED ?? (Date.now() % 2 ** 31));

let tmp: { path: string; remove(): Promise<void> };

beforeAll(async () => {
  requireTools('bash', 'python3');
  tmp = await makeTempDir('safety-kill-edges');
});
afterAll(async () => {
  await tmp.remove();
});

/** A sync in its own process group: kill() sends SIGKILL to the whole group (the check included). */
function startSync(args: string[]): { kill(): void; done: Promise<{ code: number | null; ms: number }> } {
  const started = Date.now();
  const child = spawn(SCRIPT, args, { detached: true, stdio: 'ignore', env: { ...process.env, PATH: FAST_PATH } });
  const done = new Promise<{ code: number | null; ms: number }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, ms: Date.now() - started }));
  });
  return {
    kill: () => {
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {
        // finished before its kill point
      }
    },
    done,
  };
}

async function syncKilledAfter(args: string[], delayMs: number): Promise<{ code: number | null; ms: number }> {
  const sync = startSync(args);
  const timer = setTimeout(() => sync.kill(), delayMs);
  const result = await sync.done;
  clearTimeout(timer);
  return result;
}

async function setUp(name: string) {
  const root = join(tmp.path, name);
  const src = join(root, 'src');
  for (const rev of ['rev1', 'rev2']) {
    const files: Record<string, string> = { 'index.php': `${rev}\n` };
    for (let i = 0; i < 40; i++) files[`lib/f${i}.php`] = `${rev} ${i}\n`;
    await writeTree(join(src, rev), files);
  }
  const checkedLog = join(root, 'checked');
  const check = join(root, 'check');
  await writeFile(check, `#!/bin/sh\nsleep 0.2\nprintf '%s\\n' "$FLEETSYNC_REVISION" >> '${checkedLog}'\n`, { mode: 0o755 });
  const checked = async () => (await readFile(checkedLog, 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');
  return { root, source: `file://${src}`, check, checked };
}

describe('kill -9 where data moves', () => {
  it(`during the first sync of a host: the probe reports nothing or a checked revision, the next sync succeeds (${POINTS} points, seed ${SEED})`, async () => {
    const random = mulberry32(SEED);
    const c = await setUp('first');
    const args = (dest: string) => syncArgs({ source: c.source, revision: 'rev1', destination: dest, check: c.check });
    const timed = await syncKilledAfter(args(join(c.root, 'timed')), 60_000);
    expect(timed.code).toBe(EXIT.synced);
    for (let round = 1; round <= POINTS; round++) {
      const dest = join(c.root, `host${round}`);
      const delayMs = Math.floor(random() * timed.ms * 1.1);
      const where = `seed ${SEED}, round ${round}: kill of a first sync after ${delayMs} ms`;
      const before = (await c.checked()).length;
      const run = await syncKilledAfter(args(dest), delayMs);
      const checkedNow = (await c.checked()).slice(before);
      const probe = await runAgent(['--mode', 'probe', '--destination', dest]);
      expect(probe.code, `${where}: ${probe.stdout}`).toBe(EXIT.synced);
      const allowed = run.code === EXIT.synced ? ['rev1'] : checkedNow.includes('rev1') ? [null, 'rev1'] : [null];
      expect(allowed, `${where}: probe`).toContain(probe.result.revision);
      const current = await readlink(join(dest, 'current')).catch(() => null);
      expect(current, `${where}: current`).toBe(probe.result.revision === null ? null : 'releases/rev1');
      const again = await runAgent(args(dest));
      expect(again.code, `${where}; then: ${again.stdout}`).toBe(EXIT.synced);
      expect(await readFile(join(dest, 'current', 'index.php'), 'utf8'), where).toBe('rev1\n');
    }
  }, 120_000);

  it(`during the first sync of a host the bash agent left: every upload survives, in shared/ or aside (${POINTS} points, seed ${SEED})`, async () => {
    const random = mulberry32(SEED + 1);
    const c = await setUp('legacy');
    const uploads: Record<string, string> = {};
    for (let i = 0; i < 30; i++) uploads[`media/${i % 3}/upload-${i}.jpg`] = `upload ${i}\n`;
    uploads['var/sessions/s1'] = 'a session\n';
    const template = join(c.root, 'template');
    await writeTree(join(template, 'releases', 'rev1'), { 'index.php': 'rev1\n', ...uploads });
    await symlink('releases/rev1', join(template, 'current'));
    await mkdir(join(template, '.fleetsync'), { mode: 0o700 });
    await writeFile(join(template, '.fleetsync', 'REVISION'), 'rev1\n');
    const legacyHost = async (name: string) => {
      const dest = join(c.root, name);
      await cp(template, dest, { recursive: true, verbatimSymlinks: true });
      return dest;
    };
    const mnt = join(c.root, 'mnt');
    await mkdir(mnt);
    const args = (dest: string, withLink: boolean) => syncArgs({
      source: c.source, revision: 'rev2', destination: dest, check: c.check, ...(withLink ? { links: `media=${mnt}` } : {}),
    });
    const timed = await syncKilledAfter(args(await legacyHost('timed'), false), 60_000);
    expect(timed.code).toBe(EXIT.synced);
    for (let round = 1; round <= POINTS; round++) {
      const withLink = round % 2 === 0;
      const dest = await legacyHost(`host${round}`);
      const delayMs = Math.floor(random() * timed.ms * 1.1);
      const where = `seed ${SEED + 1}, round ${round}: kill of a first sync${withLink ? ' with a link' : ''} of a legacy host after ${delayMs} ms`;
      const before = (await c.checked()).length;
      const run = await syncKilledAfter(args(dest, withLink), delayMs);
      const checkedNow = (await c.checked()).slice(before);
      const probe = await runAgent(['--mode', 'probe', '--destination', dest]);
      expect(probe.code, `${where}: ${probe.stdout}`).toBe(EXIT.synced);
      const allowed = run.code === EXIT.synced ? ['rev2'] : checkedNow.includes('rev2') ? ['rev1', 'rev2'] : ['rev1'];
      expect(allowed, `${where}: probe`).toContain(probe.result.revision);
      for (const [path, content] of Object.entries(uploads)) {
        expect((await findByContent(dest, content)).length, `${where}: ${path} after the kill`).toBeGreaterThanOrEqual(1);
      }
      const again = await runAgent(args(dest, withLink));
      expect(again.code, `${where}; then: ${again.stdout}`).toBe(EXIT.synced);
      for (const [path, content] of Object.entries(uploads)) {
        expect((await findByContent(dest, content)).length, `${where}: ${path} after the next sync`).toBeGreaterThanOrEqual(1);
      }
      if (!withLink) {
        // without a link every upload is where the app finds it: shared/, seen through current
        for (const [path, content] of Object.entries(uploads)) {
          expect(await readFile(join(dest, 'current', path), 'utf8'), `${where}: ${path} through current`).toBe(content);
        }
      }
    }
  }, 120_000);

  describe('a current link the agent did not make (a hand-made or Capistrano-style absolute link)', () => {
    async function handMade(name: string) {
      const c = await setUp(name);
      const dest = join(c.root, 'dest');
      const site = join(c.root, 'old-site');
      await writeTree(site, { 'index.php': 'the old site\n' });
      await mkdir(dest);
      await symlink(site, join(dest, 'current'));
      return { ...c, dest, site };
    }

    it('a failing check puts it back exactly (exit 4; or exit 3 if the agent refuses it up front), so the old site keeps serving', async () => {
      const c = await handMade('hand-made-check');
      const failing = join(c.root, 'fails');
      await writeFile(failing, '#!/bin/sh\nexit 1\n', { mode: 0o755 });
      const run = await runAgent(syncArgs({ source: c.source, revision: 'rev1', destination: c.dest, check: failing }));
      expect([EXIT.checkFailed, EXIT.syncFailed], run.stdout).toContain(run.code);
      expect(await readlink(join(c.dest, 'current')).catch(() => 'no current link')).toBe(c.site);
      expect(await readFile(join(c.dest, 'current', 'index.php'), 'utf8')).toBe('the old site\n');
    });

    it('a kill -9 during the check: the probe puts it back exactly', async () => {
      const c = await handMade('hand-made-kill');
      const slow = join(c.root, 'slow');
      await writeFile(slow, '#!/bin/sh\nsleep 5\n', { mode: 0o755 });
      const sync = startSync(syncArgs({ source: c.source, revision: 'rev1', destination: c.dest, check: slow }));
      let ended = false;
      void sync.done.then(() => { ended = true; });
      // wait for the switch (or for a refusal up front), then kill the group during the check
      for (let i = 0; i < 1000 && !ended; i++) {
        if ((await readlink(join(c.dest, 'current')).catch(() => '')) === 'releases/rev1') break;
        await new Promise((r) => setTimeout(r, 10));
      }
      sync.kill();
      await sync.done;
      const probe = await runAgent(['--mode', 'probe', '--destination', c.dest]);
      expect(probe.code, probe.stdout).toBe(EXIT.synced);
      expect(probe.result.revision).toBeNull();
      expect(await readlink(join(c.dest, 'current')).catch(() => 'no current link')).toBe(c.site);
    });
  });
});
