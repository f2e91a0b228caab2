/** startEmbedded's guards: the home folder's name, one controller per home, what close() leaves behind. */
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startEmbedded } from '../../controller/embedded.ts';
import { realClock } from '../../controller/clock/realClock.ts';
import { silentLogger } from '../../controller/log.ts';
import { tempHome } from './helpers.ts';

let home: string;
let remove: () => Promise<void>;

beforeEach(async () => {
  ({ home, remove } = await tempHome('fleetsync-embedded-'));
});

afterEach(async () => {
  await remove();
});

const exists = (p: string): Promise<boolean> => stat(p).then(() => true, () => false);

describe('startEmbedded', () => {
  it('refuses a FLEETSYNC_HOME whose host folders could not be sync destinations, before writing anything', async () => {
    const bad = path.join(home, 'my fleet');
    await expect(startEmbedded({ home: bad, log: silentLogger, clock: realClock }))
      .rejects.toThrow(/cannot hold the local fleet.*set FLEETSYNC_HOME to such a folder/);
    expect(await exists(bad)).toBe(false);
  });

  it('takes over from a controller that did not stop cleanly, and close() leaves only the state', async () => {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    await mkdir(home, { recursive: true });
    await writeFile(path.join(home, 'controller.json'), JSON.stringify({ pid: dead, dynamoEndpoint: 'http://127.0.0.1:1', table: 'fleetsync' }));
    await writeFile(path.join(home, 'controller.lock'), `${dead}\n`);

    const embedded = await startEmbedded({ home, log: silentLogger, clock: realClock, httpEndpoint: 'http://127.0.0.1:9999' });
    try {
      expect(JSON.parse(await readFile(path.join(home, 'controller.json'), 'utf8'))).toMatchObject({ pid: process.pid, httpEndpoint: 'http://127.0.0.1:9999' });
      await embedded.announce('http://127.0.0.1:4321');
      expect(JSON.parse(await readFile(path.join(home, 'controller.json'), 'utf8'))).toMatchObject({ httpEndpoint: 'http://127.0.0.1:4321' });
      expect(embedded.describe.join('\n')).toContain('npx fleetsync deploy demo v2');
      expect((await embedded.store.getFleet('demo'))?.spec).toMatchObject({
        source: `file://${path.join(home, 'artifacts')}`, destination: '/srv/demo/app', revision: 'v1',
      });
    } finally {
      await embedded.close();
    }
    expect(await exists(path.join(home, 'controller.json'))).toBe(false);
    expect(await exists(path.join(home, 'controller.lock'))).toBe(false);
    expect((await readdir(home)).sort()).toEqual(['artifacts', 'db', 'hosts']);
  });

  it('a controller.lock held by a live process refuses the start', async () => {
    await mkdir(home, { recursive: true });
    await writeFile(path.join(home, 'controller.lock'), `${process.pid}\n`);
    await expect(startEmbedded({ home, log: silentLogger, clock: realClock }))
      .rejects.toThrow(`a controller already runs in ${home} (pid ${process.pid}): stop it first`);
    expect(await exists(path.join(home, 'db'))).toBe(false);
  });
});
