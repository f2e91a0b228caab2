/**
 * Runs deploy/host/fleetsync-sync.sh as a child process (asynchronously, so an s3rver in the same process
 * keeps answering) and reads its result line; plus small helpers for building revision trees.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HostResult } from '../../controller/ports/commands.ts';
import { parseResultLine } from '../../controller/hostProtocol.ts';

export const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'deploy', 'host', 'fleetsync-sync.sh');

export interface ScriptRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** the parsed result line; the run helper fails the test when stdout is not exactly one valid line */
  result: HostResult & { target?: string | null; attempt?: string };
}

/** Fails with an install hint when a tool the host tests need is missing (never a silent skip). */
export function requireTools(...tools: string[]): void {
  const missing = tools.filter((tool) => {
    try {
      execFileSync('sh', ['-c', 'command -v "$1"', 'sh', tool], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length > 0) {
    throw new Error(`the host script tests need ${missing.join(', ')}: install them `
      + '(apt-get install -y awscli rsync shellcheck util-linux; CI installs the same packages)');
  }
}

export function runScript(args: string[], options: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<ScriptRun> {
  return new Promise((resolve, reject) => {
    execFile(SCRIPT, args, {
      env: { ...process.env, ...options.env },
      encoding: 'utf8',
      timeout: options.timeoutMs ?? 60_000,
      maxBuffer: 16 * 1024 * 1024,
    }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      const lines = stdout.split('\n').filter((line) => line !== '');
      if (lines.length !== 1 || !stdout.endsWith('\n')) {
        reject(new Error(`expected exactly one stdout line, got ${JSON.stringify(stdout)}; stderr: ${stderr}`));
        return;
      }
      if ((lines[0] as string).length >= 1000) {
        reject(new Error(`the result line is ${(lines[0] as string).length} characters; the Contract says under 1,000`));
        return;
      }
      const parsed = parseResultLine(stdout);
      if (!parsed.ok) {
        reject(new Error(`bad result line (${parsed.reason}): ${stdout}; stderr: ${stderr}`));
        return;
      }
      resolve({ code, stdout, stderr, result: parsed.result });
    });
  });
}

export function syncArgs(args: {
  source: string; revision: string; destination: string; strategy?: 'release' | 'inplace';
  excludes?: string; links?: string; check?: string; keepReleases?: number; attemptId?: string;
}): string[] {
  const out = ['--mode', 'sync', '--source', args.source, '--revision', args.revision, '--destination', args.destination];
  if (args.strategy) out.push('--strategy', args.strategy);
  if (args.excludes !== undefined) out.push('--excludes', args.excludes);
  if (args.links !== undefined) out.push('--links', args.links);
  if (args.check !== undefined) out.push('--check', args.check);
  if (args.keepReleases !== undefined) out.push('--keep-releases', String(args.keepReleases));
  if (args.attemptId !== undefined) out.push('--attempt-id', args.attemptId);
  return out;
}

export async function makeTempDir(prefix: string): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `fleetsync-${prefix}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** Writes files (relative path -> content) under root; an optional mtime for all of them (seconds). */
export async function writeTree(root: string, files: Record<string, string>, mtimeSeconds?: number): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const path = join(root, rel);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, content);
    if (mtimeSeconds !== undefined) await utimes(path, mtimeSeconds, mtimeSeconds);
  }
}

/** Holds PATH with flock (as another sync would) until stop(); resolves once the lock is held. */
export async function holdLock(lockPath: string): Promise<{ stop(): void }> {
  await mkdir(dirname(lockPath), { recursive: true });
  // One process holds the lock and becomes `sleep`, so killing it by its id releases the lock.
  const child = spawn('bash', ['-c', 'exec 9>>"$1" && flock 9 && exec sleep 600', 'hold-lock', lockPath],
    { stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    try {
      execFileSync('flock', ['-n', lockPath, 'true'], { stdio: 'ignore' });
    } catch {
      return { stop: () => { child.kill('SIGTERM'); } };
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  child.kill('SIGTERM');
  throw new Error(`could not take ${lockPath} with flock`);
}
