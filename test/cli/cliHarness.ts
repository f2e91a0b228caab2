/** Runs the CLI in-process through main(argv) with captured output, and builds what a controller would write. */
import type { Clock } from '../../controller/ports/clock.ts';
import { realClock } from '../../controller/clock/realClock.ts';
import type { CliIo } from '../../controller/cli/cliIo.ts';
import { main } from '../../controller/cli/main.ts';
import type { HostRecord, HostState } from '../../state/host.ts';
import type { Condition, FleetStatus, HostCounts } from '../../state/spec.ts';
import { countHosts } from '../../state/buckets.ts';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CapturedOutput {
  text: string;
  isTTY?: boolean;
  columns?: number;
  write(chunk: string): boolean;
}

export function capture(options: { isTTY?: boolean; columns?: number } = {}): CapturedOutput {
  const out: CapturedOutput = {
    text: '',
    ...options,
    write(chunk: string) {
      out.text += chunk;
      return true;
    },
  };
  return out;
}

export async function run(argv: string[], options: {
  env?: Record<string, string | undefined>;
  cwd?: string;
  clock?: Clock;
  signal?: AbortSignal;
  stdout?: CapturedOutput;
  stderr?: CapturedOutput;
} = {}): Promise<RunResult> {
  const stdout = options.stdout ?? capture();
  const stderr = options.stderr ?? capture();
  const io: CliIo = {
    stdout,
    stderr,
    env: options.env ?? {},
    cwd: options.cwd ?? process.cwd(),
    clock: options.clock ?? realClock,
    defaultActor: () => 'tester@testhost',
    ...(options.signal ? { signal: options.signal } : {}),
  };
  const code = await main(argv, io);
  return { code, stdout: stdout.text, stderr: stderr.text };
}

export function hostRecord(args: {
  instanceId: string;
  state: HostState;
  reported: string | null;
  target?: string | null;
  attempt?: number;
  lastError?: string | null;
  sinceMs?: number;
}): HostRecord {
  return {
    instanceId: args.instanceId,
    state: args.state,
    context: {
      instanceId: args.instanceId,
      lifecycleState: 'InService',
      launching: false,
      lifecycleCompleted: true,
      agentOnline: true,
      reportedRevision: args.reported,
      desiredRevision: args.target ?? args.reported,
      targetRevision: args.target ?? null,
      attempt: args.attempt ?? 0,
      attemptId: null,
      commandId: null,
      deadlineMs: null,
      lastError: args.lastError ?? null,
      failedRevision: args.state === 'failed' ? (args.target ?? null) : null,
      retryRequestId: null,
      deregistered: false,
      sinceMs: args.sinceMs ?? 1_700_000_000_000,
    },
  };
}

function cond(type: Condition['type'], status: Condition['status'], reason: string, message: string): Condition {
  return { type, status, reason, message, lastTransitionTime: '2026-01-01T00:00:00.000Z' };
}

/** A status as the controller computes it from its hosts (Ready when all are in sync at `desired`). */
export function statusOf(args: {
  observedGeneration: number;
  desired: string;
  hosts: HostRecord[];
  reached?: string;
  halted?: boolean;
  updatedAtMs?: number;
}): FleetStatus {
  const counts: HostCounts = countHosts(args.hosts.map((h) => h.state));
  const at = args.hosts.filter((h) => h.state === 'inSync' && h.context.reportedRevision === args.desired).length;
  const done = counts.total > 0 && at === counts.total;
  const progress = `${at}/${counts.total} hosts at ${args.desired}`;
  return {
    observedGeneration: args.observedGeneration,
    ...(args.reached ? { revision: args.reached } : done ? { revision: args.desired } : {}),
    lastAttemptedRevision: args.desired,
    hostCounts: counts,
    conditions: [
      cond('Ready', done ? 'True' : 'False', done ? 'RolloutComplete' : 'RolloutInProgress', progress),
      cond('Progressing', done || args.halted ? 'False' : 'True', done ? 'RolloutComplete' : args.halted ? 'RolloutHalted' : 'RolloutInProgress', progress),
      args.halted
        ? cond('Degraded', 'True', 'MaxFailuresReached', `${counts.failed} host(s) failed at ${args.desired}`)
        : cond('Degraded', counts.failed > 0 ? 'True' : 'False', counts.failed > 0 ? 'HostsFailed' : 'AsExpected',
          counts.failed > 0 ? `${counts.failed} host(s) failed` : 'no failed hosts'),
    ],
    updatedAtMs: args.updatedAtMs ?? 1_700_000_000_000,
  };
}

/** A clock whose every sleep first runs the next step; it gives up after `maxSleeps` so a bug cannot hang. */
export class ScriptedClock implements Clock {
  now = 1_800_000_000_000;
  sleeps: number[] = [];
  constructor(private readonly steps: Array<() => Promise<void>>, private readonly maxSleeps = 20) {}
  nowMs(): number {
    return this.now;
  }
  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps.push(ms);
    if (this.sleeps.length > this.maxSleeps) throw new Error('the watch did not end');
    this.now += ms;
    await this.steps.shift()?.();
    if (signal?.aborted) throw signal.reason;
  }
  setTimer(): () => void {
    throw new Error('not used');
  }
}
