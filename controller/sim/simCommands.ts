/**
 * The Commands port over the simulated hosts: a sync takes a set time and fails at a set rate; a host
 * already running a command answers busy, as the host script's flock does.
 */
import type { Commands, InvocationResult, SendArgs } from '../ports/commands.ts';
import { MAX_TARGETS_PER_SEND } from '../ports/commands.ts';
import { ControlPlaneError, NotFoundError } from '../errors.ts';
import { isAsleep, type SimInstance, type SimWorld } from './simWorld.ts';

interface SimInvocation {
  instanceId: string;
  doneAtMs: number;
  outcome: 'success' | 'failed' | 'busy';
  settled: boolean;
  cancelled: boolean;
}

interface SimCommand {
  commandId: string;
  fleet: string;
  attemptId: string;
  mode: SendArgs['mode'];
  revision: string;
  invocations: SimInvocation[];
}

const LIST_PAGE = 50;

/** What the fault plan makes of one command on one host (sim faults only). */
export interface HostRun {
  /** the agent is offline: the command starts when it is back */
  startAtMs?: number;
  durationMs?: number;
  fails?: boolean;
  /** the host script never finishes: only a cancel ends it */
  hangs?: boolean;
}

export class SimCommands implements Commands {
  private readonly commands = new Map<string, SimCommand>();
  private nextId = 1;
  /** (attemptId, instanceId) pairs that got a command: a second send for one is a duplicate */
  private readonly sentAttempts = new Set<string>();
  duplicateSends = 0;
  syncsSent = 0;
  /** invocations that started on each host and may still run, for the invariant checker */
  private readonly started = new Map<string, Array<{ inv: SimInvocation; mode: SendArgs['mode'] }>>();

  constructor(
    private readonly world: SimWorld,
    private readonly options: {
      syncMs: number; probeMs: number; failRate: number;
      /** fault plans change how a command runs on a host */
      hostRun?: (args: { instanceId: string; mode: SendArgs['mode']; durationMs: number }) => HostRun;
    },
  ) {}

  /** Commands (of `mode`, or any) still running on a host now: neither finished nor cancelled. */
  running(instanceId: string, mode?: SendArgs['mode']): number {
    const list = this.started.get(instanceId);
    if (!list) return 0;
    const now = this.world.options.clock.nowMs();
    const live = list.filter(({ inv }) => !inv.cancelled && now < inv.doneAtMs);
    if (live.length === 0) this.started.delete(instanceId);
    else if (live.length < list.length) this.started.set(instanceId, live);
    return mode === undefined ? live.length : live.filter((s) => s.mode === mode).length;
  }

  send(args: SendArgs): Promise<{ commandId: string }> {
    if (args.instanceIds.length > MAX_TARGETS_PER_SEND) {
      return Promise.reject(new ControlPlaneError(`SendCommand takes at most ${MAX_TARGETS_PER_SEND} instances`));
    }
    this.world.request('SendCommand');
    const now = this.world.options.clock.nowMs();
    const commandId = `cmd-${String(this.nextId++).padStart(6, '0')}`;
    const invocations: SimInvocation[] = args.instanceIds.map((instanceId) => {
      const host = this.world.instances.get(instanceId);
      if (args.mode === 'sync') {
        this.syncsSent += 1;
        const key = `${args.attemptId}/${instanceId}`;
        if (this.sentAttempts.has(key)) this.duplicateSends += 1;
        this.sentAttempts.add(key);
      }
      if (!host) return { instanceId, doneAtMs: now, outcome: 'failed', settled: true, cancelled: false };
      // SSM refuses a stopped instance (InvalidInstanceId); counted, as the controller must never try.
      if (isAsleep(host)) {
        this.world.commandsToAsleep += 1;
        return { instanceId, doneAtMs: now, outcome: 'failed', settled: true, cancelled: false };
      }
      if (host.running > 0) return { instanceId, doneAtMs: now + 1000, outcome: 'busy', settled: false, cancelled: false };
      host.running += 1;
      if (args.mode === 'sync') host.syncing += 1;
      let fails = args.mode === 'sync' && this.options.failRate > 0 && this.world.options.random() < this.options.failRate;
      const duration = args.mode === 'sync' ? this.options.syncMs : this.options.probeMs;
      let doneAtMs = now + duration;
      if (this.options.hostRun) {
        const run = this.options.hostRun({ instanceId, mode: args.mode, durationMs: duration });
        doneAtMs = run.hangs ? Number.POSITIVE_INFINITY : Math.max(now, run.startAtMs ?? now) + (run.durationMs ?? duration);
        fails ||= run.fails === true;
      }
      const inv: SimInvocation = { instanceId, doneAtMs, outcome: fails ? 'failed' : 'success', settled: false, cancelled: false };
      const list = this.started.get(instanceId) ?? [];
      list.push({ inv, mode: args.mode });
      this.started.set(instanceId, list);
      return inv;
    });
    this.world.noteRunning();
    this.commands.set(commandId, {
      commandId, fleet: args.fleet, attemptId: args.attemptId, mode: args.mode, revision: args.params.revision, invocations,
    });
    return Promise.resolve({ commandId });
  }

  results(commandId: string): Promise<InvocationResult[]> {
    const command = this.commands.get(commandId);
    if (!command) return Promise.reject(new NotFoundError(`no command ${commandId}`));
    for (let i = 0; i < Math.max(1, Math.ceil(command.invocations.length / LIST_PAGE)); i++) {
      this.world.request('ListCommandInvocations');
    }
    const now = this.world.options.clock.nowMs();
    return Promise.resolve(command.invocations.map((inv) => this.resultOf(command, inv, now)));
  }

  private resultOf(command: SimCommand, inv: SimInvocation, now: number): InvocationResult {
    if (inv.cancelled) return { instanceId: inv.instanceId, status: 'cancelled', error: 'cancelled' };
    if (now < inv.doneAtMs) return { instanceId: inv.instanceId, status: 'pending' };
    const host = this.world.instances.get(inv.instanceId);
    if (!inv.settled) {
      inv.settled = true;
      if (host && inv.outcome !== 'busy') this.release(host, command.mode);
      if (host && inv.outcome === 'success' && command.mode === 'sync') {
        host.revision = command.revision;
        this.world.note(host.instanceId, `synced ${command.revision}`);
      }
    }
    if (inv.outcome === 'busy') {
      return { instanceId: inv.instanceId, status: 'busy', exitCode: 75, error: 'another sync holds the host lock' };
    }
    if (inv.outcome === 'failed' || !host) {
      return { instanceId: inv.instanceId, status: 'failed', exitCode: 3, error: host ? 'sync failed (simulated)' : 'instance gone' };
    }
    return {
      instanceId: inv.instanceId, status: 'success', exitCode: 0,
      result: { revision: host.revision, status: 'ok', strategy: 'release' },
    };
  }

  cancel(args: { commandId: string; instanceIds?: string[] }): Promise<void> {
    this.world.request('CancelCommand');
    const command = this.commands.get(args.commandId);
    const now = this.world.options.clock.nowMs();
    for (const inv of command?.invocations ?? []) {
      if (args.instanceIds && !args.instanceIds.includes(inv.instanceId)) continue;
      if (inv.settled || now >= inv.doneAtMs) continue;
      inv.cancelled = true;
      inv.settled = true;
      const host = this.world.instances.get(inv.instanceId);
      if (host && inv.outcome !== 'busy') this.release(host, command?.mode ?? 'sync');
    }
    return Promise.resolve();
  }

  private release(host: SimInstance, mode: SendArgs['mode']): void {
    host.running -= 1;
    if (mode === 'sync') host.syncing -= 1;
  }

  cancelOrphans(args: { fleet: string; instanceId: string }): Promise<number> {
    this.world.request('ListCommands');
    const now = this.world.options.clock.nowMs();
    let cancelled = 0;
    for (const command of this.commands.values()) {
      if (command.fleet !== args.fleet) continue;
      for (const inv of command.invocations) {
        if (inv.instanceId !== args.instanceId || inv.settled) continue;
        // One that has ended by now is over on the host (results are only settled when read).
        if (now >= inv.doneAtMs) {
          this.resultOf(command, inv, now);
          continue;
        }
        void this.cancel({ commandId: command.commandId, instanceIds: [args.instanceId] });
        cancelled += 1;
      }
    }
    return Promise.resolve(cancelled);
  }

  findByAttempt(args: { fleet: string; attemptId: string }): Promise<string | null> {
    this.world.request('ListCommands');
    for (const command of this.commands.values()) {
      if (command.fleet === args.fleet && command.attemptId === args.attemptId) return Promise.resolve(command.commandId);
    }
    return Promise.resolve(null);
  }
}
