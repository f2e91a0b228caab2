/**
 * The Commands port for the local fleet: each invocation runs the real host script,
 * `bash deploy/host/fleetsync-sync.sh <scriptArgs>`, as a child process (an argv array, never a shell string),
 * with the parameters SSM would pass, except the destination: the spec's destination is what real hosts use,
 * while a local host syncs into its own folder, `$FLEETSYNC_HOME/hosts/<instanceId>/`.
 *
 * A command is recorded in `$FLEETSYNC_HOME/commands/<commandId>/command.json` (fleet, attempt id, hosts, who
 * runs it) before anything starts, and each host's outcome in `<instanceId>.json` when it ends, so a controller
 * that restarts can find the command of an attempt (findByAttempt) and read its results. A host whose process
 * died with the controller that ran it (no outcome recorded, its owner gone) reads as failed, "the controller
 * stopped during the command": its attempt is retried, and the host script's lock makes a retry that meets an
 * orphaned run answer busy (75) until that run ends.
 *
 * Each script runs in a process group of its own; cancel, a timeout and close() signal that group and every
 * process below the script (its check runs in a group of its own): SIGTERM first (the script then cleans its
 * staging folder and reports), SIGKILL later.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Clock } from '../ports/clock.ts';
import {
  MAX_TARGETS_PER_SEND, type CommandMode, type Commands, type HostResult, type InvocationResult, type SendArgs,
} from '../ports/commands.ts';
import { ControlPlaneError, NotFoundError } from '../errors.ts';
import { EXIT, invocationFromOutput, scriptArgs } from '../hostProtocol.ts';
import { PATTERNS } from '../../state/validate.ts';
import { assertHome } from './localGroup.ts';
import { pidAlive } from './pid.ts';

export const DEFAULT_SCRIPT_PATH = fileURLToPath(new URL('../../deploy/host/fleetsync-sync.sh', import.meta.url));
export const CONTROLLER_STOPPED = 'the controller stopped during the command';

const COMMAND_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const STDOUT_LIMIT = 64 * 1024;
const STDERR_TAIL = 2_000;
const DEFAULT_KILL_GRACE_MS = 5_000;
const DAY_MS = 24 * 60 * 60 * 1000;
/** after the script exits, how long its output pipes may stay open */
const PIPE_DRAIN_MS = 1_000;

/** How one run of the host script ended. */
export interface ScriptRun {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  /** the end of stderr, for a failure that printed no result line */
  stderrTail: string;
  /** the script could not be started at all */
  spawnError?: string;
}

/** Starts the host script in a process group of its own. */
export function startHostScript(args: { scriptPath: string; argv: string[]; env?: NodeJS.ProcessEnv }): {
  child: ChildProcess; done: Promise<ScriptRun>;
} {
  const child = spawn('bash', [args.scriptPath, ...args.argv], {
    stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: args.env ?? process.env,
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    if (stdout.length < STDOUT_LIMIT) stdout += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_TAIL);
  });
  const done = new Promise<ScriptRun>((resolve) => {
    child.once('error', (err) => resolve({ exitCode: null, signal: null, stdout, stderrTail: stderr, spawnError: err.message }));
    child.once('exit', (exitCode, signal) => {
      // Its output is complete once the pipes close; a process the script left behind can hold them open
      // (a daemon started by the check), so that wait is bounded.
      const finish = (): void => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        resolve({ exitCode, signal, stdout, stderrTail: stderr });
      };
      const timer = setTimeout(finish, PIPE_DRAIN_MS);
      child.once('close', () => {
        clearTimeout(timer);
        finish();
      });
    });
  });
  return { child, done };
}

/** Runs the host script to its end. */
export function runHostScript(args: { scriptPath: string; argv: string[]; env?: NodeJS.ProcessEnv }): Promise<ScriptRun> {
  return startHostScript(args).done;
}

/**
 * The pids below `root` (children, grandchildren...), from /proc. The script's check runs under `timeout`,
 * which puts itself in a process group of its own, so signalling the script's group alone would miss it.
 */
export function descendantsOf(root: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return [];
  }
  const children = new Map<number, number[]>();
  for (const name of entries) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    // pid (comm) state ppid ...: comm may hold spaces and parentheses, so read after the last ')'
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(name));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length > 0) {
    for (const pid of children.get(stack.pop()!) ?? []) {
      out.push(pid);
      stack.push(pid);
    }
  }
  return out;
}

function signalPids(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** The per-host result of a finished run, read as SSM's adapter reads an invocation. */
export function invocationOf(instanceId: string, run: ScriptRun): InvocationResult {
  if (run.spawnError !== undefined) {
    return { instanceId, status: 'failed', error: `could not start the host script: ${run.spawnError}` };
  }
  return invocationFromOutput({
    instanceId, exitCode: run.exitCode ?? undefined, stdout: run.stdout, ended: `killed by ${run.signal ?? 'a signal'}`,
    stderrTail: run.stderrTail,
  });
}

interface CommandRecord {
  commandId: string;
  fleet: string;
  attemptId: string;
  mode: CommandMode;
  revision: string;
  instanceIds: string[];
  startedAtMs: number;
  timeoutSeconds: number;
  /** the process and LocalCommands instance running it */
  owner: { pid: number; instance: string };
}

interface HostOutcome extends InvocationResult {
  endedAtMs: number;
}

type KillReason = 'cancelled' | 'timedOut' | 'stopped';

interface Running {
  child: ChildProcess;
  reason?: KillReason;
  killTimer?: () => void;
  /** resolves once the outcome is recorded */
  recorded: Promise<void>;
}

interface LiveCommand {
  record: CommandRecord;
  hosts: Map<string, Running>;
  cancelTimeout: () => void;
}

/** LocalCommands instances of this process that have not been closed: their commands have a live owner. */
const liveInstances = new Set<string>();

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  const temp = `${file}.tmp`;
  await writeFile(temp, `${JSON.stringify(value)}\n`);
  await rename(temp, file);
}

export interface LocalCommandsOptions {
  /** $FLEETSYNC_HOME: hosts/<instanceId>/ are the destinations, commands/ the records */
  home: string;
  clock: Clock;
  scriptPath?: string;
  /** after SIGTERM, how long a script has to stop before SIGKILL */
  killGraceMs?: number;
  /** records of commands that started longer ago than this are deleted (one day by default) */
  retentionMs?: number;
  env?: NodeJS.ProcessEnv;
}

export class LocalCommands implements Commands {
  private readonly home: string;
  private readonly commandsDir: string;
  private readonly clock: Clock;
  private readonly scriptPath: string;
  private readonly killGraceMs: number;
  private readonly retentionMs: number;
  private readonly env: NodeJS.ProcessEnv | undefined;
  private readonly instance = randomUUID();
  private readonly live = new Map<string, LiveCommand>();
  private pruned = false;
  private closed = false;

  constructor(options: LocalCommandsOptions) {
    assertHome(options.home);
    this.home = options.home;
    this.commandsDir = path.join(options.home, 'commands');
    this.clock = options.clock;
    this.scriptPath = options.scriptPath ?? DEFAULT_SCRIPT_PATH;
    this.killGraceMs = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
    this.retentionMs = options.retentionMs ?? DAY_MS;
    this.env = options.env;
    liveInstances.add(this.instance);
  }

  /** Where a local host syncs to: its own folder, not the spec's destination. */
  hostDir(instanceId: string): string {
    return path.join(this.home, 'hosts', instanceId);
  }

  /** Commands still running here (for tests and shutdown). */
  running(): number {
    let n = 0;
    for (const command of this.live.values()) n += command.hosts.size;
    return n;
  }

  async send(args: SendArgs): Promise<{ commandId: string }> {
    if (this.closed) throw new ControlPlaneError('the local commands runner is closed (the controller is stopping)');
    if (args.instanceIds.length === 0 || args.instanceIds.length > MAX_TARGETS_PER_SEND) {
      throw new ControlPlaneError(`a command targets 1 to ${MAX_TARGETS_PER_SEND} hosts, not ${args.instanceIds.length}`);
    }
    const bad = args.instanceIds.filter((id) => !PATTERNS.instanceId.test(id));
    if (bad.length > 0) throw new ControlPlaneError(`not instance ids: ${bad.map((id) => JSON.stringify(id)).join(', ')}`);
    if (new Set(args.instanceIds).size !== args.instanceIds.length) throw new ControlPlaneError('a command names a host twice');
    // Every argv is built (and validated) before anything starts.
    const argvs = new Map(args.instanceIds.map((id) => [id, scriptArgs({
      mode: args.mode, attemptId: args.attemptId, params: { ...args.params, destination: this.hostDir(id) },
    })]));
    await this.pruneOnce();

    const commandId = randomUUID();
    const record: CommandRecord = {
      commandId, fleet: args.fleet, attemptId: args.attemptId, mode: args.mode, revision: args.params.revision,
      instanceIds: [...args.instanceIds], startedAtMs: this.clock.nowMs(), timeoutSeconds: args.timeoutSeconds,
      owner: { pid: process.pid, instance: this.instance },
    };
    const dir = path.join(this.commandsDir, commandId);
    await mkdir(dir, { recursive: true });
    await writeJsonAtomic(path.join(dir, 'command.json'), record);

    const command: LiveCommand = { record, hosts: new Map(), cancelTimeout: () => undefined };
    this.live.set(commandId, command);
    for (const [instanceId, argv] of argvs) {
      const hostDir = this.hostDir(instanceId);
      const present = await stat(hostDir).then((s) => s.isDirectory(), () => false);
      if (!present) {
        // As SSM says Undeliverable: the script must not create a folder for a host that has left.
        await this.recordOutcome(commandId, {
          instanceId, status: 'failed', error: `host ${instanceId} has no folder at ${hostDir} (it has left the group)`,
          endedAtMs: this.clock.nowMs(),
        });
        continue;
      }
      this.start(command, instanceId, argv);
    }
    if (command.hosts.size === 0) this.live.delete(commandId);
    else command.cancelTimeout = this.clock.setTimer(args.timeoutSeconds * 1000, () => this.kill(command, 'timedOut'));
    return { commandId };
  }

  async results(commandId: string): Promise<InvocationResult[]> {
    const record = await this.readRecord(commandId);
    const dir = path.join(this.commandsDir, commandId);
    const live = this.live.get(commandId);
    const ownerAlive = this.ownerAlive(record);
    const out: InvocationResult[] = [];
    for (const instanceId of record.instanceIds) {
      const outcome = await this.readOutcome(dir, instanceId);
      if (outcome) {
        const { endedAtMs: _ended, ...result } = outcome;
        out.push(result);
      } else if (live?.hosts.has(instanceId) || ownerAlive) {
        out.push({ instanceId, status: 'pending' });
      } else {
        out.push({ instanceId, status: 'failed', error: CONTROLLER_STOPPED });
      }
    }
    return out;
  }

  async cancel(args: { commandId: string; instanceIds?: string[] }): Promise<void> {
    const command = this.live.get(args.commandId);
    if (!command) {
      await this.readRecord(args.commandId);
      return;
    }
    this.kill(command, 'cancelled', args.instanceIds);
    await Promise.all([...command.hosts.entries()]
      .filter(([id]) => !args.instanceIds || args.instanceIds.includes(id))
      .map(([, running]) => running.recorded));
  }

  async findByAttempt(args: { fleet: string; attemptId: string }): Promise<string | null> {
    let best: CommandRecord | null = null;
    for (const record of await this.allRecords()) {
      if (record.fleet !== args.fleet || record.attemptId !== args.attemptId) continue;
      if (!best || record.startedAtMs > best.startedAtMs) best = record;
    }
    return best?.commandId ?? null;
  }

  /** Stops every running script (recorded as stopped with the controller) and waits until they have exited. */
  async close(): Promise<void> {
    this.closed = true;
    const waits: Array<Promise<void>> = [];
    for (const command of this.live.values()) {
      this.kill(command, 'stopped');
      for (const running of command.hosts.values()) waits.push(running.recorded);
    }
    await Promise.all(waits);
    liveInstances.delete(this.instance);
  }

  // ---------------------------------------------------------------------------------------------------------

  private start(command: LiveCommand, instanceId: string, argv: string[]): void {
    const { child, done } = startHostScript({ scriptPath: this.scriptPath, argv, ...(this.env ? { env: this.env } : {}) });
    const running: Running = { child, recorded: Promise.resolve() };
    running.recorded = done.then(async (run) => {
      running.killTimer?.();
      await this.recordOutcome(command.record.commandId, { ...this.outcomeOf(instanceId, run, running.reason, command.record), endedAtMs: this.clock.nowMs() })
        .catch(() => undefined);
      command.hosts.delete(instanceId);
      if (command.hosts.size === 0) {
        command.cancelTimeout();
        this.live.delete(command.record.commandId);
      }
    });
    command.hosts.set(instanceId, running);
  }

  private outcomeOf(instanceId: string, run: ScriptRun, reason: KillReason | undefined, record: CommandRecord): InvocationResult {
    const result = invocationOf(instanceId, run);
    const line: { result?: HostResult } = result.result ? { result: result.result } : {};
    const code = result.exitCode !== undefined ? { exitCode: result.exitCode } : {};
    // A script that finished before the signal reached it keeps its own outcome.
    if (reason === undefined || run.exitCode === EXIT.synced) return result;
    if (reason === 'cancelled') return { instanceId, status: 'cancelled', ...code, ...line, error: 'the command was cancelled' };
    if (reason === 'timedOut') {
      return { instanceId, status: 'timedOut', ...code, ...line, error: `the command ran longer than its ${record.timeoutSeconds} s timeout and was stopped` };
    }
    return { instanceId, status: 'failed', ...code, ...line, error: CONTROLLER_STOPPED };
  }

  private kill(command: LiveCommand, reason: KillReason, instanceIds?: string[]): void {
    for (const [instanceId, running] of command.hosts) {
      if (instanceIds && !instanceIds.includes(instanceId)) continue;
      if (running.reason) continue;
      running.reason = reason;
      const pid = running.child.pid;
      if (pid === undefined) continue;
      // Listed before any signal: once the script dies, what it started is re-parented and cannot be found.
      const tree = [-pid, ...descendantsOf(pid)];
      signalPids(tree, 'SIGTERM');
      running.killTimer = this.clock.setTimer(this.killGraceMs, () => signalPids(tree, 'SIGKILL'));
    }
  }

  private ownerAlive(record: CommandRecord): boolean {
    if (record.owner.pid === process.pid) return liveInstances.has(record.owner.instance);
    return pidAlive(record.owner.pid);
  }

  private async recordOutcome(commandId: string, outcome: HostOutcome): Promise<void> {
    await writeJsonAtomic(path.join(this.commandsDir, commandId, `${outcome.instanceId}.json`), outcome);
  }

  private async readOutcome(dir: string, instanceId: string): Promise<HostOutcome | null> {
    let text: string;
    try {
      text = await readFile(path.join(dir, `${instanceId}.json`), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new ControlPlaneError(`cannot read the outcome of ${instanceId} in ${dir}: ${(err as Error).message}`, { cause: err });
    }
    try {
      const value = JSON.parse(text) as unknown;
      if (isRecord(value) && value.instanceId === instanceId && typeof value.status === 'string') return value as unknown as HostOutcome;
    } catch {
      // reported below
    }
    return { instanceId, status: 'failed', error: `the recorded outcome in ${dir} cannot be read`, endedAtMs: 0 };
  }

  private async readRecord(commandId: string): Promise<CommandRecord> {
    if (!COMMAND_ID.test(commandId)) throw new NotFoundError(`${JSON.stringify(commandId)} is not a local command id`);
    const file = path.join(this.commandsDir, commandId, 'command.json');
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`no local command ${commandId} (${file} is missing)`);
      throw new ControlPlaneError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
    }
    const record = this.parseRecord(text);
    if (!record) throw new ControlPlaneError(`${file} is not a command record: delete its folder`);
    return record;
  }

  private parseRecord(text: string): CommandRecord | null {
    try {
      const value = JSON.parse(text) as unknown;
      const ok = isRecord(value) && typeof value.commandId === 'string' && typeof value.fleet === 'string'
        && typeof value.attemptId === 'string' && Array.isArray(value.instanceIds) && typeof value.startedAtMs === 'number'
        && isRecord(value.owner) && typeof value.owner.pid === 'number' && typeof value.owner.instance === 'string';
      return ok ? value as unknown as CommandRecord : null;
    } catch {
      return null;
    }
  }

  private async allRecords(): Promise<CommandRecord[]> {
    let names: string[];
    try {
      names = await readdir(this.commandsDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new ControlPlaneError(`cannot list ${this.commandsDir}: ${(err as Error).message}`, { cause: err });
    }
    const records: CommandRecord[] = [];
    for (const name of names.filter((n) => COMMAND_ID.test(n))) {
      const text = await readFile(path.join(this.commandsDir, name, 'command.json'), 'utf8').catch(() => null);
      const record = text === null ? null : this.parseRecord(text);
      if (record) records.push(record);
    }
    return records;
  }

  /** Old command records go, once per runner: they only matter while an attempt can still be adopted. */
  private async pruneOnce(): Promise<void> {
    if (this.pruned) return;
    this.pruned = true;
    const oldest = this.clock.nowMs() - this.retentionMs;
    for (const record of await this.allRecords().catch(() => [])) {
      if (record.startedAtMs < oldest && !this.live.has(record.commandId)) {
        await rm(path.join(this.commandsDir, record.commandId), { recursive: true, force: true }).catch(() => undefined);
      }
    }
  }
}
