/** LocalFleet over the group file: scaling, lifecycle actions, leaving hosts, and writers that race. */
import { spawnSync } from 'node:child_process';
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalFleet } from '../../controller/local/localFleet.ts';
import { LocalGroup, homeProblem, type GroupFile } from '../../controller/local/localGroup.ts';
import { NotFoundError } from '../../controller/errors.ts';
import type { FleetRef } from '../../controller/ports/fleet.ts';
import { ManualClock, tempHome } from './helpers.ts';

const ref: FleetRef = { autoScalingGroupName: 'demo', lifecycleHookName: 'fleetsync-launch' };

let home: string;
let remove: () => Promise<void>;
let clock: ManualClock;
let group: LocalGroup;
let fleet: LocalFleet;

beforeEach(async () => {
  ({ home, remove } = await tempHome());
  clock = new ManualClock();
  group = new LocalGroup({ home, clock });
  fleet = new LocalFleet({ group, clock, terminatingMs: 2_000 });
});

afterEach(async () => {
  await remove();
});

async function groupFile(): Promise<GroupFile> {
  return JSON.parse(await readFile(path.join(home, 'hosts', 'group.json'), 'utf8')) as GroupFile;
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, () => false);
}

describe('LocalFleet', () => {
  it('creates a group of hosts with Contract ids, each a folder with its own media/ and var/', async () => {
    const { added } = await fleet.scale({ group: 'demo', count: 3, lifecycleState: 'InService', create: true });
    expect(added).toHaveLength(3);
    for (const id of added) {
      expect(id).toMatch(/^i-[0-9a-f]{17}$/);
      expect((await readdir(path.join(home, 'hosts', id, 'media'))).length).toBe(1);
      expect((await readdir(path.join(home, 'hosts', id, 'var'))).length).toBe(1);
    }
    const listed = await fleet.list(ref);
    expect(listed.map((i) => i.instanceId).sort()).toEqual([...added].sort());
    expect(listed.every((i) => i.lifecycleState === 'InService' && i.agentOnline)).toBe(true);
    expect((await groupFile()).groups.demo?.map((i) => i.instanceId).sort()).toEqual([...added].sort());
  });

  it('scaling up adds hosts in Pending:Wait; CONTINUE puts one in service, ABANDON makes one leave', async () => {
    await fleet.scale({ group: 'demo', count: 1, lifecycleState: 'InService', create: true });
    clock.now += 1_000;
    const { added, before, after } = await fleet.scale({ group: 'demo', count: 3 });
    expect({ before, after }).toEqual({ before: 1, after: 3 });
    const [keep, abandon] = added as [string, string];
    const states = new Map((await fleet.list(ref)).map((i) => [i.instanceId, i.lifecycleState]));
    expect(states.get(keep)).toBe('Pending:Wait');
    expect(states.get(abandon)).toBe('Pending:Wait');

    await fleet.completeLifecycle({ ref, instanceId: keep, result: 'CONTINUE' });
    await fleet.completeLifecycle({ ref, instanceId: abandon, result: 'ABANDON' });
    const after2 = new Map((await fleet.list(ref)).map((i) => [i.instanceId, i.lifecycleState]));
    expect(after2.get(keep)).toBe('InService');
    expect(after2.has(abandon)).toBe(false);
    expect(after2.size).toBe(2);
    // the abandoned host's folder is kept for inspection, out of the hosts' folder
    expect(await exists(path.join(home, 'hosts', abandon))).toBe(false);
    expect(await exists(path.join(home, 'hosts', '.terminated', abandon, 'media'))).toBe(true);

    // completing again changes nothing (the host no longer waits); a host that left is not found
    await fleet.completeLifecycle({ ref, instanceId: keep, result: 'ABANDON' });
    expect((await fleet.list(ref)).find((i) => i.instanceId === keep)?.lifecycleState).toBe('InService');
    await expect(fleet.completeLifecycle({ ref, instanceId: abandon, result: 'CONTINUE' })).rejects.toBeInstanceOf(NotFoundError);
  });

  it('keeps a warm pool: launched into Warmed:Pending:Wait, stopped on CONTINUE (agent offline), started first on scale-up, refilled', async () => {
    await fleet.scale({ group: 'demo', count: 1, lifecycleState: 'InService', create: true });
    clock.now += 1_000;
    const { warmed, added } = await fleet.scale({ group: 'demo', count: 1, warmPool: 1 });
    expect(added).toEqual([]);
    expect(warmed).toHaveLength(1);
    const warm = warmed[0]!;
    expect(await exists(path.join(home, 'hosts', warm, 'media'))).toBe(true);
    expect((await fleet.list(ref)).find((i) => i.instanceId === warm)).toMatchObject({ lifecycleState: 'Warmed:Pending:Wait', agentOnline: true });

    await fleet.completeLifecycle({ ref, instanceId: warm, result: 'CONTINUE' });
    expect((await fleet.list(ref)).find((i) => i.instanceId === warm)).toMatchObject({ lifecycleState: 'Warmed:Stopped', agentOnline: false });
    expect((await groupFile()).warmPools).toEqual({ demo: 1 });

    // scaling up starts the stopped host (held by the hook again) and launches a new one into the pool
    clock.now += 1_000;
    const up = await fleet.scale({ group: 'demo', count: 2 });
    expect(up.added).toEqual([warm]);
    expect(up.warmed).toHaveLength(1);
    const states = new Map((await fleet.list(ref)).map((i) => [i.instanceId, i.lifecycleState]));
    expect(states.get(warm)).toBe('Pending:Wait');
    expect(states.get(up.warmed[0]!)).toBe('Warmed:Pending:Wait');
    await fleet.completeLifecycle({ ref, instanceId: warm, result: 'CONTINUE' });
    expect((await fleet.list(ref)).find((i) => i.instanceId === warm)?.lifecycleState).toBe('InService');

    // a smaller pool: the extra warm host leaves, the group's hosts stay
    const down = await fleet.scale({ group: 'demo', count: 2, warmPool: 0 });
    expect(down.removing).toEqual(up.warmed);
    clock.now += 2_000;
    expect((await fleet.list(ref)).map((i) => i.lifecycleState).sort()).toEqual(['InService', 'InService']);
  });

  it('scaling down takes the newest hosts: Terminating first, then they leave the group', async () => {
    const { added: first } = await fleet.scale({ group: 'demo', count: 2, lifecycleState: 'InService', create: true });
    clock.now += 1_000;
    const { added: newer } = await fleet.scale({ group: 'demo', count: 4 });
    const { removing } = await fleet.scale({ group: 'demo', count: 2 });
    expect(removing.sort()).toEqual([...newer].sort());

    const listed = await fleet.list(ref);
    expect(listed).toHaveLength(4);
    for (const id of newer) expect(listed.find((i) => i.instanceId === id)?.lifecycleState).toBe('Terminating');
    // Terminating hosts do not count: scaling to 2 again changes nothing
    expect((await fleet.scale({ group: 'demo', count: 2 })).removing).toEqual([]);

    clock.now += 2_000;
    const later = await fleet.list(ref);
    expect(later.map((i) => i.instanceId).sort()).toEqual([...first].sort());
    expect((await groupFile()).groups.demo).toHaveLength(2);
    for (const id of newer) {
      expect(await exists(path.join(home, 'hosts', id))).toBe(false);
      expect(await exists(path.join(home, 'hosts', '.terminated', id))).toBe(true);
    }
  });

  it('markUnhealthy sends a host Terminating; nothing replaces it', async () => {
    const { added } = await fleet.scale({ group: 'demo', count: 2, lifecycleState: 'InService', create: true });
    await fleet.markUnhealthy({ ref, instanceId: added[0]! });
    expect((await fleet.list(ref)).find((i) => i.instanceId === added[0])?.lifecycleState).toBe('Terminating');
    clock.now += 2_000;
    expect((await fleet.list(ref)).map((i) => i.instanceId)).toEqual([added[1]]);
  });

  it('an unknown group or a missing group file is NotFound, with what to do', async () => {
    await expect(fleet.list(ref)).rejects.toThrow(/no local group demo .*no local groups yet: start the embedded controller once with `npm start`/);
    await fleet.scale({ group: 'web', count: 1, create: true });
    await expect(fleet.list(ref)).rejects.toThrow(/no local group demo .*\(local groups: web\)/);
    await expect(fleet.scale({ group: 'demo', count: 2 })).rejects.toBeInstanceOf(NotFoundError);
  });

  it('a group file that is not what it should be is reported with its path and the fix', async () => {
    await fleet.scale({ group: 'demo', count: 1, create: true });
    await writeFile(path.join(home, 'hosts', 'group.json'), '{"version":1,"groups":{"demo":[{"instanceId":"i-../x"}]}}');
    await expect(fleet.list(ref)).rejects.toThrow(/group\.json: group "demo" must list .*fix or delete/);
  });

  it('writers in parallel (several LocalFleets, as controller and CLI) lose no change', async () => {
    const { added } = await fleet.scale({ group: 'demo', count: 8, create: true });
    const fleets = added.map(() => new LocalFleet({ group: new LocalGroup({ home, clock }), clock }));
    await Promise.all(added.map((id, n) => fleets[n]!.completeLifecycle({ ref, instanceId: id, result: 'CONTINUE' })));
    const listed = await fleet.list(ref);
    expect(listed.filter((i) => i.lifecycleState === 'InService')).toHaveLength(8);
    expect(await exists(path.join(home, 'hosts', 'group.json.lock'))).toBe(false);
  });

  it('a lock left by a process that has exited is broken; a live holder makes writers wait, then fail clearly', async () => {
    await fleet.scale({ group: 'demo', count: 1, create: true });
    const lock = path.join(home, 'hosts', 'group.json.lock');
    const exited = spawnSync(process.execPath, ['-e', '0']).pid;
    await writeFile(lock, `${exited}\n`);
    await fleet.scale({ group: 'demo', count: 2 });
    expect((await fleet.list(ref))).toHaveLength(2);

    await writeFile(lock, `${process.pid}\n`);
    const impatient = new LocalFleet({ group: new LocalGroup({ home, clock: new ManualClock(clock.now), lockWaitMs: 0 }), clock });
    await expect(impatient.scale({ group: 'demo', count: 3 })).rejects.toThrow(`stays locked by process ${process.pid}`);
    expect((await fleet.list(ref))).toHaveLength(2);
  });

  it('refuses a home whose host folders could not be destinations', () => {
    expect(homeProblem('/tmp/has space')).toMatch(/cannot hold the local fleet.*letters, digits and \. _ - \//);
    expect(homeProblem('relative/home')).toMatch(/must be an absolute path/);
    expect(homeProblem(`/tmp/${'x'.repeat(240)}`)).toMatch(/at most 256 characters/);
    expect(homeProblem('/tmp/ok-home_1.0')).toBeUndefined();
    // the hosts' folders are sync destinations, and no destination may be inside a system folder
    expect(homeProblem('/usr/src/app/.fleetsync')).toMatch(/is inside the system folder \/usr: .*set FLEETSYNC_HOME to a folder outside/);
    expect(homeProblem('/root/fleetsync/.fleetsync')).toMatch(/is inside the system folder \/root/);
    expect(() => new LocalGroup({ home: '/tmp/$(touch x)', clock })).toThrow(/cannot hold the local fleet/);
  });
});
