/** `fleetsync local scale` through main(argv): what it changes in the group file, and its bad-input answers. */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalFleet } from '../../controller/local/localFleet.ts';
import { LocalGroup, type GroupFile } from '../../controller/local/localGroup.ts';
import { realClock } from '../../controller/clock/realClock.ts';
import { run } from '../cli/cliHarness.ts';
import { tempHome } from './helpers.ts';

let home: string;
let remove: () => Promise<void>;

beforeEach(async () => {
  ({ home, remove } = await tempHome());
});

afterEach(async () => {
  await remove();
});

async function demoGroup(): Promise<GroupFile['groups'][string]> {
  return (JSON.parse(await readFile(path.join(home, 'hosts', 'group.json'), 'utf8')) as GroupFile).groups.demo ?? [];
}

describe('fleetsync local scale', () => {
  it('adds hosts in Pending:Wait and names them; says when no controller runs to take them in', async () => {
    await new LocalFleet({ group: new LocalGroup({ home, clock: realClock }), clock: realClock })
      .scale({ group: 'demo', count: 1, lifecycleState: 'InService', create: true });
    const result = await run(['local', 'scale', 'demo', '3'], { env: { FLEETSYNC_HOME: home } });
    expect(result.code, result.stderr).toBe(0);
    const hosts = await demoGroup();
    expect(hosts.map((h) => h.lifecycleState)).toEqual(['InService', 'Pending:Wait', 'Pending:Wait']);
    for (const h of hosts.slice(1)) expect(result.stdout).toContain(`${h.instanceId}  ${path.join(home, 'hosts', h.instanceId)}`);
    expect(result.stdout).toContain('local fleet demo: 1 -> 3 hosts');
    expect(result.stdout).toContain(`no controller is running in ${home}`);

    const same = await run(['local', 'scale', 'demo', '3'], { env: { FLEETSYNC_HOME: home } });
    expect(same.stdout).toContain('already has 3 host(s): nothing to do');

    const down = await run(['local', 'scale', 'demo', '0'], { env: { FLEETSYNC_HOME: home } });
    expect(down.code, down.stderr).toBe(0);
    expect((await demoGroup()).every((h) => h.lifecycleState === 'Terminating')).toBe(true);
  });

  it('--warm-pool keeps hosts in a warm pool beside the fleet, launched into Warmed:Pending:Wait', async () => {
    await new LocalFleet({ group: new LocalGroup({ home, clock: realClock }), clock: realClock })
      .scale({ group: 'demo', count: 1, lifecycleState: 'InService', create: true });
    const result = await run(['local', 'scale', 'demo', '1', '--warm-pool', '2'], { env: { FLEETSYNC_HOME: home } });
    expect(result.code, result.stderr).toBe(0);
    const hosts = await demoGroup();
    expect(hosts.map((h) => h.lifecycleState)).toEqual(['InService', 'Warmed:Pending:Wait', 'Warmed:Pending:Wait']);
    expect(result.stdout).toContain('launched into the warm pool');
    for (const h of hosts.slice(1)) expect(result.stdout).toContain(h.instanceId);
    const tooMany = await run(['local', 'scale', 'demo', '40', '--warm-pool', '20'], { env: { FLEETSYNC_HOME: home } });
    expect(tooMany.code).not.toBe(0);
    expect(tooMany.stderr).toMatch(/warm pool hold from 0 to 50 hosts together/);
  });

  it('FLEETSYNC_HOME defaults to ./.fleetsync', async () => {
    await new LocalFleet({ group: new LocalGroup({ home: path.join(home, '.fleetsync'), clock: realClock }), clock: realClock })
      .scale({ group: 'demo', count: 0, create: true });
    const result = await run(['local', 'scale', 'demo', '1'], { env: {}, cwd: home });
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(await readFile(path.join(home, '.fleetsync', 'hosts', 'group.json'), 'utf8'))).toMatchObject({ groups: { demo: [{ lifecycleState: 'Pending:Wait' }] } });
  });

  it('no local group yet, or another name: exit 1, saying what exists and what to do', async () => {
    const none = await run(['local', 'scale', 'demo', '2'], { env: { FLEETSYNC_HOME: home } });
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no local groups yet: start the embedded controller once with `npm start`');

    await new LocalFleet({ group: new LocalGroup({ home, clock: realClock }), clock: realClock }).scale({ group: 'demo', count: 1, create: true });
    const other = await run(['local', 'scale', 'web', '2'], { env: { FLEETSYNC_HOME: home } });
    expect(other.code).toBe(1);
    expect(other.stderr).toContain('there is no local group web');
    expect(other.stderr).toContain('(local groups: demo)');
  });

  it('bad input exits 2 before anything is written', async () => {
    for (const argv of [['local', 'scale', 'demo', '51'], ['local', 'scale', 'demo', '-1'], ['local', 'scale', 'demo', 'two'],
      ['local', 'scale', 'Demo!', '2'], ['local', 'scale', 'demo']]) {
      const result = await run(argv, { env: { FLEETSYNC_HOME: home } });
      expect(result.code, argv.join(' ')).toBe(2);
    }
    const spaced = path.join(home, 'with space');
    await mkdir(spaced);
    const result = await run(['local', 'scale', 'demo', '2'], { env: { FLEETSYNC_HOME: spaced } });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('cannot hold the local fleet');
    await expect(readFile(path.join(home, 'hosts', 'group.json'))).rejects.toThrow();
  });
});
