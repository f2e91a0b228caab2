/**
 * `npm start` as a user runs it: `node bin/fleetsync.js controller` as a child process on the embedded default
 * in a temporary FLEETSYNC_HOME, driven by the CLI (the real bin for the commands a user types, main(argv)
 * in-process for the polling), then stopped with Ctrl-C (SIGINT).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GroupFile } from '../../controller/local/localGroup.ts';
import { tempHome, waitFor } from './helpers.ts';
import { bin, demoAllAt, freePort, repo, runBin } from './controllerProcess.ts';


let home: string;
let removeHome: () => Promise<void>;
let port: number;
let controller: ChildProcess | undefined;
let controllerErr = '';
let controllerExit: Promise<number | null>;


function env(): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...process.env, FLEETSYNC_HOME: home, FLEETSYNC_HTTP_PORT: String(port), FLEETSYNC_LOG_LEVEL: 'warn' };
  delete out.FLEETSYNC_TABLE;
  return out;
}

/** The real bin, as a user types it. */
function fleetsync(...argv: string[]): ReturnType<typeof runBin> {
  return runBin(argv, env());
}



beforeAll(async () => {
  ({ home, remove: removeHome } = await tempHome('fleetsync-npmstart-'));
  port = await freePort();
  const config = `${home}-config.json`;
  await writeFile(config, JSON.stringify({
    resyncSeconds: 0.5, pollSeconds: 0.2, leaseDurationSeconds: 2, renewDeadlineSeconds: 1.5, retryPeriodSeconds: 0.3,
  }));
  controller = spawn(process.execPath, [bin, 'controller', '--config', config], { cwd: repo, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
  controller.stderr?.on('data', (c: Buffer) => (controllerErr += c.toString()));
  controller.stdout?.resume();
  const child = controller;
  controllerExit = new Promise((resolve) => child.once('close', (code) => resolve(code)));
  await waitFor('the controller to announce itself in controller.json', async () => {
    const info = JSON.parse(await readFile(path.join(home, 'controller.json'), 'utf8')) as { httpEndpoint?: string };
    return info.httpEndpoint === `http://127.0.0.1:${port}`;
  }, 20_000, 100).catch((err: unknown) => {
    throw new Error(`${String(err)}\ncontroller stderr:\n${controllerErr}`);
  });
});

afterAll(async () => {
  if (controller && controller.exitCode === null && controller.signalCode === null) {
    controller.kill('SIGINT');
    await Promise.race([controllerExit, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    if (controller.exitCode === null) controller.kill('SIGKILL');
  }
  await removeHome();
  await rm(`${home}-config.json`, { force: true });
});

describe('npm start (fleetsync controller) on the embedded default', () => {
  it('says where everything is and what to try; serves /healthz on FLEETSYNC_HTTP_PORT', async () => {
    expect(controllerErr).toContain('embedded default');
    expect(controllerErr).toContain('npx fleetsync deploy demo v2');
    expect(controllerErr).toContain(`dashboard: http://127.0.0.1:${port}/`);
    expect((await fetch(`http://127.0.0.1:${port}/`)).headers.get('content-type')).toBe('text/html; charset=utf-8');
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);
    await waitFor('the 3 demo hosts in sync at v1', () => demoAllAt({ home, revision: 'v1', count: 3 }), 20_000, 200);
  });

  it('a second controller in the same home exits 1, saying one already runs', async () => {
    const second = await fleetsync('controller', '--http-port', '0');
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`a controller already runs in ${home} (pid ${controller!.pid}): stop it first`);
  });

  it('deploy demo v2 with the CLI: every host reaches v2; scale to 5: the new hosts join at v2', async () => {
    const deploy = await fleetsync('deploy', 'demo', 'v2');
    expect(deploy.code, deploy.stderr).toBe(0);
    const watch = await fleetsync('status', 'demo', '--watch', '--interval-seconds', '1');
    expect(watch.code, watch.stdout + watch.stderr).toBe(0);
    expect(await demoAllAt({ home, revision: 'v2', count: 3 })).toBe(true);

    const scale = await fleetsync('local', 'scale', 'demo', '5');
    expect(scale.code, scale.stderr).toBe(0);
    await waitFor('5 hosts in sync at v2', () => demoAllAt({ home, revision: 'v2', count: 5 }), 20_000, 200);
    const group = JSON.parse(await readFile(path.join(home, 'hosts', 'group.json'), 'utf8')) as GroupFile;
    for (const instance of group.groups.demo ?? []) {
      expect(instance.lifecycleState).toBe('InService');
      expect((await readFile(path.join(home, 'hosts', instance.instanceId, '.fleetsync', 'REVISION'), 'utf8')).trim()).toBe('v2');
    }
  });

  it('Ctrl-C stops it cleanly: exit 0, controller.json gone, and the CLI then says to run npm start', async () => {
    controller!.kill('SIGINT');
    expect(await controllerExit).toBe(0);
    expect(await stat(path.join(home, 'controller.json')).catch(() => null)).toBeNull();
    const status = await fleetsync('status', 'demo');
    expect(status.code).toBe(1);
    expect(status.stderr).toContain('start it with `npm start`');
  });
});
