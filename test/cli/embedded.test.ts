/**
 * The embedded default: no FLEETSYNC_TABLE, so the CLI finds the running controller's DynamoDB through
 * $FLEETSYNC_HOME/controller.json (here dynalite, with this test process standing in for the controller).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoStore } from '../../controller/aws/dynamoStore.ts';
import { startDynalite, type Dynalite } from '../support/dynalite.ts';
import { run } from './cliHarness.ts';
import { waitFor } from '../local/helpers.ts';

let db: Dynalite;
let dir: string;

beforeAll(async () => {
  db = await startDynalite();
  dir = await mkdtemp(path.join(os.tmpdir(), 'fleetsync-embedded-'));
});

afterAll(async () => {
  await db.stop();
  await rm(dir, { recursive: true, force: true });
});

async function home(name: string, controller?: object): Promise<string> {
  const folder = path.join(dir, name);
  await mkdir(path.join(folder, 'artifacts', 'sample-1'), { recursive: true });
  await writeFile(path.join(folder, 'artifacts', 'sample-1', 'index.html'), 'one\n');
  if (controller) await writeFile(path.join(folder, 'controller.json'), JSON.stringify(controller));
  return folder;
}

describe('the embedded default', () => {
  it('uses the store of the controller named in controller.json', async () => {
    const folder = await home('running', {
      pid: process.pid, dynamoEndpoint: db.endpoint, table: 'fleetsync', httpEndpoint: 'http://127.0.0.1:9870',
    });
    const env = { FLEETSYNC_HOME: folder };
    expect((await run(['init'], { env })).code).toBe(0);
    const fleetFile = path.join(folder, 'fleet.yaml');
    await writeFile(fleetFile, `apiVersion: fleetsync.dev/v1
kind: Fleet
metadata: { name: local }
spec:
  autoScalingGroupName: local
  source: file://${path.join(folder, 'artifacts')}
  destination: /srv/fleetsync/app
  revision: sample-1
`);
    const applied = await run(['fleet', 'apply', '-f', 'fleet.yaml'], { env, cwd: folder });
    expect(applied.code, applied.stderr).toBe(0);
    const status = await run(['status', '-o', 'json'], { env });
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ kind: 'FleetList', items: [{ metadata: { name: 'local', generation: 1 } }] });
    // what the CLI wrote is in the controller's table
    const store = new DynamoStore({ client: db.client(), tableName: 'fleetsync' });
    expect((await store.getFleet('local'))?.spec.revision).toBe('sample-1');
  });

  it('FLEETSYNC_HOME defaults to ./.fleetsync in the working folder', async () => {
    const folder = await home('cwd');
    await mkdir(path.join(folder, '.fleetsync'));
    await writeFile(path.join(folder, '.fleetsync', 'controller.json'),
      JSON.stringify({ pid: process.pid, dynamoEndpoint: db.endpoint, table: 'fleetsync' }));
    const result = await run(['fleet', 'list'], { env: {}, cwd: folder });
    expect(result.code, result.stderr).toBe(0);
  });

  it('without controller.json: exit 1, saying no controller runs there and how to start one', async () => {
    const folder = await home('none');
    const result = await run(['status'], { env: { FLEETSYNC_HOME: folder } });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`no controller is running in ${folder}: start it with \`npm start\``);
  });

  it('with the pid of a process that has exited: exit 1, the same message', async () => {
    const exited = spawnSync(process.execPath, ['-e', '0']).pid;
    const folder = await home('dead', { pid: exited, dynamoEndpoint: db.endpoint, table: 'fleetsync' });
    const result = await run(['deploy', 'local', 'sample-1'], { env: { FLEETSYNC_HOME: folder } });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`no controller is running in ${folder}`);
    expect(result.stderr).toContain(`process ${exited} has exited`);
  });

  it('killed with -9 but its pid still answers (reused, or not reaped): exit 1, naming controller.json and npm start', async () => {
    // a live pid (this test process) with nothing listening at the recorded endpoint: what the CLI finds when
    // the pid check cannot tell; the store refusing connections must still be told in terms of the controller
    const closed = await startDynalite();
    await closed.stop();
    const folder = await home('killed', { pid: process.pid, dynamoEndpoint: closed.endpoint, table: 'fleetsync' });
    const result = await run(['status', 'demo'], { env: { FLEETSYNC_HOME: folder } });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`the controller recorded in ${path.join(folder, 'controller.json')} (pid ${process.pid}) is not running`);
    expect(result.stderr).toContain('start it with `npm start`');
    expect(result.stderr).not.toContain('AWS_REGION');
  });

  it('with the pid of a zombie (killed, its parent has not reaped it): exit 1, the process has exited', async () => {
    // a parent that never waits for its child: the child exits at once and stays a zombie (a shell may reap a
    // background job before its `exec`, so the parent is a short Python program, which never reaps on its own)
    const parent = spawn('python3', ['-c', 'import os, time\npid = os.fork()\nif pid == 0:\n    os._exit(0)\nprint(pid, flush=True)\ntime.sleep(120)'],
      { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const zombie = Number((await new Promise<Buffer>((resolve) => parent.stdout.once('data', resolve))).toString().trim());
      await waitFor('the child to become a zombie', async () => (await readFile(`/proc/${zombie}/stat`, 'utf8')).includes(') Z '));
      const folder = await home('zombie', { pid: zombie, dynamoEndpoint: db.endpoint, table: 'fleetsync' });
      const result = await run(['status'], { env: { FLEETSYNC_HOME: folder } });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`process ${zombie} has exited`);
    } finally {
      parent.kill('SIGKILL');
    }
  });

  it('a controller.json that is not what the controller writes: exit 1, saying to restart it', async () => {
    const folder = await home('garbled');
    await writeFile(path.join(folder, 'controller.json'), '{"pid": "x"}');
    const result = await run(['status'], { env: { FLEETSYNC_HOME: folder } });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('does not hold { pid, dynamoEndpoint, table }');
  });
});
