/**
 * The operator CLI end to end on dynalite, in AWS mode (FLEETSYNC_TABLE + AWS_ENDPOINT_URL_DYNAMODB): every
 * command through main(argv), then the table read back with DynamoStore to check what was (and was not) written.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoStore, dynamoKeys } from '../../controller/aws/dynamoStore.ts';
import type { Store } from '../../controller/ports/store.ts';
import type { Dynalite } from '../support/dynalite.ts';
import { startCliBackend, type CliBackend } from '../support/cliBackend.ts';
import { ScriptedClock, hostRecord, run, statusOf } from './cliHarness.ts';

let db: Dynalite;
let dir: string;
let artifacts: string;
let tableCount = 0;

let backend: CliBackend;

beforeAll(async () => {
  backend = await startCliBackend({ prefix: 'cli', revisions: ['rev-a', 'rev-b', 'rev-c'] });
  ({ db, dir } = backend);
  artifacts = backend.artifacts;
  await mkdir(path.join(artifacts, 'rev-empty'), { recursive: true });
});

afterAll(async () => {
  await backend.stop();
});

function fleetYaml(name: string, revision: string, extra = ''): string {
  return `apiVersion: fleetsync.dev/v1
kind: Fleet
metadata:
  name: ${name}
spec:
  autoScalingGroupName: ${name}-asg
  source: file://${artifacts}
  destination: /var/www/app
  revision: ${revision}
  rollout:
    maxUnavailable: 25%
${extra}`;
}

/** Nine levels of nine aliases each: 9^9 strings once expanded, from a file of 1 KB. */
function aliasBomb(): string {
  const lines = ['status:', '  a0: &a0 ["lol"]'];
  for (let i = 1; i <= 9; i++) lines.push(`  a${i}: &a${i} [${Array.from({ length: 9 }, () => `*a${i - 1}`).join(', ')}]`);
  return `${lines.join('\n')}\n`;
}

async function writeFleetFile(name: string, content: string): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, content);
  return file;
}

interface Table {
  env: Record<string, string>;
  store: Store;
  run(argv: string[]): ReturnType<typeof run>;
}

async function freshTable(): Promise<Table> {
  const table = `cli-test-${++tableCount}`;
  const env = { FLEETSYNC_TABLE: table };
  const store = new DynamoStore({ client: db.client(), tableName: table });
  const result = await run(['init'], { env });
  expect(result.code, result.stderr).toBe(0);
  return { env, store, run: (argv) => run(argv, { env }) };
}

/** A table with fleet `web` applied at rev-a (generation 1). */
async function withFleet(): Promise<Table> {
  const t = await freshTable();
  const file = await writeFleetFile(`web-${tableCount}.yaml`, fleetYaml('web', 'rev-a'));
  const applied = await t.run(['fleet', 'apply', '-f', file]);
  expect(applied.code, applied.stderr).toBe(0);
  return t;
}

/** Everything the CLI may write, to compare before and after a refused command. */
async function snapshot(store: Store): Promise<string> {
  const { fleets } = await store.listFleets();
  const history = await Promise.all(fleets.map((f) => store.listHistory(f.name)));
  return JSON.stringify({ fleets, history });
}

describe('init', () => {
  it('creates the table, and a second run finds it active and changes nothing', async () => {
    const env = { FLEETSYNC_TABLE: `cli-init-${++tableCount}` };
    const first = await run(['init'], { env });
    expect(first).toMatchObject({ code: 0 });
    expect(first.stdout).toMatch(/created DynamoDB table cli-init-\d+/);
    const second = await run(['init'], { env });
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/already exists and is active/);
    const described = await db.client().send(new DescribeTableCommand({ TableName: env.FLEETSYNC_TABLE }));
    expect(described.Table?.TableStatus).toBe('ACTIVE');
  });

  it('--table picks the table too, and commands before init say to run it', async () => {
    const table = `cli-table-${++tableCount}`;
    const before = await run(['status', '--table', table]);
    expect(before.code).toBe(1);
    expect(before.stderr).toContain(`table ${table} does not exist`);
    expect(before.stderr).toContain('fleetsync init');
    expect((await run(['--table', table, 'init'])).code).toBe(0);
    expect((await run(['status', '--table', table])).stdout).toContain('no fleets yet');
  });
});

describe('fleet apply and list', () => {
  it('creates a fleet from YAML at generation 1, records who asked, and bumps the generation on a change', async () => {
    const t = await freshTable();
    const file = await writeFleetFile('apply.yaml', fleetYaml('web', 'rev-a'));
    const created = await t.run(['fleet', 'apply', '-f', file, '--reason', 'first setup']);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toContain('fleet web created at revision rev-a (generation 1)');
    const record = await t.store.getFleet('web');
    expect(record).toMatchObject({ name: 'web', generation: 1, spec: { revision: 'rev-a', autoScalingGroupName: 'web-asg' } });
    expect(record?.spec.rollout.maxUnavailable).toBe('25%');
    expect(record?.spec.excludes).toEqual(['media/*', 'var/*']);

    const again = await t.run(['fleet', 'apply', '-f', file]);
    expect(again.stdout).toContain('fleet web unchanged (generation 1)');
    expect((await t.store.getFleet('web'))?.generation).toBe(1);

    // JSON is accepted too
    const json = await writeFleetFile('apply.json', JSON.stringify({
      apiVersion: 'fleetsync.dev/v1', kind: 'Fleet', metadata: { name: 'web' },
      spec: { autoScalingGroupName: 'web-asg', source: `file://${artifacts}`, destination: '/var/www/app', revision: 'rev-a',
        rollout: { maxUnavailable: 2 } },
    }));
    const changed = await t.run(['fleet', 'apply', '-f', json, '--actor', 'alice@ops']);
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.stdout).toContain('fleet web updated: rollout (generation 2)');
    expect((await t.store.getFleet('web'))?.spec.rollout.maxUnavailable).toBe(2);

    const history = await t.store.listHistory('web');
    expect(history.map((e) => [e.type, e.actor, e.generation])).toEqual([
      ['apply', 'alice@ops', 2],
      ['apply', 'tester@testhost', 1],
    ]);
    expect(history[1]?.reason).toBe('first setup');
  });

  it('a hand-edited spec item nobody can read: status names it, apply replaces it at its generation', async () => {
    const t = await withFleet();
    const doc = DynamoDBDocumentClient.from(db.client());
    await doc.send(new PutCommand({
      TableName: t.env.FLEETSYNC_TABLE,
      Item: { ...dynamoKeys.fleetSpec('broken'), name: 'broken', generation: 3, spec: { revision: 42 }, updatedAtMs: 0 },
    }));
    const status = await t.run(['status']);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/web\s+rev-a/);
    expect(status.stdout).toContain('unreadable item fleet broken');
    const file = await writeFleetFile('broken.yaml', fleetYaml('broken', 'rev-a'));
    const apply = await t.run(['fleet', 'apply', '-f', file]);
    expect(apply.code, apply.stderr).toBe(0);
    expect(apply.stdout).toContain('unreadable spec replaced (generation 4)');
    expect((await t.store.getFleet('broken'))?.spec.revision).toBe('rev-a');
    expect((await t.store.listHistory('broken'))[0]?.message).toContain('replaced an unreadable spec (generation 3)');
  });

  it('a spec item without even a readable generation: apply says to fix it by hand (exit 1), writes nothing', async () => {
    const t = await withFleet();
    const doc = DynamoDBDocumentClient.from(db.client());
    await doc.send(new PutCommand({
      TableName: t.env.FLEETSYNC_TABLE,
      Item: { ...dynamoKeys.fleetSpec('broken'), name: 'broken', generation: 'three', spec: { revision: 42 }, updatedAtMs: 0 },
    }));
    const file = await writeFleetFile('broken.yaml', fleetYaml('broken', 'rev-a'));
    const apply = await t.run(['fleet', 'apply', '-f', file]);
    expect(apply.code).toBe(1);
    expect(apply.stderr).toContain('the spec item of fleet broken cannot be read');
    expect(apply.stderr).toContain('fix or delete');
    expect(await t.store.listHistory('broken')).toEqual([]);
  });

  it('lists fleets as a table and as a FleetList', async () => {
    const t = await withFleet();
    const text = await t.run(['fleet', 'list']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/NAME\s+GENERATION\s+GROUP/);
    expect(text.stdout).toMatch(/web\s+1\s+web-asg\s+file:\/\/\S+\s+rev-a\s+no/);
    const json = JSON.parse((await t.run(['fleet', 'list', '-o', 'json'])).stdout) as { kind: string; items: Array<{ metadata: { name: string } }> };
    expect(json.kind).toBe('FleetList');
    expect(json.items.map((i) => i.metadata.name)).toEqual(['web']);
  });
});

describe('deploy', () => {
  it('sets the desired revision with a new generation and a deploy event', async () => {
    const t = await withFleet();
    const result = await t.run(['deploy', 'web', 'rev-b', '--actor', 'bob@laptop', '--reason', 'release 42']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('deploying rev-b (was rev-a), generation 2');
    expect(await t.store.getFleet('web')).toMatchObject({ generation: 2, spec: { revision: 'rev-b' } });
    const [event] = await t.store.listHistory('web', { limit: 1 });
    expect(event).toMatchObject({ type: 'deploy', revision: 'rev-b', actor: 'bob@laptop', reason: 'release 42', generation: 2 });
  });

  it('refuses a missing or empty revision with exit 1, naming the revision and where it looked; --force skips the check', async () => {
    const t = await withFleet();
    const before = await snapshot(t.store);
    const missing = await t.run(['deploy', 'web', 'rev-missing']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('revision rev-missing has no manifest.json and no files at');
    expect(missing.stderr).toContain(path.join(artifacts, 'rev-missing'));
    expect(missing.stderr).toContain('--force');
    const empty = await t.run(['deploy', 'web', 'rev-empty']);
    expect(empty.code).toBe(1);
    expect(empty.stderr).toContain(path.join(artifacts, 'rev-empty'));
    expect(await snapshot(t.store)).toBe(before);

    const forced = await t.run(['deploy', 'web', 'rev-missing', '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect((await t.store.getFleet('web'))?.spec.revision).toBe('rev-missing');
  });

  it('a deploy of the revision already desired writes nothing', async () => {
    const t = await withFleet();
    const before = await snapshot(t.store);
    const same = await t.run(['deploy', 'web', 'rev-a']);
    expect(same.code).toBe(0);
    expect(same.stdout).toContain('already wants revision rev-a');
    expect(await snapshot(t.store)).toBe(before);
  });

  it('a fleet that does not exist fails with exit 1 and says how to create one', async () => {
    const t = await withFleet();
    const result = await t.run(['deploy', 'api', 'rev-b']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('there is no fleet named api');
    expect(result.stderr).toContain('fleet apply');
  });
});

describe('status', () => {
  async function observed(t: Table): Promise<void> {
    await t.run(['deploy', 'web', 'rev-b']);
    const hosts = [
      hostRecord({ instanceId: 'i-0000000000000001', state: 'inSync', reported: 'rev-b' }),
      hostRecord({ instanceId: 'i-0000000000000002', state: 'syncing', reported: 'rev-a', target: 'rev-b', attempt: 1 }),
      hostRecord({ instanceId: 'i-0000000000000003', state: 'failed', reported: 'rev-a', target: 'rev-b', attempt: 3, lastError: 'disk full' }),
    ];
    for (const host of hosts) await t.store.putHost({ fleet: 'web', host, token: 1 });
    await t.store.putStatus({ fleet: 'web', token: 1, status: statusOf({ observedGeneration: 2, desired: 'rev-b', reached: 'rev-a', hosts }) });
  }

  it('--output json prints the Fleet resource with its hosts', async () => {
    const t = await withFleet();
    await observed(t);
    const result = await t.run(['status', 'web', '--output', 'json']);
    expect(result.code, result.stderr).toBe(0);
    const doc = JSON.parse(result.stdout) as Record<string, unknown> & { hosts: Array<Record<string, unknown>> };
    expect(Object.keys(doc)).toEqual(['apiVersion', 'kind', 'metadata', 'spec', 'status', 'hosts']);
    expect(doc).toMatchObject({
      apiVersion: 'fleetsync.dev/v1', kind: 'Fleet', metadata: { name: 'web', generation: 2 },
      spec: { revision: 'rev-b' },
      status: { observedGeneration: 2, revision: 'rev-a', hostCounts: { total: 3, inSync: 1, syncing: 1, failed: 1 } },
    });
    expect(doc.hosts).toHaveLength(3);
    expect(Object.keys(doc.hosts[0]!).sort()).toEqual(
      ['attempt', 'commandId', 'instanceId', 'lastError', 'lifecycleState', 'reportedRevision', 'since', 'state', 'targetRevision']);
    expect(doc.hosts[2]).toMatchObject({ instanceId: 'i-0000000000000003', state: 'failed', lastError: 'disk full', attempt: 3 });
  });

  it('--output yaml prints the same document as json', async () => {
    const t = await withFleet();
    await observed(t);
    const json = JSON.parse((await t.run(['status', 'web', '-o', 'json'])).stdout) as unknown;
    const yaml = await t.run(['status', 'web', '-o', 'yaml']);
    expect(yaml.code).toBe(0);
    expect(parseYaml(yaml.stdout)).toEqual(json);
  });

  it('the yaml of status applies back unchanged (status and hosts are ignored)', async () => {
    const t = await withFleet();
    await observed(t);
    const file = await writeFleetFile('roundtrip.yaml', (await t.run(['status', 'web', '-o', 'yaml'])).stdout);
    const applied = await t.run(['fleet', 'apply', '-f', file]);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toContain('fleet web unchanged (generation 2)');
  });

  it('text shows the revisions, the counts, the conditions and a row per host', async () => {
    const t = await withFleet();
    await observed(t);
    const result = await t.run(['status', 'web']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/desired:\s+rev-b/);
    expect(result.stdout).toMatch(/reached:\s+rev-a/);
    expect(result.stdout).toContain('3 total: 1 in sync, 1 syncing, 0 queued, 1 failed, 0 launching');
    expect(result.stdout).toMatch(/Degraded\s+True\s+HostsFailed/);
    expect(result.stdout).toMatch(/i-0000000000000003\s+InService\s+failed\s+rev-a\s+rev-b\s+3\s+\S+\s+disk full/);
  });

  it('text says how old the status is, and warns when the controller has not confirmed it for minutes', async () => {
    const t = await withFleet();
    await observed(t);
    const status = (await t.store.getStatus('web'))!;
    const clock = new ScriptedClock([]);
    await t.store.putStatus({ fleet: 'web', token: 1, status: { ...status, observedAt: new Date(clock.now - 20_000).toISOString() } });
    const fresh = await run(['status', 'web'], { env: t.env, clock });
    expect(fresh.stdout).toMatch(/observed:\s+20s ago\n/);
    clock.now += 600_000;
    const stale = await run(['status', 'web'], { env: t.env, clock });
    expect(stale.stdout).toMatch(/observed:\s+10m ago: older than the controller leaves it; is a controller running for this table\?/);
  });

  it('text shows a published revision\'s size beside the desired revision once the rollout has read it', async () => {
    const t = await withFleet();
    await observed(t);
    expect((await t.run(['status', 'web'])).stdout).toMatch(/desired:\s+rev-b\n/);
    const status = await t.store.getStatus('web');
    await t.store.putStatus({ fleet: 'web', token: 1, status: {
      ...status!, rollout: { revision: 'rev-b', generation: 2, startedAtMs: 1_700_000_000_000, inServiceAtStart: 3, files: 2000, bytes: 1_734_567 },
    } });
    expect((await t.run(['status', 'web'])).stdout).toMatch(/desired:\s+rev-b \(2000 files, 1\.7 MB\)\n/);
  });

  it('without a fleet: a FleetList in json, a table in text; a fleet not yet observed says so', async () => {
    const t = await withFleet();
    const file = await writeFleetFile('api.yaml', fleetYaml('api', 'rev-a'));
    await t.run(['fleet', 'apply', '-f', file]);
    const list = JSON.parse((await t.run(['status', '-o', 'json'])).stdout) as { kind: string; items: Array<{ metadata: { name: string }; hosts: unknown[] }> };
    expect(list.kind).toBe('FleetList');
    expect(list.items.map((i) => i.metadata.name)).toEqual(['api', 'web']);
    expect(list.items[0]?.hosts).toEqual([]);
    const text = await t.run(['status']);
    expect(text.stdout).toMatch(/NAME\s+DESIRED\s+REACHED/);
    expect(text.stdout).toMatch(/web\s+rev-a/);
    expect((await t.run(['status', 'web'])).stdout).toContain('not observed yet');
  });
});

describe('status --watch', () => {
  it('follows a rollout written by a controller and exits 0 once every host is in sync', async () => {
    const t = await withFleet();
    await t.run(['deploy', 'web', 'rev-b']);
    const ids = ['i-0000000000000001', 'i-0000000000000002'];
    const observe = async (states: Array<'syncing' | 'done'>): Promise<void> => {
      const hosts = states.map((s, i) => s === 'done'
        ? hostRecord({ instanceId: ids[i]!, state: 'inSync', reported: 'rev-b' })
        : hostRecord({ instanceId: ids[i]!, state: 'syncing', reported: 'rev-a', target: 'rev-b', attempt: 1 }));
      for (const host of hosts) await t.store.putHost({ fleet: 'web', host, token: 1 });
      await t.store.putStatus({ fleet: 'web', token: 1, status: statusOf({ observedGeneration: 2, desired: 'rev-b', hosts }) });
    };
    const clock = new ScriptedClock([() => observe(['syncing', 'syncing']), () => observe(['done', 'syncing']), () => observe(['done', 'done'])]);
    const result = await run(['status', 'web', '--watch', '--output', 'json', '--interval-seconds', '5'], { env: t.env, clock });
    expect(result.code, result.stderr).toBe(0);
    expect(clock.sleeps).toEqual([5_000, 5_000, 5_000]);
    const lines = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as { kind: string; hosts?: unknown[] });
    expect(lines.map((l) => l.kind)).toEqual(['Fleet', 'Fleet', 'Fleet', 'Fleet', 'WatchResult']);
    expect(lines.at(-1)).toMatchObject({ result: 'finished', exitCode: 0 });
  });

  it('exits 1 when the rollout halts', async () => {
    const t = await withFleet();
    await t.run(['deploy', 'web', 'rev-b']);
    const hosts = [hostRecord({ instanceId: 'i-0000000000000001', state: 'queued', reported: 'rev-a' })];
    const clock = new ScriptedClock([async () => {
      await t.store.putStatus({ fleet: 'web', token: 1, status: statusOf({ observedGeneration: 2, desired: 'rev-b', hosts, halted: true }) });
    }]);
    const result = await run(['status', 'web', '--watch'], { env: t.env, clock });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('halted');
  });

  it('needs one fleet and a line format: exit 2 otherwise', async () => {
    const t = await withFleet();
    expect((await t.run(['status', '--watch'])).stderr).toContain('--watch follows one fleet');
    expect((await t.run(['status', '--watch'])).code).toBe(2);
    expect((await t.run(['status', 'web', '--watch', '-o', 'yaml'])).code).toBe(2);
    expect((await t.run(['status', 'web', '--watch', '--interval-seconds', '0'])).code).toBe(2);
  });
});

describe('pause and resume', () => {
  it('toggle spec.rollout.paused with history, and a repeat writes nothing', async () => {
    const t = await withFleet();
    const paused = await t.run(['pause', 'web', '--reason', 'error rates']);
    expect(paused.code, paused.stderr).toBe(0);
    expect(await t.store.getFleet('web')).toMatchObject({ generation: 2, spec: { rollout: { paused: true } } });
    const before = await snapshot(t.store);
    expect((await t.run(['pause', 'web'])).stdout).toContain('already paused');
    expect(await snapshot(t.store)).toBe(before);
    const resumed = await t.run(['resume', 'web']);
    expect(resumed.code).toBe(0);
    expect(await t.store.getFleet('web')).toMatchObject({ generation: 3, spec: { rollout: { paused: false } } });
    const types = (await t.store.listHistory('web')).map((e) => [e.type, e.reason]);
    expect(types.slice(0, 2)).toEqual([['resume', undefined], ['pause', 'error rates']]);
  });
});

describe('rollback', () => {
  it('goes back to the last revision the whole fleet reached when the rollout has not reached the desired one', async () => {
    const t = await withFleet();
    await t.run(['deploy', 'web', 'rev-b']);
    await t.run(['deploy', 'web', 'rev-c']);
    // the fleet finished rev-a; rev-b and rev-c never completed
    await t.store.putStatus({ fleet: 'web', token: 1, status: statusOf({ observedGeneration: 3, desired: 'rev-c', reached: 'rev-a', hosts: [] }) });
    const result = await t.run(['rollback', 'web', '--reason', '500s']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('rolling back from rev-c to rev-a');
    expect(await t.store.getFleet('web')).toMatchObject({ generation: 4, spec: { revision: 'rev-a' } });
    expect((await t.store.listHistory('web', { limit: 1 }))[0]).toMatchObject({ type: 'rollback', revision: 'rev-a', reason: '500s' });
  });

  it('goes back to the revision before the last deploy (per history) once the fleet reached the desired one', async () => {
    const t = await withFleet();
    await t.run(['deploy', 'web', 'rev-b']);
    await t.store.putStatus({ fleet: 'web', token: 1, status: statusOf({ observedGeneration: 2, desired: 'rev-b', reached: 'rev-b', hosts: [] }) });
    const result = await t.run(['rollback', 'web']);
    expect(result.code, result.stderr).toBe(0);
    expect((await t.store.getFleet('web'))?.spec.revision).toBe('rev-a');
  });

  it('refuses with exit 1 when there is nothing to go back to', async () => {
    const t = await withFleet();
    const before = await snapshot(t.store);
    const result = await t.run(['rollback', 'web']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('no earlier revision to roll back to');
    expect(await snapshot(t.store)).toBe(before);
  });
});

describe('history', () => {
  it('lists events newest first, honours --limit and prints json', async () => {
    const t = await withFleet();
    await t.run(['deploy', 'web', 'rev-b', '--reason', 'release 42']);
    await t.run(['pause', 'web']);
    const text = await t.run(['history', 'web']);
    expect(text.code).toBe(0);
    const rows = text.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/TIME\s+EVENT\s+REVISION/);
    expect(rows.slice(1).map((r) => r.split(/\s+/)[1])).toEqual(['pause', 'deploy', 'apply']);
    expect(text.stdout).toContain('(reason: release 42)');
    const limited = await t.run(['history', 'web', '--limit', '1', '-o', 'json']);
    const doc = JSON.parse(limited.stdout) as { kind: string; events: Array<{ type: string; actor: string }> };
    expect(doc.kind).toBe('FleetHistory');
    expect(doc.events).toEqual([expect.objectContaining({ type: 'pause', actor: 'tester@testhost' })]);
  });
});

describe('retry', () => {
  it('writes a retry request for a failed host into the spec, never the host status', async () => {
    const t = await withFleet();
    const failed = hostRecord({ instanceId: 'i-0abc0abc0abc0abc0', state: 'failed', reported: 'rev-a', target: 'rev-b', attempt: 3, lastError: 'sync failed' });
    await t.store.putHost({ fleet: 'web', host: failed, token: 1 });
    const result = await t.run(['retry', 'web', 'i-0abc0abc0abc0abc0', '--reason', 'disk cleaned']);
    expect(result.code, result.stderr).toBe(0);
    const record = await t.store.getFleet('web');
    expect(record?.generation).toBe(2);
    const requestId = record?.spec.retries['i-0abc0abc0abc0abc0'];
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect((await t.store.listHosts('web')).hosts).toEqual([failed]);
    expect((await t.store.listHistory('web', { limit: 1 }))[0]).toMatchObject({ type: 'retry', instanceId: 'i-0abc0abc0abc0abc0', reason: 'disk cleaned' });

    // a second retry is a new request
    await t.run(['retry', 'web', 'i-0abc0abc0abc0abc0']);
    expect((await t.store.getFleet('web'))?.spec.retries['i-0abc0abc0abc0abc0']).not.toBe(requestId);
  });

  it('keeps only the requests still waiting: those the controller acted on and those of departed hosts are dropped', async () => {
    const t = await withFleet();
    const ids = ['i-0abc0abc0abc0abc1', 'i-0abc0abc0abc0abc2', 'i-0abc0abc0abc0abc3'];
    for (const id of ids) {
      await t.store.putHost({ fleet: 'web', host: hostRecord({ instanceId: id, state: 'failed', reported: 'rev-a', target: 'rev-b', attempt: 3 }), token: 1 });
    }
    for (const id of ids) expect((await t.run(['retry', 'web', id])).code).toBe(0);
    const requests = (await t.store.getFleet('web'))!.spec.retries;
    expect(Object.keys(requests).sort()).toEqual(ids);
    // the controller acted on the first request (the host took it); the second host left the group
    const acted = hostRecord({ instanceId: ids[0]!, state: 'failed', reported: 'rev-a', target: 'rev-b', attempt: 3 });
    acted.context.retryRequestId = requests[ids[0]!]!;
    await t.store.putHost({ fleet: 'web', host: acted, token: 1 });
    await t.store.deleteHost({ fleet: 'web', instanceId: ids[1]!, token: 1 });
    expect((await t.run(['retry', 'web', ids[2]!])).code).toBe(0);
    expect(Object.keys((await t.store.getFleet('web'))!.spec.retries)).toEqual([ids[2]]);
  });

  it('refuses an unknown host and a host that has not failed, with exit 1 and nothing written', async () => {
    const t = await withFleet();
    await t.store.putHost({ fleet: 'web', host: hostRecord({ instanceId: 'i-0000000000000001', state: 'inSync', reported: 'rev-a' }), token: 1 });
    const before = await snapshot(t.store);
    const unknown = await t.run(['retry', 'web', 'i-00000000000000ff']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('has no host i-00000000000000ff');
    const healthy = await t.run(['retry', 'web', 'i-0000000000000001']);
    expect(healthy.code).toBe(1);
    expect(healthy.stderr).toContain('is inSync, not failed');
    expect(await snapshot(t.store)).toBe(before);
  });
});

describe('fleet apply: one Auto Scaling group, one fleet', () => {
  it('refuses a second fleet naming a group another fleet already has, with exit 1 and nothing written', async () => {
    const t = await withFleet();
    const before = await snapshot(t.store);
    const file = await writeFleetFile(`api-${tableCount}.yaml`, fleetYaml('api', 'rev-a').replace('autoScalingGroupName: api-asg', 'autoScalingGroupName: web-asg'));
    const result = await t.run(['fleet', 'apply', '-f', file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('web-asg');
    expect(result.stderr).toContain('fleet web');
    expect(await snapshot(t.store)).toBe(before);
  });
});

describe('bad input exits 2 and writes nothing', () => {
  it.each([
    ['a fleet name with capitals', ['deploy', 'Web_Prod', 'rev-b'], 'fleet name "Web_Prod" is not valid'],
    ['a revision with a slash', ['deploy', 'web', '../etc'], 'revision "../etc" is not valid'],
    ['a revision with a space', ['deploy', 'web', 'rev b'], 'revision "rev b" is not valid'],
    ['a revision starting with a dash', ['deploy', 'web', '--', '-rev'], 'revision "-rev" is not valid'],
    ['an instance id that is not one', ['retry', 'web', 'i-XYZ'], 'instance id "i-XYZ" is not valid'],
    ['a bad fleet name to pause', ['pause', 'web;rm -rf /'], 'is not valid'],
    ['a fleet name with a dot to rollback', ['rollback', 'web.prod'], 'fleet name "web.prod" is not valid'],
    ['a fleet name that looks like an option', ['rollback', '-web'], "unknown option '-web'"],
    ['an unknown option', ['deploy', 'web', 'rev-b', '--forse'], "unknown option '--forse'"],
    ['a missing argument', ['deploy', 'web'], "missing required argument 'revision'"],
    ['an unknown output format', ['status', 'web', '-o', 'xml'], 'use one of text, json, yaml'],
    ['a limit of 0', ['history', 'web', '--limit', '0'], 'whole number from 1 to 1000'],
    ['an actor with a newline', ['pause', 'web', '--actor', 'bob\nx'], '--actor'],
    ['an unknown command', ['deplyo', 'web', 'rev-b'], "unknown command 'deplyo'"],
    ['apply without a file', ['fleet', 'apply'], "required option '-f, --file <file>' not specified"],
  ])('%s', async (_what, argv, message) => {
    const t = await withFleet();
    const before = await snapshot(t.store);
    const result = await t.run(argv);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(await snapshot(t.store)).toBe(before);
  });

  // contents are built when the test runs: the artifacts folder is made in beforeAll
  it.each([
    ['a fleet name with an underscore', () => fleetYaml('web_prod', 'rev-a'), 'metadata.name "web_prod" is not valid'],
    ['a destination with ..', () => fleetYaml('web', 'rev-a').replace('/var/www/app', '/var/www/../../etc'), 'must not contain a ".." segment'],
    ['a system folder', () => fleetYaml('web', 'rev-a').replace('/var/www/app', '/etc'), 'is the system folder /etc'],
    ['a folder inside a system folder', () => fleetYaml('web', 'rev-a').replace('/var/www/app', '/etc/cron.d'),
      'spec.destination "/etc/cron.d" is inside the system folder /etc'],
    ['a shared root', () => fleetYaml('web', 'rev-a').replace('/var/www/app', '/srv'), 'spec.destination "/srv" is a shared system folder'],
    ['a release exclude that is no whole folder', () => fleetYaml('web', 'rev-a', '  excludes: ["media/*", "*.log"]\n'),
      'spec.excludes[1] "*.log" is not a whole folder: with strategy release each exclude must read FOLDER/*'],
    ['a checkUser without a check', () => fleetYaml('web', 'rev-a', '  checkUser: www-data\n'),
      'spec.checkUser needs a check to run as that user: add check: { command: /absolute/path/to/program }, or remove checkUser'],
    ['a checkUser that is no Linux user name', () => fleetYaml('web', 'rev-a', '  check: { command: /usr/local/bin/check }\n  checkUser: WWW\n'),
      'spec.checkUser "WWW" is not valid: use a Linux user name'],
    ['a revision with a quote', () => fleetYaml('web', "\"rev'a\""), 'spec.revision'],
    ['a revision that YAML reads as a number', () => fleetYaml('web', '1234567'), 'quote a value that looks like a number'],
    ['an unknown field', () => `${fleetYaml('web', 'rev-b')}    maxUnavaliable: 3\n`, 'spec.rollout.maxUnavaliable is not a known field'],
    ['a source that is neither s3 nor file', () => fleetYaml('web', 'rev-a').replace(`file://${artifacts}`, 'http://example.com/x'), 'spec.source'],
    ['an unknown top-level field', () => `${fleetYaml('web', 'rev-b')}metdata:\n  name: web\n`, 'metdata is not a known top-level field'],
    ['a spec field at the top level', () => `${fleetYaml('web', 'rev-b')}revision: rev-c\n`, 'move it under spec (spec.revision)'],
    ['YAML aliases that expand without bound (a "billion laughs")', () => `${fleetYaml('web', 'rev-b')}${aliasBomb()}`,
      'write the values out instead of through YAML aliases'],
    ['not YAML', () => 'apiVersion: [unclosed', 'is not valid YAML or JSON'],
    ['two documents', () => `${fleetYaml('web', 'rev-b')}---\n${fleetYaml('api', 'rev-b')}`, 'holds 2 documents'],
  ])('apply of a file with %s', async (_what, content, message) => {
    const t = await withFleet();
    const before = await snapshot(t.store);
    const file = await writeFleetFile(`bad-${tableCount}.yaml`, content());
    const result = await t.run(['fleet', 'apply', '-f', file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(await snapshot(t.store)).toBe(before);
  });

  it('a file that does not exist', async () => {
    const t = await withFleet();
    const result = await t.run(['fleet', 'apply', '-f', path.join(dir, 'nope.yaml')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('cannot read');
  });

  it('a FLEETSYNC_TABLE that is not a table name', async () => {
    const result = await run(['status'], { env: { FLEETSYNC_TABLE: 'x' } });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('FLEETSYNC_TABLE "x" is not a DynamoDB table name');
  });
});
