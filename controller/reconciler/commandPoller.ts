/**
 * Follows running commands: reads each command's per-host results (one call per command, not per host)
 * every poll interval, and hands each finished host its result.
 */
import type { Clock, Random } from '../ports/clock.ts';
import type { CommandMode, Commands, InvocationResult } from '../ports/commands.ts';
import type { HostEvent } from '../../state/hostMachine.ts';
import type { HostMailbox } from './mailbox.ts';
import type { Logger } from '../log.ts';

interface Tracked {
  mode: CommandMode;
  /** the sync attempt the command was sent for, when known */
  attemptId: string | null;
  waiting: Set<string>;
  cancelTimer: (() => void) | null;
}

export interface CommandPollerOptions {
  fleet: string;
  clock: Clock;
  random: Random;
  commands: Commands;
  mailbox: HostMailbox;
  pollMs: number;
  /** carries the fleet already (a child logger) */
  log: Logger;
  signal: AbortSignal;
  track: (work: Promise<void>) => void;
  onResult?: (instanceId: string, commandId: string, result: InvocationResult) => void;
}

export class CommandPoller {
  private readonly tracked = new Map<string, Tracked>();

  constructor(private readonly options: CommandPollerOptions) {}

  track(args: { commandId: string; mode: CommandMode; instanceIds: string[]; attemptId?: string }): void {
    const existing = this.tracked.get(args.commandId);
    if (existing) {
      for (const id of args.instanceIds) existing.waiting.add(id);
      existing.attemptId ??= args.attemptId ?? null;
      return;
    }
    this.tracked.set(args.commandId, {
      mode: args.mode, attemptId: args.attemptId ?? null, waiting: new Set(args.instanceIds), cancelTimer: null,
    });
    this.schedule(args.commandId);
  }

  /** Stops waiting for a host (its attempt ended another way: timeout, gone). */
  forget(instanceId: string): void {
    for (const [commandId, t] of this.tracked) {
      t.waiting.delete(instanceId);
      if (t.waiting.size === 0) this.untrack(commandId);
    }
  }

  commandsInFlight(): number {
    return this.tracked.size;
  }

  stop(): void {
    for (const t of this.tracked.values()) t.cancelTimer?.();
    this.tracked.clear();
  }

  private untrack(commandId: string): void {
    this.tracked.get(commandId)?.cancelTimer?.();
    this.tracked.delete(commandId);
  }

  private schedule(commandId: string): void {
    const t = this.tracked.get(commandId);
    if (!t || this.options.signal.aborted) return;
    t.cancelTimer = this.options.clock.setTimer(this.options.pollMs, () => {
      t.cancelTimer = null;
      this.options.track(this.poll(commandId));
    });
  }

  private async poll(commandId: string): Promise<void> {
    const t = this.tracked.get(commandId);
    if (!t) return;
    let results: InvocationResult[];
    try {
      results = await this.options.commands.results(commandId, this.options.signal);
    } catch (error) {
      this.options.log.warn({ commandId, instanceIds: [...t.waiting], err: error }, 'could not read command results; will poll again');
      this.schedule(commandId);
      return;
    }
    for (const result of results) {
      if (result.status === 'pending' || !t.waiting.has(result.instanceId)) continue;
      t.waiting.delete(result.instanceId);
      this.options.onResult?.(result.instanceId, commandId, result);
      const event = this.eventFor(t, commandId, result);
      if (event) this.options.mailbox.deliver(result.instanceId, event);
    }
    if (t.waiting.size === 0) this.untrack(commandId);
    else this.schedule(commandId);
  }

  private eventFor(t: Tracked, commandId: string, result: InvocationResult): HostEvent | null {
    const nowMs = this.options.clock.nowMs();
    const host = this.options.mailbox.peek(result.instanceId);
    if (t.mode === 'probe') {
      if (host?.state !== 'probing') return null;
      return result.status === 'success'
        ? { type: 'PROBED', nowMs, revision: result.result?.revision ?? null }
        : { type: 'PROBE_FAILED', nowMs, error: result.error ?? `probe ${result.status}` };
    }
    // A result for a command the host no longer waits on (it timed out, or was retried) changes nothing.
    // The command of the host's attempt whose id could not be stored (SENT not saved) is still its own.
    const ofAttempt = host?.context.commandId === null && t.attemptId !== null && host.context.attemptId === t.attemptId;
    if (host?.context.commandId !== commandId && !ofAttempt) return null;
    const outcome = result.status === 'success' ? 'success' : result.status === 'busy' ? 'busy' : 'failed';
    return {
      type: 'RESULT', nowMs, outcome, revision: result.result?.revision ?? null,
      error: outcome === 'success' ? null : (result.error ?? `sync ${result.status}${result.exitCode !== undefined ? ` (exit ${result.exitCode})` : ''}`),
      random: this.options.random(),
    };
  }
}
