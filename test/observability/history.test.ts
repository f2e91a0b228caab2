/**
 * History end to end: the operator CLI (apply, deploy, pause, resume, rollback, history) on dynalite in AWS
 * mode, and a controller (manager over DynamoStore and the simulated adapters, real clock, tiny timings) acting
 * on the same table. `fleetsync history` must list every event, newest first.
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
import type { HistoryEvent } from '../../controller/ports/store.ts';
import { SimWorld } from '../../controller/sim/simWorld.ts';
import { SimFleet } from '../../controller/sim/simFleet.ts';
import { SimCommands } from '../../controller/sim/simCommands.ts';
import { SimTraffic } from '../../controller/sim/simTraffic.ts';
import { seededRandom } from '../../controller/sim/random.ts';
import type { FleetStatus } from '../../state/spec.ts';
import type { Dynalite } from '../support/dynalite.ts';
import { startCliBackend, type CliBackend } from '../support/cliBackend.ts';
import { run } from '../cli/cliHarness.ts';

let db: Dynalite;
let dir: string;

let backend: CliBackend;

beforeAll(async () => {
  backend = await startCliBackend({ prefix: 'history', revisions: ['rev-0', 'rev-1', 'rev-2'] });
  ({ db, dir } = backend);
});

afterAll(async () => {
  await backend.stop();
});

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('fleetsync history', () => {
  it('lists a fleet\'s deploys, pauses, rollouts, failures, halts and rollbacks newest first', async () => {
    const env = { FLEETSYNC_TABLE: 'history-test' };
    const cli = async (...argv: string[]): Promise<string> => {
      const result = await run(argv, { env });
      expect(result.code, `${argv.join(' ')}: ${result.stderr}`).toBe(0);
      return result.stdout;
    };
    await cli('init');
    const fleetFile = path.join(dir, 'web.yaml');
    await writeFile(fleetFile, `apiVersion: fleetsync.dev/v1
kind: Fleet
metadata:
  name: web
spec:
  autoScalingGroupName: web-asg
  source: file://${path.join(dir, 'artifacts')}
  destination: /var/www/app
  revision: rev-0
  rollout:
    maxUnavailable: 1
    maxAttempts: 1
    maxFailures: 1
`);
    await cli('fleet', 'apply', '-f', fleetFile);

    const store = new DynamoStore({ client: db.client(), tableName: 'history-test' });
    const world = new SimWorld({
      clock: realClock, random: seededRandom(3), throttleRate: 0, lifecycleHook: true, agentDelayMs: 0, imageRevision: 'rev-0',
    });
    world.launch(3, { inService: true, revision: 'rev-0' });
    const sim = { syncMs: 300, probeMs: 50, failRate: 0 };
    const manager = new Manager({
      store, fleetPort: new SimFleet(world), commands: new SimCommands(world, sim), traffic: new SimTraffic(world),
      clock: realClock, random: seededRandom(4), holder: 'history-test-controller', log: silentLogger,
      settings: {
        ...DEFAULT_SETTINGS, resyncMs: 2_000, pollMs: 100, specPollMs: 100, batchWindowMs: 20, statusDebounceMs: 20,
        backoffBaseMs: 100, backoffCapMs: 500,
      },
      leader: DEFAULT_LEADER_SETTINGS, fleetScanMs: 200,
    });
    const abort = new AbortController();
    const running = manager.run(abort.signal);
    const status = async (): Promise<FleetStatus | null> => store.getStatus('web');
    const finished = (revision: string, generation: number) => async (): Promise<boolean> => {
      const s = await status();
      return s?.observedGeneration === generation && s.rollout?.revision === revision && s.rollout.finishedAtMs !== undefined;
    };
    const events = (): Promise<HistoryEvent[]> => store.listHistory('web', { limit: 100 });
    try {
      await waitFor('rev-0 everywhere', finished('rev-0', 1));
      await cli('deploy', 'web', 'rev-1', '--reason', 'release 1');
      await waitFor('rev-1 everywhere', finished('rev-1', 2));
      await cli('pause', 'web', '--reason', 'checking error rates');
      await cli('resume', 'web');
      sim.failRate = 1;
      await cli('deploy', 'web', 'rev-2');
      await waitFor('the rev-2 rollout to halt', async () => (await events()).some((e) => e.type === 'halted'));
      sim.failRate = 0;
      await cli('rollback', 'web', '--reason', 'rev-2 fails its sync');
      await waitFor('rev-1 everywhere again', finished('rev-1', 6));
    } finally {
      abort.abort();
      await running;
    }

    const listed = JSON.parse(await cli('history', 'web', '--output', 'json', '--limit', '100')) as {
      kind: string; events: Array<HistoryEvent & { at: string }>;
    };
    expect(listed.kind).toBe('FleetHistory');
    const newestFirst = listed.events;
    for (let i = 1; i < newestFirst.length; i++) expect(newestFirst[i]!.atMs).toBeLessThanOrEqual(newestFirst[i - 1]!.atMs);

    const chronological = [...newestFirst].reverse();
    const names = chronological.map((e) => `${e.type} ${e.revision ?? ''}`.trim());
    // a failed host and the halt it causes are recorded apart, in either order
    const failureAt = names.indexOf('hostFailed rev-2');
    expect(names.slice(failureAt, failureAt + 2).sort()).toEqual(['halted rev-2', 'hostFailed rev-2']);
    expect([...names.slice(0, failureAt), 'failure+halt', ...names.slice(failureAt + 2)]).toEqual([
      'apply rev-0', 'rolloutStarted rev-0', 'rolloutFinished rev-0',
      'deploy rev-1', 'rolloutStarted rev-1', 'rolloutFinished rev-1',
      'pause rev-1', 'resume rev-1',
      'deploy rev-2', 'rolloutStarted rev-2', 'failure+halt',
      'rollback rev-1', 'rolloutStarted rev-1', 'rolloutFinished rev-1',
    ]);

    const find = (type: string, revision: string): HistoryEvent & { at: string } => chronological.find((e) => e.type === type && e.revision === revision)!;
    expect(find('deploy', 'rev-1')).toMatchObject({ actor: 'tester@testhost', reason: 'release 1', generation: 2 });
    expect(find('pause', 'rev-1')).toMatchObject({ reason: 'checking error rates', generation: 3 });
    expect(find('rolloutStarted', 'rev-1')).toMatchObject({ actor: 'controller', generation: 2 });
    const done = find('rolloutFinished', 'rev-1');
    expect(done.durationMs).toBeGreaterThan(3 * 300);
    expect(done.durationMs).toBe(done.atMs - find('rolloutStarted', 'rev-1').atMs);
    expect(done.message).toMatch(/^every host runs rev-1 \(3 host\(s\), \d+s\)$/);
    expect(find('hostFailed', 'rev-2')).toMatchObject({ reason: 'sync failed (simulated)', instanceId: expect.stringMatching(/^i-/) });
    expect(find('halted', 'rev-2').reason).toBe('1 host(s) failed at rev-2 (maxFailures 1)');
    expect(find('rollback', 'rev-1')).toMatchObject({ reason: 'rev-2 fails its sync', generation: 6 });
    const applied = find('apply', 'rev-0');
    expect(Math.abs(new Date(applied.at).getTime() - applied.atMs)).toBeLessThan(1_000);

    // the text view: the same events, newest first
    const text = (await cli('history', 'web', '--limit', '100')).trim().split('\n');
    expect(text[0]).toMatch(/^TIME\s+EVENT\s+REVISION/);
    expect(text.slice(1).map((line) => line.split(/\s+/)[1])).toEqual(newestFirst.map((e) => e.type));
    expect(text.find((line) => line.includes('halted'))).toContain('(reason: 1 host(s) failed at rev-2 (maxFailures 1))');
  });
});
