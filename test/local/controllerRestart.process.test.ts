/**
 * `npm start` killed with `kill -9`, then started again: the new controller takes the dead one's fleet at once
 * (its lease is a dead process of this machine), instead of waiting out a lease that nobody will renew.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempHome, waitFor } from './helpers.ts';
import { bin, demoAllAt, freePort, repo, runBin } from './controllerProcess.ts';

/** Long enough that waiting it out would fail the test's deadline below by far. */
const LEASE_SECONDS = 120;

let home: string;
let removeHome: () => Promise<void>;
let config: string;
const running: ChildProcess[] = [];

function env(port: number): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...process.env, FLEETSYNC_HOME: home, FLEETSYNC_HTTP_PORT: String(port), FLEETSYNC_LOG_LEVEL: 'info' };
  delete out.FLEETSYNC_TABLE;
  return out;
}

function startController(port: number): { child: ChildProcess; stderr: () => string; exited: Promise<unknown> } {
  const child = spawn(process.execPath, [bin, 'controller', '--config', config], { cwd: repo, env: env(port), stdio: ['ignore', 'pipe', 'pipe'] });
  running.push(child);
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdout?.on('data', (c: Buffer) => (stderr += c.toString()));
  return { child, stderr: () => stderr, exited: new Promise((resolve) => child.once('close', resolve)) };
}

beforeAll(async () => {
  ({ home, remove: removeHome } = await tempHome('fleetsync-restart-'));
  config = `${home}-config.json`;
  await writeFile(config, JSON.stringify({
    resyncSeconds: 0.5, pollSeconds: 0.2, leaseDurationSeconds: LEASE_SECONDS, renewDeadlineSeconds: 60, retryPeriodSeconds: 0.5,
  }));
});

afterAll(async () => {
  for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await removeHome();
  await rm(config, { force: true });
});

describe('a controller restarted after kill -9 on the embedded default', () => {
  it('takes over the dead controller\'s lease at once: a deploy right after the restart finishes in seconds', async () => {
    const first = startController(await freePort());
    await waitFor('the first controller to bring the 3 demo hosts to v1', () => demoAllAt({ home, revision: 'v1', count: 3 }), 30_000, 200)
      .catch((err: unknown) => { throw new Error(`${String(err)}\n${first.stderr()}`); });
    first.child.kill('SIGKILL');
    await first.exited;

    const startedAtMs = Date.now();
    const port = await freePort();
    const second = startController(port);
    const deploy = await waitFor('the restarted controller to answer a deploy', async () => {
      const result = await runBin(['deploy', 'demo', 'v2'], env(port));
      return result.code === 0 ? result : undefined;
    }, 30_000, 300);
    expect(deploy.code).toBe(0);
    await waitFor('every demo host at v2', () => demoAllAt({ home, revision: 'v2', count: 3 }), 40_000, 200)
      .catch((err: unknown) => { throw new Error(`${String(err)}\n${second.stderr()}`); });
    const tookSeconds = (Date.now() - startedAtMs) / 1000;
    expect(tookSeconds).toBeLessThan(LEASE_SECONDS / 2);
    expect(second.stderr()).toContain(`its process ${first.child.pid} no longer runs on this machine`);
  }, 120_000);
});
