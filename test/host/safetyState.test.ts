/**
 * Issue 12, part 3: the state folder is trusted only if it is safe. An unprivileged user who owns the
 * destination (typical for an inplace docroot) swaps <dest>/.fleetsync for a folder of their own whose files
 * link to a root-owned victim; the next run, as root, must refuse (exit 3) and leave the victim alone. Also
 * part 4's --check-user: the check runs as the user named. The users are created here (root only).
 */
import { chmod, chown, lstat, mkdir, readFile, readdir, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../controller/hostProtocol.ts';
import { makeTempDir, requireTools, syncArgs, writeTree } from '../support/hostScript.ts';
import { asUser, createUser, runAgent, usersUnavailable, type TestUser } from '../support/hostSafety.ts';

const noUsers = usersUnavailable();
const STATE_FILES = ['sync.log', 'lock', 'REVISION', 'journal.json', 'sync.log.1'];

let tmp: { path: string; remove(): Promise<void> };
let attacker: TestUser | undefined;
let counter = 0;

beforeAll(async () => {
  requireTools('bash', 'python3');
  tmp = await makeTempDir('safety-state');
  // the unprivileged user must be able to reach the destinations inside it
  await chmod(tmp.path, 0o755);
  if (!noUsers) attacker = await createUser('fsync-attk');
});
afterAll(async () => {
  await attacker?.remove();
  await tmp.remove();
});

interface Case { root: string; source: string; dest: string; victim: string }

const VICTIM = 'root:$6$do-not-touch:19000:0:99999:7:::\n';

async function newCase(): Promise<Case> {
  counter += 1;
  const root = join(tmp.path, `case${counter}`);
  await writeTree(join(root, 'src'), { 'rev1/index.php': 'rev1\n', 'rev2/index.php': 'rev2\n' });
  await chmod(root, 0o755);
  const victim = join(root, 'victim-shadow');
  await writeFile(victim, VICTIM, { mode: 0o600 });
  return { root, source: `file://${join(root, 'src')}`, dest: join(root, 'dest'), victim };
}

async function victimIntact(c: Case): Promise<void> {
  const info = await lstat(c.victim);
  expect(info.isFile()).toBe(true);
  expect(info.uid).toBe(0);
  expect(await readFile(c.victim, 'utf8')).toBe(VICTIM);
}

/** The attacker's move: .fleetsync renamed away, a folder of their own in its place, its files linking to victim. */
const SWAP = `set -e
cd "$1"
mv .fleetsync .fleetsync-was-roots
mkdir .fleetsync
for f in ${STATE_FILES.join(' ')}; do ln -s "$2" ".fleetsync/$f"; done
mkdir .fleetsync/work .fleetsync/records
ln -s "$2" .fleetsync/records/rev2.tsv
ln -s "$2" .fleetsync/records/rev2.tsv.gz
ln -s "$2" .fleetsync/REVISION.tmp.1`;

describe('the state folder after a normal sync', () => {
  it('is mode 0700 and owned by the user running the agent', async () => {
    const c = await newCase();
    const run = await runAgent(syncArgs({ source: c.source, revision: 'rev1', destination: c.dest }));
    expect(run.code, run.stdout).toBe(EXIT.synced);
    const info = await stat(join(c.dest, '.fleetsync'));
    expect(info.mode & 0o777).toBe(0o700);
    expect(info.uid).toBe(process.getuid?.());
  });

  it.each(['777', '770', '707', '720'])('refuses (exit 3) a state folder of mode %s, saying it is not safe', async (octal) => {
    const mode = parseInt(octal, 8);
    const c = await newCase();
    expect((await runAgent(syncArgs({ source: c.source, revision: 'rev1', destination: c.dest }))).code).toBe(EXIT.synced);
    await chmod(join(c.dest, '.fleetsync'), mode);
    const run = await runAgent(syncArgs({ source: c.source, revision: 'rev2', destination: c.dest }));
    expect(run.code, run.stdout).toBe(EXIT.syncFailed);
    expect(run.result.error).toMatch(/not safe/);
    expect(run.result.error).toMatch(/chmod 700/);
    expect(await readFile(join(c.dest, '.fleetsync', 'REVISION'), 'utf8')).toBe('rev1\n');
  });

  it('refuses (exit 3) a .fleetsync that is a symlink, writing nothing where it points', async () => {
    const c = await newCase();
    const elsewhere = join(c.root, 'elsewhere');
    await mkdir(elsewhere, { mode: 0o700 });
    await mkdir(c.dest);
    await symlink(elsewhere, join(c.dest, '.fleetsync'));
    const run = await runAgent(syncArgs({ source: c.source, revision: 'rev1', destination: c.dest }));
    expect(run.code, run.stdout).toBe(EXIT.syncFailed);
    expect(await readdir(elsewhere)).toEqual([]);
  });
});

describe.skipIf(noUsers !== '')(`an unprivileged user who owns the destination${noUsers ? ` (skipped: ${noUsers})` : ''}`, () => {
  async function ownedDest(c: Case): Promise<TestUser> {
    const user = attacker as TestUser;
    await mkdir(c.dest);
    await chown(c.dest, user.uid, user.gid);
    const run = await runAgent(syncArgs({ source: c.source, revision: 'rev1', destination: c.dest, strategy: 'inplace' }));
    expect(run.code, run.stdout).toBe(EXIT.synced);
    return user;
  }

  it('cannot read the state folder', async () => {
    const c = await newCase();
    const user = await ownedDest(c);
    await expect(asUser(user.name, 'cat "$1"/.fleetsync/sync.log', c.dest)).rejects.toThrow(/Permission denied/);
  });

  it('swaps .fleetsync for a folder of links to a root-owned file: the next sync as root exits 3 and the file is unchanged', async () => {
    const c = await newCase();
    const user = await ownedDest(c);
    await asUser(user.name, SWAP, c.dest, c.victim);
    expect((await lstat(join(c.dest, '.fleetsync'))).uid).toBe(user.uid);

    const run = await runAgent(syncArgs({ source: c.source, revision: 'rev2', destination: c.dest, strategy: 'inplace' }));
    expect(run.code, run.stdout).toBe(EXIT.syncFailed);
    expect(run.result.error).toMatch(/not safe/);
    await victimIntact(c);
    // nothing was synced either: the codebase is still rev1
    expect(await readFile(join(c.dest, 'index.php'), 'utf8')).toBe('rev1\n');
  });

  it('the same attack with a folder the attacker made mode 0700: still refused, victim unchanged', async () => {
    const c = await newCase();
    const user = await ownedDest(c);
    await asUser(user.name, `${SWAP}\nchmod 700 .fleetsync`, c.dest, c.victim);
    const run = await runAgent(syncArgs({ source: c.source, revision: 'rev2', destination: c.dest, strategy: 'inplace' }));
    expect(run.code, run.stdout).toBe(EXIT.syncFailed);
    await victimIntact(c);
  });

  it('a probe as root in the attacker\'s state folder writes nothing and reports no revision of theirs', async () => {
    const c = await newCase();
    const user = await ownedDest(c);
    await asUser(user.name, `${SWAP}\nrm .fleetsync/REVISION && echo evil > .fleetsync/REVISION`
      + '\nrm .fleetsync/journal.json && echo \'{"strategy":"release","revision":"evil","previousLink":"releases/evil"}\' > .fleetsync/journal.json',
    c.dest, c.victim);
    const run = await runAgent(['--mode', 'probe', '--destination', c.dest]);
    expect(run.result.revision).not.toBe('evil');
    expect(run.code, run.stdout).toBe(EXIT.syncFailed);
    expect(run.result.error).toMatch(/not safe/);
    await victimIntact(c);
  });

  it('swapping .fleetsync while a sync runs (during its check) changes nothing for that run: the victim is unchanged', async () => {
    const c = await newCase();
    const user = await ownedDest(c);
    const started = join(c.root, 'check-started');
    const go = join(c.root, 'check-may-end');
    const check = join(c.root, 'slow-check');
    // the check holds the run until the swap is done (20 s at most)
    await writeFile(check, `#!/bin/sh\ntouch '${started}'\ni=0\nwhile [ ! -e '${go}' ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done\nexit 0\n`, { mode: 0o755 });
    const running = runAgent(syncArgs({ source: c.source, revision: 'rev2', destination: c.dest, strategy: 'inplace', check }));
    for (let i = 0; i < 2000; i++) {
      if (await lstat(started).then(() => true, () => false)) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    await asUser(user.name, SWAP, c.dest, c.victim);
    await writeFile(go, '');
    const run = await running;
    expect(run.code, run.stdout).toBe(EXIT.synced);
    await victimIntact(c);
    // the run finished in the folder it opened, now renamed away
    expect(await readFile(join(c.dest, '.fleetsync-was-roots', 'REVISION'), 'utf8')).toBe('rev2\n');
    // and the next run refuses the attacker's folder
    const next = await runAgent(syncArgs({ source: c.source, revision: 'rev1', destination: c.dest, strategy: 'inplace' }));
    expect(next.code, next.stdout).toBe(EXIT.syncFailed);
    await victimIntact(c);
  });
});

describe.skipIf(noUsers !== '')(`release strategy, a destination another user can write${noUsers ? ` (skipped: ${noUsers})` : ''}`, () => {
  /** A root-owned folder with data, in folders named like releases (and one with a media/ folder). */
  async function victimFolder(c: Case): Promise<string> {
    const victim = join(c.root, 'victim-folder');
    await writeTree(victim, { 'data1/db.sqlite': 'precious 1\n', 'data2/db.sqlite': 'precious 2\n', 'media/photo.jpg': 'precious 3\n' });
    return victim;
  }

  async function victimFolderIntact(victim: string): Promise<void> {
    expect((await readdir(victim)).sort()).toEqual(['data1', 'data2', 'media']);
    expect(await readFile(join(victim, 'data1', 'db.sqlite'), 'utf8')).toBe('precious 1\n');
    expect(await readFile(join(victim, 'data2', 'db.sqlite'), 'utf8')).toBe('precious 2\n');
    expect(await readFile(join(victim, 'media', 'photo.jpg'), 'utf8')).toBe('precious 3\n');
  }

  /** rev1 synced into a root-owned destination, which is then handed to the app user (an operator's chown). */
  async function handedOver(c: Case, what: 'dest' | 'releases'): Promise<TestUser> {
    const user = attacker as TestUser;
    const run = await runAgent(syncArgs({ source: c.source, revision: 'rev1', destination: c.dest }));
    expect(run.code, run.stdout).toBe(EXIT.synced);
    await chown(what === 'dest' ? c.dest : join(c.dest, 'releases'), user.uid, user.gid);
    return user;
  }

  const ours = async (dest: string) => (await readdir(dest)).filter((n) => ['releases', 'current', 'shared'].includes(n));

  it('a fresh destination owned by another user is refused (exit 3) with the fix, and no release is made', async () => {
    const c = await newCase();
    const user = attacker as TestUser;
    await mkdir(c.dest);
    await chown(c.dest, user.uid, user.gid);
    const run = await runAgent(syncArgs({ source: c.source, revision: 'rev1', destination: c.dest }));
    expect(run.code, run.stdout).toBe(EXIT.syncFailed);
    expect(run.result.error).toMatch(/chown/);
    expect(await ours(c.dest)).toEqual([]);
  });

  it('a root-owned destination of mode 777 is refused (exit 3)', async () => {
    const c = await newCase();
    await mkdir(c.dest);
    await chmod(c.dest, 0o777);
    const run = await runAgent(syncArgs({ source: c.source, revision: 'rev1', destination: c.dest }));
    expect(run.code, run.stdout).toBe(EXIT.syncFailed);
    expect(await ours(c.dest)).toEqual([]);
  });

  it('the app user swaps releases/ for a link to a root-owned folder: the next sync (keep 1) refuses, and neither prunes nor writes there', async () => {
    const c = await newCase();
    const user = await handedOver(c, 'dest');
    const victim = await victimFolder(c);
    await asUser(user.name, 'cd "$1" && mv releases releases-was-roots && ln -s "$2" releases', c.dest, victim);

    const run = await runAgent(syncArgs({ source: c.source, revision: 'rev2', destination: c.dest, keepReleases: 1 }));
    expect(run.code, run.stdout).toBe(EXIT.syncFailed);
    await victimFolderIntact(victim);
  });

  it('the app user plants releases/.staging-x and .trash-y linking to a root-owned folder: nothing is taken out of it', async () => {
    const c = await newCase();
    const user = await handedOver(c, 'dest');
    const victim = await victimFolder(c);
    await asUser(user.name, 'cd "$1" && mkdir mine && mv releases releases-was-roots && mv mine releases'
      + ' && ln -s "$2" releases/.staging-x && ln -s "$2" releases/.trash-y', c.dest, victim);

    const run = await runAgent(syncArgs({ source: c.source, revision: 'rev2', destination: c.dest, keepReleases: 1 }));
    expect(run.code, run.stdout).toBe(EXIT.syncFailed);
    await victimFolderIntact(victim);
  });

  it('releases/ handed to the app user (the destination still root\'s): their links are refused too', async () => {
    const c = await newCase();
    const user = await handedOver(c, 'releases');
    const victim = await victimFolder(c);
    await asUser(user.name, 'cd "$1"/releases && ln -s "$2" .staging-x && ln -s "$2" data1', c.dest, victim);

    const run = await runAgent(syncArgs({ source: c.source, revision: 'rev2', destination: c.dest, keepReleases: 1 }));
    expect(run.code, run.stdout).toBe(EXIT.syncFailed);
    await victimFolderIntact(victim);
    expect(await readlink(join(c.dest, 'current'))).toBe('releases/rev1');
  });
});

describe.skipIf(noUsers !== '')(`the app user owns the folder above the destination (a /var/www of www-data's)${noUsers ? ` (skipped: ${noUsers})` : ''}`, () => {
  /** A root-owned folder with files that are in no revision. */
  async function victimFolder(c: Case): Promise<string> {
    const victim = join(c.root, 'victim-folder');
    await writeTree(victim, { 'db.sqlite': 'precious 1\n', 'backups/2024.tar': 'precious 2\n' });
    return victim;
  }

  async function victimFolderIntact(victim: string): Promise<void> {
    expect((await readdir(victim)).sort()).toEqual(['backups', 'db.sqlite']);
    expect(await readFile(join(victim, 'db.sqlite'), 'utf8')).toBe('precious 1\n');
    expect(await readFile(join(victim, 'backups', '2024.tar'), 'utf8')).toBe('precious 2\n');
  }

  it.each(['inplace', 'release'] as const)('a destination (%s) under a folder the app user owns is refused (exit 3) with the fix, touching nothing', async (strategy) => {
    const c = await newCase();
    const user = attacker as TestUser;
    const www = join(c.root, 'www');
    await mkdir(www);
    await chown(www, user.uid, user.gid);
    const run = await runAgent(syncArgs({ source: c.source, revision: 'rev1', destination: join(www, 'app'), strategy }));
    expect(run.code, run.stdout).toBe(EXIT.syncFailed);
    expect(run.result.error).toMatch(/chown/);
    expect(await readdir(www)).toEqual([]);
  });

  it.each(['inplace', 'release'] as const)('the folder above handed to the app user after a sync (%s): their swap of the destination for a link is refused, the linked folder untouched', async (strategy) => {
    const c = await newCase();
    const user = attacker as TestUser;
    const www = join(c.root, 'www');
    await mkdir(www);
    const dest = join(www, 'app');
    const first = await runAgent(syncArgs({ source: c.source, revision: 'rev1', destination: dest, strategy }));
    expect(first.code, first.stdout).toBe(EXIT.synced);
    // an operator's chown -R www-data /var/www, then the app user's move
    await chown(www, user.uid, user.gid);
    const victim = await victimFolder(c);
    await asUser(user.name, 'cd "$1" && mv app app-was-roots && ln -s "$2" app', www, victim);

    const run = await runAgent(syncArgs({ source: c.source, revision: 'rev2', destination: dest, strategy }));
    await victimFolderIntact(victim);
    expect(run.code, run.stdout).toBe(EXIT.syncFailed);
  });

  it.each(['inplace', 'release'] as const)('in a sticky world-writable folder (like /tmp), a destination (%s) the app user made a link before the first sync is refused, the linked folder untouched', async (strategy) => {
    const c = await newCase();
    const user = attacker as TestUser;
    const sticky = join(c.root, 'sticky');
    await mkdir(sticky);
    await chmod(sticky, 0o1777);
    const victim = await victimFolder(c);
    await asUser(user.name, 'ln -s "$2" "$1"/app', sticky, victim);

    const run = await runAgent(syncArgs({ source: c.source, revision: 'rev1', destination: join(sticky, 'app'), strategy }));
    await victimFolderIntact(victim);
    expect(run.code, run.stdout).toBe(EXIT.syncFailed);
  });
});

describe.skipIf(noUsers !== '')(`--check-user${noUsers ? ` (skipped: ${noUsers})` : ''}`, () => {
  async function idCheck(c: Case): Promise<{ check: string; out: string }> {
    const out = join(c.root, 'check-uid');
    await writeFile(out, '', { mode: 0o666 });
    await chmod(out, 0o666);
    const check = join(c.root, 'id-check');
    await writeFile(check, `#!/bin/sh\nid -u > '${out}'\n`, { mode: 0o755 });
    return { check, out };
  }

  it('runs the check as the user named', async () => {
    const c = await newCase();
    const user = attacker as TestUser;
    const { check, out } = await idCheck(c);
    const run = await runAgent([...syncArgs({ source: c.source, revision: 'rev1', destination: c.dest, check }), '--check-user', user.name]);
    expect(run.code, run.stdout).toBe(EXIT.synced);
    expect((await readFile(out, 'utf8')).trim()).toBe(String(user.uid));
  });

  it('the check, as the user named, holds no descriptor of the lock and cannot touch the state', async () => {
    const c = await newCase();
    const user = attacker as TestUser;
    const out = join(c.root, 'fds');
    await writeFile(out, '', { mode: 0o666 });
    await chmod(out, 0o666);
    const check = join(c.root, 'fd-check');
    await writeFile(check, `#!/bin/sh\nfor fd in /proc/$$/fd/*; do readlink "$fd"; done > '${out}'\n`
      + `echo evil > "$FLEETSYNC_DESTINATION/.fleetsync/REVISION" 2>/dev/null && echo wrote-state >> '${out}'\nexit 0\n`, { mode: 0o755 });
    const run = await runAgent([...syncArgs({ source: c.source, revision: 'rev1', destination: c.dest, check }), '--check-user', user.name]);
    expect(run.code, run.stdout).toBe(EXIT.synced);
    const fds = (await readFile(out, 'utf8')).split('\n').filter(Boolean);
    expect(fds.length).toBeGreaterThan(0);
    expect(fds.filter((target) => target.endsWith('/lock'))).toEqual([]);
    expect(fds).not.toContain('wrote-state');
    expect(await readFile(join(c.dest, '.fleetsync', 'REVISION'), 'utf8')).toBe('rev1\n');
  });

  it('runs the check as root without it', async () => {
    const c = await newCase();
    const { check, out } = await idCheck(c);
    const run = await runAgent(syncArgs({ source: c.source, revision: 'rev1', destination: c.dest, check }));
    expect(run.code, run.stdout).toBe(EXIT.synced);
    expect((await readFile(out, 'utf8')).trim()).toBe('0');
  });

  it('a check user that does not exist fails the check (exit 4) and rolls back', async () => {
    const c = await newCase();
    const { check } = await idCheck(c);
    expect((await runAgent(syncArgs({ source: c.source, revision: 'rev1', destination: c.dest }))).code).toBe(EXIT.synced);
    const run = await runAgent([...syncArgs({ source: c.source, revision: 'rev2', destination: c.dest, check }), '--check-user', 'no-such-user-fs']);
    expect(run.code, run.stdout).toBe(EXIT.checkFailed);
    expect(run.result.error).toMatch(/no-such-user-fs/);
    expect(run.result.revision).toBe('rev1');
  });

  it('--check-user without --check is a bad argument (exit 2)', async () => {
    const c = await newCase();
    const run = await runAgent([...syncArgs({ source: c.source, revision: 'rev1', destination: c.dest }), '--check-user', 'www-data']);
    expect(run.code, run.stdout).toBe(EXIT.badArguments);
  });
});
