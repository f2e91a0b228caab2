/**
 * `fleetsync promote` (and `resume` of a step pause) end to end on dynalite: the request goes in the spec for
 * the step the status shows, with history, a repeat writes nothing, and a fleet with no stepped rollout is
 * refused with exit 1. `status` shows the step.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoStore } from '../../controller/aws/dynamoStore.ts';
import type { Store } from '../../controller/ports/store.ts';
import type { FleetStatus, StepRecord } from '../../state/spec.ts';
import { startCliBackend, type CliBackend } from '../support/cliBackend.ts';
import { hostRecord, run, statusOf } from './cliHarness.ts';

let backend: CliBackend;
let tables = 0;

beforeAll(async () => {
  backend = await startCliBackend({ prefix: 'promote', revisions: ['rev-a'] });
  await mkdir(backend.dir, { recursive: true });
});

afterAll(async () => {
  await backend.stop();
});

const STEPS = `    steps:
      - hosts: 1
        pauseSeconds: 3600
      - hosts: 50%
`;

interface Table { store: Store; run(argv: string[]): ReturnType<typeof run> }

/** A table with fleet `web` at rev-a, with these steps, and a status at `step` of its rollout. */
async function fleetAt(step: StepRecord | null, steps = STEPS): Promise<Table> {
  const env = { FLEETSYNC_TABLE: `promote-${++tables}` };
  const t: Table = { store: new DynamoStore({ client: backend.db.client(), tableName: env.FLEETSYNC_TABLE }), run: (argv) => run(argv, { env }) };
  expect((await t.run(['init'])).code).toBe(0);
  const file = path.join(backend.dir, `web-${tables}.yaml`);
  await writeFile(file, `apiVersion: fleetsync.dev/v1
kind: Fleet
metadata:
  name: web
spec:
  autoScalingGroupName: web-asg
  source: file://${backend.artifacts}
  destination: /var/www/app
  revision: rev-a
  rollout:
    maxUnavailable: 1
${steps}`);
  const applied = await t.run(['fleet', 'apply', '-f', file]);
  expect(applied.code, applied.stderr).toBe(0);
  const hosts = [hostRecord({ instanceId: 'i-0000000000000001', state: 'inSync', reported: 'rev-a' }),
    hostRecord({ instanceId: 'i-0000000000000002', state: 'queued', reported: 'rev-0', target: 'rev-a' })];
  const status: FleetStatus = {
    ...statusOf({ observedGeneration: 1, desired: 'rev-a', hosts }),
    rollout: { revision: 'rev-a', generation: 1, startedAtMs: 0, inServiceAtStart: 2, ...(step ? { step } : {}) },
  };
  await t.store.putStatus({ fleet: 'web', status, token: 1 });
  for (const host of hosts) await t.store.putHost({ fleet: 'web', host, token: 1 });
  return t;
}

const PAUSED: StepRecord = { index: 0, count: 3, hosts: 1, startedAtMs: 0, doneAtMs: 1_000, pauseUntilMs: Date.now() + 3_600_000 };

describe('promote', () => {
  it('asks the controller to end the pause after the step the status shows, with history; a repeat writes nothing', async () => {
    const t = await fleetAt(PAUSED);
    const status = await t.run(['status', 'web']);
    expect(status.stdout).toMatch(/rollout:\s+paused after step 1\/3\n/);
    expect((await t.run(['status'])).stdout).toMatch(/web .* paused after step 1\/3/);
    expect(status.stdout).toMatch(/step:\s+step 1\/3 \(1 host\) in sync; paused for (59|60)m more \(fleetsync promote web goes on now\)/);
    const json = JSON.parse((await t.run(['status', 'web', '--output', 'json'])).stdout) as { status: FleetStatus };
    expect(json.status.rollout?.step).toEqual(PAUSED);
    const promoted = await t.run(['promote', 'web', '--reason', 'canary looks fine']);
    expect(promoted.code, promoted.stderr).toBe(0);
    expect(promoted.stdout).toContain('fleet web promoted: the pause after step 1/3 (1 host) ends now (generation 2)');
    expect(await t.store.getFleet('web')).toMatchObject({ generation: 2, spec: { rollout: { promote: { revision: 'rev-a', step: 1, rolloutStartedAtMs: 0 } } } });
    const [event] = await t.store.listHistory('web', { limit: 1 });
    expect(event).toMatchObject({ type: 'promote', reason: 'canary looks fine', actor: 'tester@testhost', generation: 2 });
    const again = await t.run(['promote', 'web']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('promoted already');
    expect((await t.store.getFleet('web'))?.generation).toBe(2);
  });

  it('skips the pause of the step still running when asked before it ends', async () => {
    const t = await fleetAt({ index: 0, count: 3, hosts: 1, startedAtMs: 0 });
    const promoted = await t.run(['promote', 'web']);
    expect(promoted.code, promoted.stderr).toBe(0);
    expect(promoted.stdout).toContain('step 1/3 (1 host) goes on to the next step without its 3600s pause');
  });

  it('has nothing to do at a step with no pause', async () => {
    const t = await fleetAt({ index: 1, count: 3, hosts: 1, startedAtMs: 0 });
    const r = await t.run(['promote', 'web']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('fleet web is at step 2/3 (1 host), which has no pause to skip: nothing to promote');
    expect((await t.store.getFleet('web'))?.generation).toBe(1);
  });

  it('refuses a fleet with no steps, or no stepped rollout under way, with exit 1', async () => {
    const plain = await fleetAt(null, '');
    const r = await plain.run(['promote', 'web']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('fleet web has no rollout.steps, so no step pause to promote');
    const notStarted = await fleetAt(null);
    const s = await notStarted.run(['promote', 'web']);
    expect(s.code).toBe(1);
    expect(s.stderr).toContain('fleet web has no stepped rollout of rev-a under way');
  });

  it('resume of a running fleet whose step is still running says so and writes nothing', async () => {
    const t = await fleetAt({ index: 0, count: 3, hosts: 1, startedAtMs: 0 });
    const r = await t.run(['resume', 'web']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('fleet web is already running: nothing to do');
    expect((await t.store.getFleet('web'))?.generation).toBe(1);
  });

  it('resume of a running fleet held by a step pause promotes it', async () => {
    const t = await fleetAt(PAUSED);
    const r = await t.run(['resume', 'web']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('fleet web promoted');
    expect(await t.store.getFleet('web')).toMatchObject({ spec: { rollout: { paused: false, promote: { revision: 'rev-a', step: 1 } } } });
  });
});
