/**
 * spec.checkUser reaches the host: the leader puts it in the sync parameters, and the local fleet passes it to
 * the host script as `--check-user` (SSM's document parameter is tested in test/aws/ssmCommands.test.ts). The
 * script here is a stand-in that records its argv, so this holds whatever the real agent does with the flag.
 */
import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LocalCommands } from '../../controller/local/localCommands.ts';
import { LocalGroup } from '../../controller/local/localGroup.ts';
import { realClock } from '../../controller/clock/realClock.ts';
import type { SendArgs } from '../../controller/ports/commands.ts';
import { startSimController } from '../support/simController.ts';
import { tempHome, waitFor } from './helpers.ts';

let home: string;
let remove: () => Promise<void>;

beforeEach(async () => {
  ({ home, remove } = await tempHome());
});

afterEach(async () => {
  await remove();
});

describe('checkUser', () => {
  it('reaches the host script of a local host as --check-user, after --check', async () => {
    const script = path.join(home, 'record-argv.sh');
    await writeFile(script, [
      '#!/usr/bin/env bash',
      `printf '%s\\n' "$@" > ${JSON.stringify(path.join(home, 'argv.txt'))}`,
      'echo \'FLEETSYNC-RESULT {"revision":"v1","status":"synced"}\'',
    ].join('\n'));
    await chmod(script, 0o755);
    const group = new LocalGroup({ home, clock: realClock });
    const id = 'i-0123456789abcdef0';
    await group.createHostFolder(id);
    const commands = new LocalCommands({ home, clock: realClock, scriptPath: script });
    const { commandId } = await commands.send({
      fleet: 'demo', attemptId: 'att-1', mode: 'sync', instanceIds: [id], timeoutSeconds: 60,
      params: {
        source: `file://${path.join(home, 'artifacts')}`, revision: 'v1', destination: '/srv/demo/app', strategy: 'release',
        excludes: ['media/*'], links: {}, keepReleases: 5, checkCommand: '/usr/local/bin/app-healthcheck', checkUser: 'www-data',
      },
    });
    const results = await waitFor('the command to finish', async () => {
      const r = await commands.results(commandId);
      return r.every((x) => x.status !== 'pending') ? r : undefined;
    });
    await commands.close();
    expect(results).toMatchObject([{ instanceId: id, status: 'success' }]);
    const argv = (await readFile(path.join(home, 'argv.txt'), 'utf8')).split('\n');
    expect(argv.slice(argv.indexOf('--check'), argv.indexOf('--check') + 4))
      .toEqual(['--check', '/usr/local/bin/app-healthcheck', '--check-user', 'www-data']);
  });

  it('goes from the fleet spec into every sync the leader sends, and stays out when the spec has none', async () => {
    const t = startSimController({ hosts: 2, revision: 'v1', syncMs: 1_000 });
    const sent: SendArgs[] = [];
    const send = t.commands.send.bind(t.commands);
    vi.spyOn(t.commands, 'send').mockImplementation((args) => {
      sent.push(args);
      return send(args);
    });
    const check = { command: '/usr/local/bin/app-healthcheck' };
    const record = await t.store.putFleetSpec({ name: 'web', spec: t.spec('v2', { check, checkUser: 'www-data' }), expectedGeneration: 0, nowMs: 0 });
    await t.advance(120_000);
    const syncs = sent.filter((s) => s.mode === 'sync');
    expect(syncs.length).toBeGreaterThan(0);
    for (const s of syncs) expect(s.params).toMatchObject({ checkCommand: check.command, checkUser: 'www-data' });

    sent.length = 0;
    await t.store.putFleetSpec({ name: 'web', spec: t.spec('v3', { check }), expectedGeneration: record.generation, nowMs: t.clock.nowMs() });
    await t.advance(120_000);
    const later = sent.filter((s) => s.mode === 'sync');
    expect(later.length).toBeGreaterThan(0);
    for (const s of later) expect(s.params).not.toHaveProperty('checkUser');
    await t.stop();
  });
});
