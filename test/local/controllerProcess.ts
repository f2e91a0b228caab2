/**
 * What the tests that run `npm start`'s controller as a real process share: a free port, the real bin run as a
 * user types it, and the demo fleet's hosts read back through the CLI.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HostView } from '../../state/host.ts';
import { run } from '../cli/cliHarness.ts';

export const repo = fileURLToPath(new URL('../..', import.meta.url));
export const bin = path.join(repo, 'bin', 'fleetsync.js');

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The real bin with this environment, as a user types `npx fleetsync ...`. */
export function runBin(argv: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...argv], { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export async function demoHosts(home: string): Promise<HostView[]> {
  const result = await run(['status', 'demo', '-o', 'json'], { env: { FLEETSYNC_HOME: home } });
  if (result.code !== 0) throw new Error(result.stderr);
  return (JSON.parse(result.stdout) as { hosts: HostView[] }).hosts;
}

/** Every one of `count` demo hosts in service and in sync at `revision`. */
export async function demoAllAt(args: { home: string; revision: string; count: number }): Promise<boolean> {
  const list = await demoHosts(args.home);
  return list.length === args.count && list.every((h) => h.reportedRevision === args.revision && h.state === 'inSync'
    && h.lifecycleState === 'InService');
}
