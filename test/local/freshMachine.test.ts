/**
 * `npm start` on a fresh Node development machine: the PATH holds Node, bash, coreutils, python3 and what every
 * Debian machine has (its essential packages: grep, sed, mawk, findutils, util-linux, dash) — and no rsync and
 * no aws CLI. Built as a folder of links to just those programs, since here aws and python3 share a folder
 * (pyenv's shims) that a filtered PATH could not split. The embedded default must still bring its 3 local
 * hosts to v1, and `fleetsync deploy demo v2` must converge.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostView } from '../../state/host.ts';
import { onPath } from '../support/ensureTools.ts';
import { tempHome, waitFor } from './helpers.ts';
import { bin, demoAllAt, freePort, repo, runBin } from './controllerProcess.ts';


const COREUTILS = [
  '[', 'base64', 'basename', 'cat', 'chgrp', 'chmod', 'chown', 'cksum', 'comm', 'cp', 'cut', 'date', 'dd', 'df',
  'dirname', 'du', 'echo', 'env', 'expr', 'false', 'head', 'id', 'install', 'join', 'link', 'ln', 'ls', 'md5sum',
  'mkdir', 'mkfifo', 'mktemp', 'mv', 'nice', 'nohup', 'nproc', 'od', 'paste', 'printenv', 'printf', 'readlink',
  'realpath', 'rm', 'rmdir', 'seq', 'sha1sum', 'sha256sum', 'sha512sum', 'sleep', 'sort', 'split', 'stat', 'stdbuf',
  'sync', 'tac', 'tail', 'tee', 'test', 'timeout', 'touch', 'tr', 'true', 'truncate', 'uname', 'uniq', 'unlink', 'wc',
  'whoami', 'yes',
];
/** Debian's essential packages beyond coreutils: on every Debian machine, however fresh. */
const DEBIAN_ESSENTIAL = ['bash', 'sh', 'grep', 'sed', 'awk', 'find', 'xargs', 'flock', 'runuser', 'setpriv', 'getopt', 'kill'];

let home: string;
let removeHome: () => Promise<void>;
let freshBin: string;
let port: number;
let controller: ChildProcess | undefined;
let controllerErr = '';
let controllerExit: Promise<number | null>;

/** A folder of links to Node, python3 and the tools above, found on this machine's PATH: the fresh machine's PATH. */
async function freshMachinePath(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fleetsync-fresh-bin-'));
  await symlink(process.execPath, path.join(dir, 'node'));
  // the interpreter itself, not a version manager's shim (which needs the version manager on PATH)
  const python = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
  await symlink(python, path.join(dir, 'python3'));
  for (const tool of [...COREUTILS, ...DEBIAN_ESSENTIAL]) {
    const found = onPath(tool);
    if (found !== undefined) await symlink(found, path.join(dir, tool));
  }
  return dir;
}


function env(): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {
    ...process.env, PATH: freshBin, FLEETSYNC_HOME: home, FLEETSYNC_HTTP_PORT: String(port), FLEETSYNC_LOG_LEVEL: 'warn',
  };
  delete out.FLEETSYNC_TABLE;
  return out;
}

/** The real bin, as a user types it. */
function fleetsync(...argv: string[]): ReturnType<typeof runBin> {
  return runBin(argv, env());
}



beforeAll(async () => {
  freshBin = await freshMachinePath();
  ({ home, remove: removeHome } = await tempHome('fleetsync-fresh-'));
  port = await freePort();
  const config = `${home}-config.json`;
  await writeFile(config, JSON.stringify({
    resyncSeconds: 0.5, pollSeconds: 0.2, leaseDurationSeconds: 2, renewDeadlineSeconds: 1.5, retryPeriodSeconds: 0.3,
  }));
  // npm start's command, with the fresh machine's PATH
  controller = spawn(process.execPath, [bin, 'controller', '--config', config], { cwd: repo, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
  controller.stderr?.on('data', (c: Buffer) => (controllerErr += c.toString()));
  controller.stdout?.resume();
  const child = controller;
  controllerExit = new Promise((resolve) => child.once('close', (code) => resolve(code)));
  const announced = waitFor('the controller to announce itself in controller.json', async () => {
    const info = JSON.parse(await readFile(path.join(home, 'controller.json'), 'utf8')) as { httpEndpoint?: string };
    return info.httpEndpoint === `http://127.0.0.1:${port}`;
  }, 60_000, 100);
  const exited = controllerExit.then((code) => {
    throw new Error(`the controller exited ${code} before it was up`);
  });
  exited.catch(() => undefined); // handled here so a late exit is no unhandled rejection; the race reports it
  await Promise.race([announced, exited]).catch((err: unknown) => {
    throw new Error(`${String(err)}\ncontroller stderr:\n${controllerErr}`);
  });
}, 90_000);

afterAll(async () => {
  if (controller && controller.exitCode === null && controller.signalCode === null) {
    controller.kill('SIGINT');
    await Promise.race([controllerExit, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    if (controller.exitCode === null) controller.kill('SIGKILL');
  }
  await removeHome?.();
  await rm(`${home}-config.json`, { force: true });
  if (freshBin) await rm(freshBin, { recursive: true, force: true });
});

describe('npm start on a machine with Node, bash, coreutils and python3, without rsync or aws', () => {
  it('the PATH the controller gets has python3 and bash, and no rsync and no aws', () => {
    expect(onPath('python3', freshBin)).toBeDefined();
    expect(onPath('bash', freshBin)).toBeDefined();
    expect(onPath('rsync', freshBin)).toBeUndefined();
    expect(onPath('aws', freshBin)).toBeUndefined();
  });

  it('brings the 3 demo hosts to v1', async () => {
    await waitFor('the 3 demo hosts in sync at v1', () => demoAllAt({ home, revision: 'v1', count: 3 }), 60_000, 200).catch((err: unknown) => {
      throw new Error(`${String(err)}\ncontroller stderr:\n${controllerErr}`);
    });
    expect(controllerErr).not.toMatch(/rsync|aws CLI|aws is not installed/);
  }, 90_000);

  it('fleetsync deploy demo v2 converges: every host reports v2', async () => {
    const deploy = await fleetsync('deploy', 'demo', 'v2');
    expect(deploy.code, deploy.stderr).toBe(0);
    await waitFor('the 3 demo hosts in sync at v2', () => demoAllAt({ home, revision: 'v2', count: 3 }), 60_000, 200).catch((err: unknown) => {
      throw new Error(`${String(err)}\ncontroller stderr:\n${controllerErr}`);
    });
    const status = await fleetsync('status', 'demo', '--output', 'json');
    expect(status.code, status.stderr).toBe(0);
    const doc = JSON.parse(status.stdout) as { status?: { revision?: string }; hosts: HostView[] };
    expect(doc.hosts.map((h) => h.reportedRevision)).toEqual(['v2', 'v2', 'v2']);
    await waitFor('the fleet status to say v2', async () => {
      const again = JSON.parse((await fleetsync('status', 'demo', '--output', 'json')).stdout) as { status?: { revision?: string } };
      return again.status?.revision === 'v2';
    }, 20_000, 200);
  }, 90_000);
});
