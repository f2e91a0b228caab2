/**
 * `fleetsync status FLEET --watch` against a running rollout (issue 6): the CLI on dynalite in pipe mode,
 * a controller (manager over DynamoStore and the simulated adapters, real clock, small timings) rolling out.
 * The watch must print one line per change and end with exit 0 once every host is in sync, or 1 on a halt.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoStore } from '../../controller/aws/dynamoStore.ts';
import { Manager } from '../../controller/manager.ts';
import { realClock } from '../../controller/clock/realClock.ts';
import { DEFAULT_LEADER_SETTINGS } from '../../controller/leader.ts';
import { DEFAULT_SETTINGS } from '../../controller/reconciler/settings.ts';
import { silentLogger } from '../../controller/log.ts';
import { SimWorld } from '../../controller/sim/simWorld.ts';
import { SimFleet } from '../../controller/sim/simFleet.ts';
import { SimCommands } from '../../controller/sim/simCommands.ts';
import { SimTraffic } from '../../controller/sim/simTraffic.ts';
import { seededRandom } from '../../controller/sim/random.ts';
import type { Dynalite } from '../support/dynalite.ts';
import { startCliBackend, type CliBackend } from '../support/cliBackend.ts';
import { run } from '../cli/cliHarness.ts';

let db: Dynalite;
let dir: string;

let backend: CliBackend;

beforeAll(async () => {
  backend = await startCliBackend({ prefix: 'watch', revisions: ['rev-0', 'rev-1', 'rev-2'] });
  ({ db, dir } = backend);
});

afterAll(async () => {
  await backend.stop();
});

interface WatchLine { kind?: string; result?: string; exitCode?: number; status?: { hostCounts?: { inSync: number; total: number } } }

async function withController(table: string, sim: { syncMs: number; probeMs: number; failRate: number },
  body: (cli: (...argv: string[]) => Promise<{ code: number; stdout: string; stderr: string }>) => Promise<void>): Promise<void> {
  const env = { FLEETSYNC_TABLE: table };
  const cli = (...argv: string[]) => run(argv, { env });
  expect((await cli('init')).code).toBe(0);
  const fleetFile = path.join(dir, `${table}.yaml`);
  await writeFile(fleetFile, `apiVersion: fleetsync.dev/v1
kind: Fleet
metadata: { name: web }
spec:
  autoScalingGroupName: web-asg
  source: file://${path.join(dir, 'artifacts')}
  destination: /var/www/app
  revision: rev-0
  rollout: { maxUnavailable: 2, maxAttempts: 1, maxFailures: 1 }
`);
  expect((await cli('fleet', 'apply', '-f', fleetFile)).code).toBe(0);
  const world = new SimWorld({ clock: realClock, random: seededRandom(3), throttleRate: 0, lifecycleHook: true, agentDelayMs: 0, imageRevision: 'rev-0' });
  world.launch(6, { inService: true, revision: 'rev-0' });
  const manager = new Manager({
    store: new DynamoStore({ client: db.client(), tableName: table }), fleetPort: new SimFleet(world),
    commands: new SimCommands(world, sim), traffic: new SimTraffic(world), clock: realClock, random: seededRandom(4),
    holder: `${table}-controller`, log: silentLogger, leader: DEFAULT_LEADER_SETTINGS, fleetScanMs: 200,
    settings: { ...DEFAULT_SETTINGS, resyncMs: 2_000, pollMs: 100, specPollMs: 100, batchWindowMs: 20, statusDebounceMs: 20 },
  });
  const abort = new AbortController();
  const running = manager.run(abort.signal);
  try {
    await body(cli);
  } finally {
    abort.abort();
    await running;
  }
}

describe('fleetsync status --watch against a running rollout', () => {
  it('prints one JSON line per change in a pipe and exits 0 once every host runs the new revision', async () => {
    await withController('watch-ok', { syncMs: 400, probeMs: 50, failRate: 0 }, async (cli) => {
      // the first rollout (every host reports rev-0) has finished before the deploy
      const first = await cli('status', 'web', '--watch', '--output', 'json', '--interval-seconds', '1');
      expect(first.code, first.stderr).toBe(0);
      expect((await cli('deploy', 'web', 'rev-1')).code).toBe(0);
      const watched = await cli('status', 'web', '--watch', '--output', 'json', '--interval-seconds', '1');
      expect(watched.code, watched.stderr).toBe(0);
      const lines = watched.stdout.trim().split('\n').map((l) => JSON.parse(l) as WatchLine);
      // 6 hosts, 2 at a time, 400 ms each: the watch saw the rollout move, not only its end
      expect(lines.length).toBeGreaterThan(2);
      const last = lines.at(-1)!;
      expect(last).toMatchObject({ kind: 'WatchResult', exitCode: 0 });
      const doc = JSON.parse((await cli('status', 'web', '--output', 'json')).stdout) as {
        status: { revision: string }; hosts: Array<{ reportedRevision: string; state: string }>;
      };
      expect(doc.status.revision).toBe('rev-1');
      expect(doc.hosts.map((h) => [h.reportedRevision, h.state])).toEqual(Array(6).fill(['rev-1', 'inSync']));
    });
  });

  it('exits 1 when the rollout halts on a failed host', async () => {
    await withController('watch-halt', { syncMs: 200, probeMs: 50, failRate: 1 }, async (cli) => {
      expect((await cli('deploy', 'web', 'rev-2')).code).toBe(0);
      const watched = await cli('status', 'web', '--watch', '--output', 'json', '--interval-seconds', '1');
      expect(watched.code).toBe(1);
      const last = JSON.parse(watched.stdout.trim().split('\n').at(-1)!) as WatchLine;
      expect(last).toMatchObject({ kind: 'WatchResult', exitCode: 1 });
    });
  });
});
