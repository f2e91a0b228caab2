/**
 * Helpers for the host agent's safety tests (test/host/safety*.test.ts): the raw result line (every field the
 * agent prints, hashedFiles included), a seeded generator for kill points, throwaway Linux users, a PATH with
 * only the tools a fresh host has, and a walk that finds a file by content anywhere under a folder.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdir, readFile, readdir, symlink, writeFile, chmod } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';
import { SCRIPT, runScript, type ScriptRun } from './hostScript.ts';
import { seededRandom } from '../../controller/sim/random.ts';
import type { PublishedSources, Tree } from './publishedRevision.ts';

const exec = promisify(execFile);

export interface RawRun extends ScriptRun {
  /** the result line's JSON as the agent printed it */
  fields: Record<string, unknown>;
}

function realPython3(): string {
  try {
    return execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
  } catch {
    return ''; // the tests' requireTools('python3') says what to install
  }
}

/** The python3 binary itself (not a version manager's shim, which costs a third of a second per start). */
export const REAL_PYTHON3 = realPython3();

/** PATH with the real python3's folder first: the agent starts in ~50 ms instead of ~350 ms. */
export const FAST_PATH = REAL_PYTHON3 ? `${dirname(REAL_PYTHON3)}:${process.env.PATH ?? ''}` : process.env.PATH ?? '';

export async function runAgent(args: string[], options: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<RawRun> {
  const run = await runScript(args, { ...options, env: { PATH: FAST_PATH, ...options.env } });
  const line = run.stdout.trim();
  const fields = JSON.parse(line.slice(line.indexOf('{'))) as Record<string, unknown>;
  return { ...run, fields };
}

/** mulberry32, the simulator's seeded generator: a failing run of kill points replays from its seed. */
export const mulberry32 = seededRandom;

export interface Killed { code: number | null; signal: NodeJS.Signals | null; stdout: string; ms: number }

/**
 * A sync in its own process group; after delayMs, `signal` goes to the group (or to the agent alone), unless it
 * ended first. `until: 'exit'` answers when the agent exits, for runs whose orphaned check may keep the pipe open
 * (its stdout read 20 ms later); 'close' waits for the pipe.
 */
export function syncStoppedAfter(args: {
  argv: string[]; env: Record<string, string>; delayMs: number; signal: NodeJS.Signals; group: boolean; until: 'exit' | 'close';
}): Promise<Killed> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(SCRIPT, args.argv, { detached: true, stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, ...args.env } });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    const timer = setTimeout(() => {
      try {
        process.kill(args.group ? -(child.pid as number) : (child.pid as number), args.signal);
      } catch {
        // the sync finished before its stop point
      }
    }, args.delayMs);
    child.on('error', reject);
    child.on(args.until, (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer);
      const done = (): void => resolve({ code, signal, stdout, ms: Date.now() - started });
      if (args.until === 'exit') setTimeout(done, 20);
      else done();
    });
  });
}

/** A sync killed (the whole group, SIGKILL) after delayMs unless it ended first. */
export function syncKilledAfter(argv: string[], env: Record<string, string>, delayMs: number): Promise<Killed> {
  return syncStoppedAfter({ argv, env, delayMs, signal: 'SIGKILL', group: true, until: 'close' });
}

/** Each tree published under web/ (manifest + objects) and uploaded as a plain prefix under plain/, in s3rver. */
export async function publishBothWays(src: PublishedSources, trees: Record<string, Tree>): Promise<void> {
  for (const [name, tree] of Object.entries(trees)) {
    await src.publish(name, tree, 'web');
    for (const [path, content] of Object.entries(tree)) await src.bucket.put(`plain/${name}/${path}`, content as string);
  }
}

/** Why throwaway users cannot be made here, or '' when they can (root, with useradd and runuser). */
export function usersUnavailable(): string {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'not running as root: cannot create a test user';
  for (const tool of ['useradd', 'userdel', 'runuser']) {
    try {
      execFileSync('sh', ['-c', 'command -v "$1"', 'sh', tool], { stdio: 'ignore' });
    } catch {
      return `${tool} is not installed: cannot create a test user`;
    }
  }
  return '';
}

export interface TestUser { name: string; uid: number; gid: number; remove(): Promise<void> }

/** A system user with no home and no login shell; removed by remove(). */
export async function createUser(prefix: string): Promise<TestUser> {
  const name = `${prefix}${process.pid % 100_000}`.slice(0, 31);
  await exec('userdel', [name]).catch(() => undefined);
  await exec('useradd', ['-M', '-r', '-s', '/usr/sbin/nologin', name]);
  const uid = Number((await exec('id', ['-u', name])).stdout.trim());
  const gid = Number((await exec('id', ['-g', name])).stdout.trim());
  return { name, uid, gid, remove: async () => { await exec('userdel', [name]).catch(() => undefined); } };
}

/** Runs a shell script as user (runuser), returning its output; throws on a non-zero exit. */
export async function asUser(user: string, script: string, ...args: string[]): Promise<string> {
  const { stdout } = await exec('runuser', ['-u', user, '--', 'sh', '-c', script, 'sh', ...args]);
  return stdout;
}

/** A bin folder with links to only the named tools (resolved on the current PATH); python3 is the real binary. */
export async function minimalBin(folder: string, tools: string[]): Promise<string> {
  await mkdir(folder, { recursive: true });
  for (const tool of tools) {
    const target = tool === 'python3' ? REAL_PYTHON3
      : execFileSync('sh', ['-c', 'command -v "$1"', 'sh', tool], { encoding: 'utf8' }).trim();
    await symlink(target, join(folder, tool));
  }
  return folder;
}

/** A check program (sh) that appends $FLEETSYNC_REVISION to logFile once it passes. */
export async function writeCheck(path: string, args: { logFile: string; sleepSeconds?: number; exitCode?: number }): Promise<string> {
  const sleep = args.sleepSeconds ? `sleep ${args.sleepSeconds}\n` : '';
  const pass = (args.exitCode ?? 0) === 0 ? `printf '%s\\n' "$FLEETSYNC_REVISION" >> '${args.logFile}'\n` : '';
  await writeFile(path, `#!/bin/sh\n${sleep}${pass}exit ${args.exitCode ?? 0}\n`);
  await chmod(path, 0o755);
  return path;
}

/** Every regular file under root (links not followed) whose content is exactly `content`: relative paths. */
export async function findByContent(root: string, content: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const abs = join(entry.parentPath, entry.name);
    if ((await readFile(abs, 'utf8').catch(() => '')) === content) out.push(relative(root, abs));
  }
  return out.sort();
}
