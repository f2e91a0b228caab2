/**
 * End to end on the embedded default: startEmbedded in a temporary FLEETSYNC_HOME (dynalite, the local fleet,
 * the real host script), the Manager on the real clock with short settings, and the operator CLI through
 * main(argv) as a user would run it from another terminal.
 */
import { mkdir, readFile, readdir, readlink, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbedded, type Embedded } from '../../controller/embedded.ts';
import { Manager } from '../../controller/manager.ts';
import { realClock } from '../../controller/clock/realClock.ts';
import { silentLogger } from '../../controller/log.ts';
import { DEFAULT_SETTINGS } from '../../controller/reconciler/settings.ts';
import type { GroupFile } from '../../controller/local/localGroup.ts';
import { SAMPLE_FILES } from '../../controller/local/sampleApp.ts';
import type { HostView } from '../../state/host.ts';
import type { FleetStatus } from '../../state/spec.ts';
import { run } from '../cli/cliHarness.ts';
import { tempHome, waitFor } from './helpers.ts';
import { folderDigest, writeCodebase } from '../support/publishedRevision.ts';

interface StatusDoc {
  metadata: { name: string; generation: number };
  spec: { revision: string };
  status?: FleetStatus;
  hosts: HostView[];
}

let home: string;
let removeHome: () => Promise<void>;
let embedded: Embedded | undefined;
let stopManager: (() => Promise<void>) | undefined;

async function start(): Promise<Embedded> {
  embedded = await startEmbedded({ home, log: silentLogger, clock: realClock, terminatingMs: 300, httpEndpoint: 'http://127.0.0.1:1' });
  const manager = new Manager({
    store: embedded.store, fleetPort: embedded.fleetPort, commands: embedded.commands, traffic: embedded.traffic,
    artifacts: embedded.artifacts, clock: realClock, random: Math.random, holder: `test-${process.pid}`,
    settings: {
      ...DEFAULT_SETTINGS, resyncMs: 500, pollMs: 200, specPollMs: 200, batchWindowMs: 100, statusDebounceMs: 50,
      backoffBaseMs: 200, backoffCapMs: 1_000,
    },
    leader: { leaseDurationMs: 2_000, renewDeadlineMs: 1_500, retryPeriodMs: 300 },
    fleetScanMs: 300,
    log: silentLogger,
  });
  const abort = new AbortController();
  const running = manager.run(abort.signal);
  stopManager = async () => {
    abort.abort();
    await running;
    stopManager = undefined;
  };
  return embedded;
}

async function stop(): Promise<void> {
  await stopManager?.();
  await embedded?.close();
  embedded = undefined;
}

const env = (): Record<string, string> => ({ FLEETSYNC_HOME: home });

async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(argv, { env: env() });
}

async function status(): Promise<StatusDoc> {
  const result = await cli('status', 'demo', '--output', 'json');
  if (result.code !== 0) throw new Error(`status exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as StatusDoc;
}

async function group(): Promise<GroupFile> {
  return JSON.parse(await readFile(path.join(home, 'hosts', 'group.json'), 'utf8')) as GroupFile;
}

async function demoIds(): Promise<string[]> {
  return ((await group()).groups.demo ?? []).map((i) => i.instanceId);
}

const hostFile = (id: string, rel: string): string => path.join(home, 'hosts', id, rel);

async function revisionOf(id: string): Promise<string | null> {
  return readFile(hostFile(id, '.fleetsync/REVISION'), 'utf8').then((t) => t.trim(), () => null);
}

/** media/ and var/ of a host, file by file, to prove syncs leave them alone. */
async function keptFolders(id: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const folder of ['media', 'var']) {
    for (const name of await readdir(hostFile(id, folder))) out[`${folder}/${name}`] = await readFile(hostFile(id, `${folder}/${name}`), 'utf8');
  }
  return out;
}

async function allAt(revision: string, count: number): Promise<StatusDoc | undefined> {
  const doc = await status();
  const ok = doc.hosts.length === count
    && doc.hosts.every((h) => h.reportedRevision === revision && h.state === 'inSync' && h.lifecycleState === 'InService')
    && doc.status?.revision === revision;
  return ok ? doc : undefined;
}

beforeAll(async () => {
  ({ home, remove: removeHome } = await tempHome('fleetsync-e2e-'));
  await start();
});

afterAll(async () => {
  await stop();
  await removeHome();
});

describe('the embedded default, end to end', () => {
  let original: string[] = [];
  const keptBefore = new Map<string, Record<string, string>>();

  it('first start: sample revisions, the demo fleet of 3 hosts at v1, controller.json for the CLI', async () => {
    expect(await readdir(path.join(home, 'artifacts'))).toEqual(expect.arrayContaining(['v1', 'v2']));
    original = await demoIds();
    expect(original).toHaveLength(3);
    for (const id of original) {
      expect(id).toMatch(/^i-[0-9a-f]{17}$/);
      expect(await revisionOf(id)).toBe('v1');
      expect(await readlink(hostFile(id, 'current'))).toBe('releases/v1');
      keptBefore.set(id, await keptFolders(id));
    }
    const info = JSON.parse(await readFile(path.join(home, 'controller.json'), 'utf8')) as Record<string, unknown>;
    expect(info).toEqual({ pid: process.pid, dynamoEndpoint: embedded!.dynamoEndpoint, table: 'fleetsync', httpEndpoint: 'http://127.0.0.1:1' });

    const doc = await waitFor('the controller to see 3 hosts in sync at v1', () => allAt('v1', 3));
    expect(doc.spec.revision).toBe('v1');
    const history = await cli('history', 'demo', '--output', 'json');
    expect(history.code, history.stderr).toBe(0);
    expect(history.stdout).toContain('created by the embedded default');
  });

  it('a second controller in the same home is refused', async () => {
    await expect(startEmbedded({ home, log: silentLogger, clock: realClock }))
      .rejects.toThrow(`a controller already runs in ${home} (pid ${process.pid}): stop it first`);
  });

  it('deploy demo v2: every host reports v2 (REVISION files and status), media/ and var/ untouched', async () => {
    const deploy = await cli('deploy', 'demo', 'v2');
    expect(deploy.code, deploy.stderr).toBe(0);
    const doc = await waitFor('all 3 hosts in sync at v2', () => allAt('v2', 3), 20_000);
    expect(doc.hosts.map((h) => h.instanceId).sort()).toEqual([...original].sort());
    for (const id of original) {
      expect(await revisionOf(id)).toBe('v2');
      expect(await readFile(hostFile(id, 'current/config/settings.json'), 'utf8')).toBe(SAMPLE_FILES.v2['config/settings.json']);
      expect(await stat(hostFile(id, 'current/lib/legacy.js')).catch(() => null)).toBeNull();
      expect(await keptFolders(id)).toEqual(keptBefore.get(id));
    }
  });

  it('scale to 5: the new hosts come up at v2 while in Pending:Wait, and only then go into service', async () => {
    const scaled = await cli('local', 'scale', 'demo', '5');
    expect(scaled.code, scaled.stderr).toBe(0);
    const added = (await demoIds()).filter((id) => !original.includes(id));
    expect(added).toHaveLength(2);
    for (const id of added) expect(scaled.stdout).toContain(id);

    // Sample each new host: its REVISION first, then its state in the group file. The controller puts a host
    // in service only after it has read the sync's result, so "InService" read after "not v2" would be a bug.
    const samples: Array<{ id: string; revision: string | null; state: string | undefined }> = [];
    await waitFor('both new hosts in service', async () => {
      for (const id of added) {
        const revision = await revisionOf(id);
        const state = (await group()).groups.demo?.find((i) => i.instanceId === id)?.lifecycleState;
        samples.push({ id, revision, state });
      }
      return added.every((id) => samples.some((s) => s.id === id && s.state === 'InService'));
    }, 20_000, 10);

    for (const id of added) {
      const mine = samples.filter((s) => s.id === id);
      expect(mine[0], `${id} starts waiting, before any sync`).toMatchObject({ state: 'Pending:Wait', revision: null });
      expect(mine.filter((s) => s.state === 'InService').every((s) => s.revision === 'v2'), `${id} in service only at v2`).toBe(true);
      expect(mine.some((s) => s.state === 'Pending:Wait' && s.revision === 'v2'), `${id} synced while still waiting`).toBe(true);
      expect(await keptFolders(id)).toEqual({
        'media/site.css': expect.stringContaining(id) as unknown as string,
        'var/sessions.log': expect.stringContaining(id) as unknown as string,
      });
    }
    const doc = await waitFor('all 5 hosts in sync at v2', () => allAt('v2', 5), 20_000);
    expect(doc.hosts.map((h) => h.instanceId).sort()).toEqual([...original, ...added].sort());
    for (const id of original) expect(await keptFolders(id)).toEqual(keptBefore.get(id));
  });

  it('scale back to 3: the newest hosts go Terminating, then leave the group and the status', async () => {
    const before = await group();
    const newest = [...(before.groups.demo ?? [])].sort((a, b) => b.launchTimeMs - a.launchTimeMs).slice(0, 2).map((i) => i.instanceId);
    const scaled = await cli('local', 'scale', 'demo', '3');
    expect(scaled.code, scaled.stderr).toBe(0);
    expect((await group()).groups.demo?.filter((i) => i.lifecycleState === 'Terminating').map((i) => i.instanceId).sort()).toEqual(newest.sort());
    await waitFor('3 hosts in the status', () => allAt('v2', 3), 20_000);
    // they leave the group 2 s (the CLI's Terminating time) after the scale, at the controller's next look
    await waitFor('the group file to drop them', async () => (await demoIds()).length === 3, 10_000);
    expect((await demoIds()).sort()).toEqual([...original].sort());
    for (const id of newest) expect(await stat(path.join(home, 'hosts', '.terminated', id)).then(() => true)).toBe(true);
  });

  it('publish a build as v3 and deploy it: hosts build the release from the manifest, byte for byte; status shows its size', async () => {
    const build = path.join(home, 'build-v3');
    await writeCodebase(build, 200);
    await mkdir(path.join(build, 'media'), { recursive: true });
    await writeFile(path.join(build, 'media', 'from-the-build.css'), 'excluded by the fleet: never published');
    const published = await cli('publish', build, '--fleet', 'demo', '--revision', 'v3', '--output', 'json');
    expect(published.code, published.stderr).toBe(0);
    expect(JSON.parse(published.stdout)).toMatchObject({ files: 200, uploadedObjects: 200, excluded: 1 });

    const deploy = await cli('deploy', 'demo', 'v3');
    expect(deploy.code, deploy.stderr).toBe(0);
    expect(deploy.stdout).toMatch(/deploying v3 \(200 files, [\d.]+ kB\)/);
    const doc = await waitFor('all 3 hosts in sync at v3', () => allAt('v3', 3), 30_000);
    expect(doc.status?.rollout).toMatchObject({ revision: 'v3', files: 200 });
    const outside = (...folders: string[]) => (rel: string): boolean => folders.some((f) => rel === f || rel.startsWith(`${f}/`));
    const expected = await folderDigest(build, outside('media'));
    for (const id of original) {
      expect(await revisionOf(id)).toBe('v3');
      expect(await folderDigest(hostFile(id, 'current/'), outside('media', 'var'))).toEqual(expected);
      expect(await keptFolders(id)).toEqual(keptBefore.get(id));
    }
    const history = await cli('history', 'demo', '--output', 'json');
    expect(history.stdout).toMatch(/rollout of v3 \(200 files, [\d.]+ kB\) started/);

    // back to v2 for the tests that follow
    expect((await cli('deploy', 'demo', 'v2')).code).toBe(0);
    await waitFor('all 3 hosts back at v2', () => allAt('v2', 3), 30_000);
  });

  it('a restart keeps the state; with no controller running the CLI exits 1 and says to run npm start', async () => {
    const generation = (await status()).metadata.generation;
    await stop();
    expect(await stat(path.join(home, 'controller.json')).catch(() => null)).toBeNull();
    const down = await cli('status', 'demo');
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('start it with `npm start`');

    await start();
    expect((await demoIds()).sort()).toEqual([...original].sort());
    const doc = await waitFor('the restarted controller to report the fleet at v2', () => allAt('v2', 3), 20_000);
    expect(doc.metadata.generation).toBe(generation);
    for (const id of original) expect(await revisionOf(id)).toBe('v2');
  });
});
