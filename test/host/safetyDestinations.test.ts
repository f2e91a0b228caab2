/**
 * Issue 12, part 4: destinations that can harm the host are refused. Anything under a system tree (/etc, /boot,
 * /root, /usr with /usr/local, /bin, /sbin, /lib*, /proc, /sys, /dev, /run, /var/lib, /var/log, /var/spool,
 * /var/cache) is refused with exit 2, as --destination and as a link target; the shared roots (/, /var, /home,
 * /srv, /opt, /mnt, /media, /tmp, /var/tmp) only as themselves, so /var/www/app and /srv/app stay valid. The
 * same rule holds in state/validate.ts. The real system folders are only probed (a probe writes nothing); syncs
 * aim at made-up folders under the system trees, which a refusal leaves uncreated.
 */
import { lstat, readdir, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../controller/hostProtocol.ts';
import { checkDestination } from '../../state/validate.ts';
import { makeTempDir, requireTools, syncArgs, writeTree } from '../support/hostScript.ts';
import { runAgent } from '../support/hostSafety.ts';

const SYSTEM_FOLDERS = ['/etc/cron.d', '/etc/sudoers.d', '/usr/local/bin', '/root/.ssh', '/var/lib/mysql', '/boot/efi',
  '/etc', '/usr/local', '/usr/share/nginx/html', '/bin', '/sbin/x', '/lib/systemd', '/lib64', '/proc/1', '/sys/kernel',
  '/dev/shm', '/run/app', '/var/log/app', '/var/spool/cron', '/var/cache/app', '//etc/./cron.d'];
const SHARED_ROOTS = ['/', '/var', '/home', '/srv', '/opt', '/mnt', '/media', '/tmp', '/var/tmp', '/var/'];
const VALID = ['/var/www/app', '/srv/app', '/opt/app/current-site', '/home/deploy/site', '/mnt/data/app', '/tmp/fleetsync-x',
  '/var/www', '/etcetera/app', '/usrlocal', '/variable/app', '/media-site/app'];
/** Made-up folders under system trees: created only if the agent wrongly accepted them (removed afterwards). */
const MADE_UP = [`/etc/fleetsync-safety-${process.pid}`, `/usr/local/fleetsync-safety-${process.pid}`,
  `/var/lib/fleetsync-safety-${process.pid}`, `/root/fleetsync-safety-${process.pid}/app`];

let tmp: { path: string; remove(): Promise<void> };
let source = '';

beforeAll(async () => {
  requireTools('bash', 'python3');
  tmp = await makeTempDir('safety-destinations');
  await writeTree(join(tmp.path, 'src', 'rev1'), { 'index.php': 'rev1\n' });
  source = `file://${join(tmp.path, 'src')}`;
});
afterAll(async () => {
  for (const path of MADE_UP) await rm(path.replace(/\/app$/, ''), { recursive: true, force: true });
  await tmp.remove();
});

/**
 * What the agent would leave in a folder it wrongly accepted: whether the folder exists, and which of the
 * agent's own entries it holds (other processes may change busy folders like /tmp or /dev/shm meanwhile).
 */
async function look(path: string): Promise<string> {
  try {
    const info = await lstat(path);
    if (!info.isDirectory()) return 'not a folder';
    const ours = (await readdir(path)).filter((name) => ['.fleetsync', 'releases', 'current', 'shared'].includes(name)
      || name.startsWith('.current.next.'));
    return `folder ${ours.sort().join(',')}`;
  } catch {
    return 'absent';
  }
}

describe('system folders', () => {
  it.each(SYSTEM_FOLDERS)('probe --destination %s exits 2 and touches nothing', async (path) => {
    const before = await look(path);
    const run = await runAgent(['--mode', 'probe', '--destination', path]);
    expect(run.code, run.stdout).toBe(EXIT.badArguments);
    expect(run.result.error).toMatch(/system folder/);
    expect(await look(path)).toBe(before);
  });

  it.each(MADE_UP)('sync --destination %s exits 2 and creates nothing', async (path) => {
    for (const strategy of ['release', 'inplace'] as const) {
      const run = await runAgent(syncArgs({ source, revision: 'rev1', destination: path, strategy, excludes: '' }));
      expect(run.code, `${strategy}: ${run.stdout}`).toBe(EXIT.badArguments);
      await expect(lstat(path)).rejects.toThrow(/ENOENT/);
    }
  });

  it.each(SYSTEM_FOLDERS.slice(0, 6))('a link to %s is refused with exit 2', async (target) => {
    const dest = join(tmp.path, 'link-target', target.replace(/\W+/g, '_'));
    const run = await runAgent(syncArgs({ source, revision: 'rev1', destination: dest, links: `media=${target}` }));
    expect(run.code, run.stdout).toBe(EXIT.badArguments);
    expect(run.result.error).toMatch(/system folder/);
    await expect(lstat(dest)).rejects.toThrow(/ENOENT/);
  });

  it('a destination reached through a symlink into a system tree is refused (exit 2)', async () => {
    const link = join(tmp.path, 'looks-harmless');
    await symlink('/etc', link);
    for (const dest of [link, join(link, 'cron.d')]) {
      const before = await look(dest);
      const run = await runAgent(syncArgs({ source, revision: 'rev1', destination: dest, strategy: 'inplace', excludes: '' }));
      expect(run.code, run.stdout).toBe(EXIT.badArguments);
      expect(await look(dest)).toBe(before);
    }
  });
});

describe('shared roots', () => {
  it.each(SHARED_ROOTS)('refuses %s itself (exit 2)', async (path) => {
    const before = await look(path);
    const run = await runAgent(['--mode', 'probe', '--destination', path]);
    expect(run.code, run.stdout).toBe(EXIT.badArguments);
    expect(await look(path)).toBe(before);
  });

  it.each(VALID)('takes %s (probe exits 0 and creates nothing)', async (path) => {
    const before = await look(path);
    const run = await runAgent(['--mode', 'probe', '--destination', path]);
    expect(run.code, run.stdout).toBe(EXIT.synced);
    expect(await look(path)).toBe(before);
  });

  it('syncs into a /var/www/app-like folder (under the temp folder) and links media to a /mnt-like one', async () => {
    const dest = join(tmp.path, 'var', 'www', 'app');
    const media = join(tmp.path, 'mnt', 'efs', 'media');
    const run = await runAgent(syncArgs({ source, revision: 'rev1', destination: dest, links: `media=${media}` }));
    expect(run.code, run.stdout).toBe(EXIT.synced);
  });
});

describe('the same rule in state/validate.ts', () => {
  it.each([...SYSTEM_FOLDERS, ...SHARED_ROOTS])('checkDestination refuses %s', (path) => {
    expect(checkDestination(path, 'destination'), 'a refusal message').toEqual(expect.any(String));
  });
  it.each(VALID)('checkDestination takes %s', (path) => {
    expect(checkDestination(path, 'destination')).toBeUndefined();
  });
});
