/**
 * Launch events end to end on the embedded default: with a resync of two minutes, `fleetsync local scale` (the
 * CLI, as from another terminal) adds a host, and the controller syncs it and lets it into service within
 * seconds, because the scale left a launch event the fleet's leader took.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbedded, type Embedded } from '../../controller/embedded.ts';
import { Manager } from '../../controller/manager.ts';
import { realClock } from '../../controller/clock/realClock.ts';
import { silentLogger } from '../../controller/log.ts';
import { DEFAULT_SETTINGS } from '../../controller/reconciler/settings.ts';
import type { GroupFile } from '../../controller/local/localGroup.ts';
import { run } from '../cli/cliHarness.ts';
import { tempHome, waitFor } from './helpers.ts';

const RESYNC_MS = 120_000;

let home: string;
let removeHome: () => Promise<void>;
let embedded: Embedded;
let stop: () => Promise<void>;

beforeAll(async () => {
  ({ home, remove: removeHome } = await tempHome('fleetsync-events-'));
  embedded = await startEmbedded({ home, log: silentLogger, clock: realClock, httpEndpoint: 'http://127.0.0.1:1' });
  const manager = new Manager({
    store: embedded.store, fleetPort: embedded.fleetPort, commands: embedded.commands, traffic: embedded.traffic,
    artifacts: embedded.artifacts, launchEvents: embedded.launchEvents, clock: realClock, random: Math.random, holder: `test-${process.pid}`,
    settings: { ...DEFAULT_SETTINGS, resyncMs: RESYNC_MS, pollMs: 200, specPollMs: 200, batchWindowMs: 100, statusDebounceMs: 50 },
    leader: { leaseDurationMs: 2_000, renewDeadlineMs: 1_500, retryPeriodMs: 300 },
    fleetScanMs: 300,
    log: silentLogger,
  });
  const abort = new AbortController();
  const running = manager.run(abort.signal);
  stop = async () => {
    abort.abort();
    await running;
  };
}, 30_000);

afterAll(async () => {
  await stop?.();
  await embedded?.close();
  await removeHome?.();
});

const demo = async (): Promise<GroupFile['groups'][string]> =>
  (JSON.parse(await readFile(path.join(home, 'hosts', 'group.json'), 'utf8')) as GroupFile).groups.demo ?? [];

describe('local launch events, end to end', () => {
  it('a host added by local scale is synced and put in service within seconds, long before the resync', async () => {
    const cli = (...argv: string[]) => run(argv, { env: { FLEETSYNC_HOME: home } });
    await waitFor('the demo fleet in sync at v1', async () => {
      const doc = JSON.parse((await cli('status', 'demo', '--output', 'json')).stdout || '{}') as { status?: { hostCounts?: { inSync: number } } };
      return doc.status?.hostCounts?.inSync === 3;
    }, 20_000);
    const before = (await demo()).map((i) => i.instanceId);

    const startedMs = Date.now();
    const scaled = await cli('local', 'scale', 'demo', '4');
    expect(scaled.code, scaled.stderr).toBe(0);
    const [added] = (await demo()).map((i) => i.instanceId).filter((id) => !before.includes(id));
    await waitFor('the new host in service', async () => (await demo()).find((i) => i.instanceId === added)?.lifecycleState === 'InService', 20_000);
    expect(Date.now() - startedMs).toBeLessThan(RESYNC_MS / 4);
    expect((await readFile(path.join(home, 'hosts', added!, '.fleetsync/REVISION'), 'utf8')).trim()).toBe('v1');
  });
});
