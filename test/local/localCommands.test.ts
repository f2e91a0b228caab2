/**
 * LocalCommands runs the real host script (bash deploy/host/fleetsync-sync.sh) on real folders: syncs, busy,
 * cancel, timeout, and commands read back by a new runner, as after a controller restart.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, readlink, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CONTROLLER_STOPPED, LocalCommands } from '../../controller/local/localCommands.ts';
import { LocalGroup } from '../../controller/local/localGroup.ts';
import { SAMPLE_FILES, seedSampleRevisions } from '../../controller/local/sampleApp.ts';
import type { InvocationResult, SendArgs, SyncParams } from '../../controller/ports/commands.ts';
import { realClock } from '../../controller/clock/realClock.ts';
import { ValidationError } from '../../state/validate.ts';
import { pidAlive, tempHome, waitFor } from './helpers.ts';

let home: string;
let remove: () => Promise<void>;
let group: LocalGroup;
let runners: LocalCommands[] = [];
let children: ChildProcess[] = [];

function runner(): LocalCommands {
  const commands = new LocalCommands({ home, clock: realClock, killGraceMs: 1_000 });
  runners.push(commands);
  return commands;
}

function params(revision: string, extra: Partial<SyncParams> = {}): SyncParams {
  return {
    source: `file://${path.join(home, 'artifacts')}`, revision, destination: '/srv/demo/app', strategy: 'release',
    excludes: ['media/*', 'var/*'], links: {}, keepReleases: 5, ...extra,
  };
}

function sendArgs(instanceIds: string[], revision: string, extra: Partial<SendArgs> = {}): SendArgs {
  return { fleet: 'demo', attemptId: `t-${Math.random().toString(36).slice(2)}`, mode: 'sync', instanceIds, params: params(revision), timeoutSeconds: 60, ...extra };
}

async function finished(commands: LocalCommands, commandId: string): Promise<InvocationResult[]> {
  return waitFor(`command ${commandId} to finish`, async () => {
    const results = await commands.results(commandId);
    return results.every((r) => r.status !== 'pending') ? results : undefined;
  }, 20_000);
}

async function newHost(): Promise<string> {
  const id = `i-${Math.random().toString(16).slice(2).padEnd(17, '0').slice(0, 17)}`;
  await group.createHostFolder(id);
  return id;
}

const hostFile = (id: string, rel: string): string => path.join(home, 'hosts', id, rel);

/** A check program that records its pid and sleeps, so a sync stays running until it is stopped. */
async function slowCheck(): Promise<string> {
  const file = path.join(home, 'slow-check.sh');
  await writeFile(file, `#!/bin/sh\necho $$ > "${path.join(home, 'check.pid')}"\nexec sleep 30\n`);
  await chmod(file, 0o755);
  return file;
}

beforeAll(() => {
  // the tests look at the host lock with flock(1); the agent itself needs neither it nor rsync
  if (spawnSync('sh', ['-c', 'command -v flock']).status !== 0) throw new Error('flock is needed by these tests (apt-get install util-linux)');
});

beforeEach(async () => {
  ({ home, remove } = await tempHome());
  group = new LocalGroup({ home, clock: realClock });
  await seedSampleRevisions(path.join(home, 'artifacts'));
});

afterEach(async () => {
  // each child leads a process group of its own: kill the group, so nothing it started outlives the test
  for (const child of children) {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  children = [];
  await Promise.all(runners.map((r) => r.close()));
  runners = [];
  await remove();
});

describe('LocalCommands', () => {
  it('syncs hosts through the real script into their own folders, leaving media/ and var/ alone', async () => {
    const commands = runner();
    const hosts = [await newHost(), await newHost()];
    const mediaBefore = await readFile(hostFile(hosts[0]!, 'media/site.css'), 'utf8');
    const { commandId } = await commands.send(sendArgs(hosts, 'v1'));
    expect(commandId).toMatch(/^[0-9a-f-]{36}$/);
    const first = await finished(commands, commandId);
    expect(first.map((r) => [r.status, r.exitCode, r.result?.revision])).toEqual([['success', 0, 'v1'], ['success', 0, 'v1']]);
    for (const id of hosts) {
      expect(await readFile(hostFile(id, '.fleetsync/REVISION'), 'utf8')).toBe('v1\n');
      expect(await readlink(hostFile(id, 'current'))).toBe('releases/v1');
    }

    const { commandId: second } = await commands.send(sendArgs(hosts, 'v2'));
    const results = await finished(commands, second);
    expect(results.every((r) => r.status === 'success' && r.result?.revision === 'v2')).toBe(true);
    const id = hosts[0]!;
    // same size, new content: updated
    const settings = await readFile(hostFile(id, 'current/config/settings.json'), 'utf8');
    expect(settings.length).toBe(SAMPLE_FILES.v1['config/settings.json']!.length);
    expect(settings).toBe(SAMPLE_FILES.v2['config/settings.json']);
    expect(await stat(hostFile(id, 'current/lib/legacy.js')).catch(() => null)).toBeNull();
    expect(await readFile(hostFile(id, 'current/lib/feature.js'), 'utf8')).toBe(SAMPLE_FILES.v2['lib/feature.js']);
    expect(await readFile(hostFile(id, 'media/site.css'), 'utf8')).toBe(mediaBefore);
    expect(await readdir(hostFile(id, 'var'))).toEqual(['sessions.log']);
    // the spec's destination is for real hosts: nothing is written there
    expect(await stat('/srv/demo/app').catch(() => null)).toBeNull();
  });

  it('a probe reports the revision a host holds', async () => {
    const commands = runner();
    const host = await newHost();
    await finished(commands, (await commands.send(sendArgs([host], 'v1'))).commandId);
    const { commandId } = await commands.send(sendArgs([host], 'v2', { mode: 'probe' }));
    const [probe] = await finished(commands, commandId);
    expect(probe).toMatchObject({ instanceId: host, status: 'success', result: { revision: 'v1' } });
  });

  it('a host whose lock another run holds answers busy (75) with the script\'s message', async () => {
    const commands = runner();
    const host = await newHost();
    await mkdir(hostFile(host, '.fleetsync'), { recursive: true });
    const lock = hostFile(host, '.fleetsync/lock');
    const holder = spawn('flock', [lock, 'sleep', '30'], { stdio: 'ignore', detached: true });
    children.push(holder);
    await waitFor('the lock to be held', () => spawnSync('flock', ['-n', lock, 'true']).status !== 0);
    const [result] = await finished(commands, (await commands.send(sendArgs([host], 'v1'))).commandId);
    expect(result).toMatchObject({ status: 'busy', exitCode: 75 });
    expect(result?.error).toContain('another fleetsync sync is running on this host');
  });

  it('cancel stops the script and what it started, and the host can sync again at once', async () => {
    const commands = runner();
    const host = await newHost();
    const check = await slowCheck();
    const args = sendArgs([host], 'v1');
    const { commandId } = await commands.send({ ...args, params: { ...args.params, checkCommand: check } });
    const checkPid = Number(await waitFor('the check to start', () => readFile(path.join(home, 'check.pid'), 'utf8').catch(() => undefined)));
    expect((await commands.results(commandId))[0]?.status).toBe('pending');

    const started = Date.now();
    await commands.cancel({ commandId });
    expect(Date.now() - started).toBeLessThan(5_000);
    const [result] = await commands.results(commandId);
    expect(result).toMatchObject({ instanceId: host, status: 'cancelled' });
    expect(pidAlive(checkPid)).toBe(false);
    expect(commands.running()).toBe(0);

    const [again] = await finished(commands, (await commands.send(sendArgs([host], 'v1'))).commandId);
    expect(again?.status).toBe('success');
  });

  it('a command that outlives its timeout is stopped and reads timedOut', async () => {
    const commands = runner();
    const host = await newHost();
    const check = await slowCheck();
    const args = sendArgs([host], 'v1', { timeoutSeconds: 1 });
    const { commandId } = await commands.send({ ...args, params: { ...args.params, checkCommand: check } });
    const [result] = await finished(commands, commandId);
    expect(result).toMatchObject({ status: 'timedOut' });
    expect(result?.error).toContain('1 s timeout');
  });

  it('a new runner (a restarted controller) finds the command of an attempt and reads its results', async () => {
    const first = runner();
    const host = await newHost();
    const args = sendArgs([host], 'v1', { attemptId: '7-abc' });
    const { commandId } = await first.send(args);
    await finished(first, commandId);
    await first.close();

    const second = runner();
    expect(await second.findByAttempt({ fleet: 'demo', attemptId: '7-abc' })).toBe(commandId);
    expect(await second.findByAttempt({ fleet: 'other', attemptId: '7-abc' })).toBeNull();
    expect(await second.findByAttempt({ fleet: 'demo', attemptId: '7-abd' })).toBeNull();
    expect(await second.results(commandId)).toEqual([expect.objectContaining({ instanceId: host, status: 'success', result: expect.objectContaining({ revision: 'v1' }) })]);
  });

  it('a command stopped with its controller reads failed, "the controller stopped during the command"', async () => {
    const first = runner();
    const host = await newHost();
    const check = await slowCheck();
    const args = sendArgs([host], 'v1', { attemptId: '8-stop' });
    const { commandId } = await first.send({ ...args, params: { ...args.params, checkCommand: check } });
    await waitFor('the check to start', () => readFile(path.join(home, 'check.pid'), 'utf8').catch(() => undefined));
    await first.close();
    expect(first.running()).toBe(0);

    const second = runner();
    expect(await second.findByAttempt({ fleet: 'demo', attemptId: '8-stop' })).toBe(commandId);
    expect(await second.results(commandId)).toEqual([expect.objectContaining({ status: 'failed', error: CONTROLLER_STOPPED })]);
  });

  it('a command whose controller died without a word (no outcome recorded) reads failed the same way', async () => {
    const host = await newHost();
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    const commandId = '0b7e4b4e-1111-4222-8333-444455556666';
    await mkdir(path.join(home, 'commands', commandId), { recursive: true });
    await writeFile(path.join(home, 'commands', commandId, 'command.json'), JSON.stringify({
      commandId, fleet: 'demo', attemptId: '9-crash', mode: 'sync', revision: 'v1', instanceIds: [host],
      startedAtMs: Date.now(), timeoutSeconds: 60, owner: { pid: dead, instance: 'gone' },
    }));
    const commands = runner();
    expect(await commands.findByAttempt({ fleet: 'demo', attemptId: '9-crash' })).toBe(commandId);
    expect(await commands.results(commandId)).toEqual([{ instanceId: host, status: 'failed', error: CONTROLLER_STOPPED }]);
    await expect(commands.results('not-a-command')).rejects.toThrow(/not a local command id/);
    await expect(commands.results('0b7e4b4e-1111-4222-8333-444455550000')).rejects.toThrow(/no local command/);
  });

  it('a host without a folder (it left the group) fails without the script creating one', async () => {
    const commands = runner();
    const host = await newHost();
    const gone = 'i-0000000000000dead';
    const results = await finished(commands, (await commands.send(sendArgs([host, gone], 'v1'))).commandId);
    expect(results.find((r) => r.instanceId === gone)).toMatchObject({ status: 'failed', error: expect.stringContaining('has no folder') });
    expect(results.find((r) => r.instanceId === host)?.status).toBe('success');
    expect(await stat(hostFile(gone, '.')).catch(() => null)).toBeNull();
  });

  it('bad parameters are refused before any script starts or any record is written', async () => {
    const commands = runner();
    const host = await newHost();
    const marker = path.join(await mkdtemp(path.join(home, 'm-')), 'pwned');
    await expect(commands.send(sendArgs([host], `$(touch ${marker})`))).rejects.toBeInstanceOf(ValidationError);
    await expect(commands.send({ ...sendArgs([host], 'v1'), attemptId: 'a b' })).rejects.toBeInstanceOf(ValidationError);
    await expect(commands.send(sendArgs(['i-../../etc'], 'v1'))).rejects.toThrow(/not instance ids/);
    await expect(commands.send(sendArgs(Array.from({ length: 51 }, (_, n) => `i-${String(n).padStart(17, '0')}`), 'v1')))
      .rejects.toThrow(/1 to 50 hosts/);
    expect(await readdir(path.join(home, 'commands')).catch(() => [])).toEqual([]);
    expect(await stat(marker).catch(() => null)).toBeNull();
    expect(await stat(hostFile(host, '.fleetsync')).catch(() => null)).toBeNull();
    await rm(path.dirname(marker), { recursive: true });
  });
});
