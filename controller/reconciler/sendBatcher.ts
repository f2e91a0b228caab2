/**
 * Collects the hosts that need a command over a short window, so hosts freed one by one still share
 * SendCommand calls (at most MAX_TARGETS_PER_SEND ids each). For a sync, each host's attempt is recorded
 * in the store before the command is sent, and the command id after: a crash in between is recoverable.
 */
import type { Clock, Random } from '../ports/clock.ts';
import { MAX_TARGETS_PER_SEND, type CommandMode, type Commands, type SyncParams } from '../ports/commands.ts';
import type { HostMailbox } from './mailbox.ts';
import type { CommandPoller } from './commandPoller.ts';
import type { Logger } from '../log.ts';

interface Pool {
  mode: CommandMode;
  revision: string;
  ids: Set<string>;
  cancelTimer: (() => void) | null;
}

export interface SendBatcherOptions {
  fleet: string;
  clock: Clock;
  random: Random;
  commands: Commands;
  mailbox: HostMailbox;
  poller: CommandPoller;
  windowMs: number;
  /** unique per leader term: the lease token */
  attemptPrefix: string;
  paramsFor: (revision: string) => SyncParams;
  timeoutSeconds: () => number;
  /** carries the fleet already (a child logger) */
  log: Logger;
  signal: AbortSignal;
  track: (work: Promise<void>) => void;
}

export class SendBatcher {
  private readonly pools = new Map<string, Pool>();
  private seq = 0;

  constructor(private readonly options: SendBatcherOptions) {}

  add(mode: CommandMode, instanceId: string, revision: string): void {
    const key = `${mode}\u0000${revision}`;
    let pool = this.pools.get(key);
    if (!pool) {
      pool = { mode, revision, ids: new Set(), cancelTimer: null };
      this.pools.set(key, pool);
    }
    pool.ids.add(instanceId);
    if (pool.ids.size >= MAX_TARGETS_PER_SEND) {
      this.flush(key);
    } else if (!pool.cancelTimer) {
      pool.cancelTimer = this.options.clock.setTimer(this.options.windowMs, () => this.flush(key));
    }
  }

  /** Forgets a host that no longer needs its command (gone, or its attempt ended). */
  remove(instanceId: string): void {
    for (const pool of this.pools.values()) pool.ids.delete(instanceId);
  }

  stop(): void {
    for (const pool of this.pools.values()) pool.cancelTimer?.();
    this.pools.clear();
  }

  private flush(key: string): void {
    const pool = this.pools.get(key);
    if (!pool) return;
    this.pools.delete(key);
    pool.cancelTimer?.();
    const ids = [...pool.ids];
    for (let i = 0; i < ids.length; i += MAX_TARGETS_PER_SEND) {
      const chunk = ids.slice(i, i + MAX_TARGETS_PER_SEND);
      this.options.track(pool.mode === 'sync' ? this.sendSync(chunk, pool.revision) : this.sendProbe(chunk, pool.revision));
    }
  }

  private nextAttemptId(mode: CommandMode): string {
    this.seq += 1;
    return `${mode === 'sync' ? 'a' : 'p'}-${this.options.attemptPrefix}-${this.seq}`;
  }

  private async sendSync(chunk: string[], revision: string): Promise<void> {
    const { mailbox, clock, fleet } = this.options;
    const attemptId = this.nextAttemptId('sync');
    const recorded: string[] = [];
    await Promise.all(chunk.map(async (id) => {
      const host = mailbox.peek(id);
      if (!host || host.state !== 'syncing' || host.context.attemptId !== null || host.context.targetRevision !== revision) return;
      try {
        await mailbox.deliverNow(id, { type: 'ATTEMPT_STARTED', nowMs: clock.nowMs(), attemptId });
      } catch (error) {
        this.options.log.warn({ instanceId: id, attemptId, err: error }, 'could not record the attempt; will try again');
        return;
      }
      const after = mailbox.peek(id);
      if (after?.state === 'syncing' && after.context.attemptId === attemptId) recorded.push(id);
    }));
    if (recorded.length === 0 || this.options.signal.aborted) return;
    let commandId: string;
    try {
      ({ commandId } = await this.options.commands.send({
        fleet, attemptId, mode: 'sync', instanceIds: recorded, params: this.options.paramsFor(revision),
        timeoutSeconds: this.options.timeoutSeconds(),
      }));
    } catch (error) {
      const message = `could not send the sync command: ${error instanceof Error ? error.message : String(error)}`;
      this.options.log.warn({ attemptId, instanceIds: recorded, revision, err: error }, message);
      for (const id of recorded) {
        mailbox.deliver(id, { type: 'SEND_FAILED', nowMs: clock.nowMs(), error: message, random: this.options.random() });
      }
      return;
    }
    this.options.log.info({ attemptId, commandId, instanceIds: recorded, revision }, `sync command sent to ${recorded.length} host(s)`);
    await Promise.all(recorded.map((id) => mailbox.deliverNow(id, { type: 'SENT', nowMs: clock.nowMs(), commandId })
      .catch((error: unknown) => this.options.log.warn({ instanceId: id, attemptId, commandId, err: error },
        'could not record the command id; the poller still follows it'))));
    this.options.poller.track({ commandId, mode: 'sync', instanceIds: recorded });
  }

  private async sendProbe(chunk: string[], revision: string): Promise<void> {
    const { mailbox, clock, fleet } = this.options;
    const ids = chunk.filter((id) => mailbox.peek(id)?.state === 'probing');
    if (ids.length === 0 || this.options.signal.aborted) return;
    const attemptId = this.nextAttemptId('probe');
    try {
      const { commandId } = await this.options.commands.send({
        fleet, attemptId, mode: 'probe', instanceIds: ids, params: this.options.paramsFor(revision), timeoutSeconds: 120,
      });
      this.options.poller.track({ commandId, mode: 'probe', instanceIds: ids });
    } catch (error) {
      const message = `could not send the probe command: ${error instanceof Error ? error.message : String(error)}`;
      this.options.log.warn({ attemptId, instanceIds: ids, err: error }, message);
      for (const id of ids) mailbox.deliver(id, { type: 'PROBE_FAILED', nowMs: clock.nowMs(), error: message });
    }
  }
}
