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
  /** set when the hosts' attempt is already recorded (its command never went out): sent under that id */
  attemptId: string | null;
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
    this.pool({ mode, revision, attemptId: null }, instanceId);
  }

  /** Sends the command of an attempt that was recorded but, as findByAttempt says, never sent. */
  resend(instanceId: string, attemptId: string, revision: string): void {
    this.pool({ mode: 'sync', revision, attemptId }, instanceId);
  }

  private pool(of: { mode: CommandMode; revision: string; attemptId: string | null }, instanceId: string): void {
    const key = `${of.mode}\u0000${of.revision}\u0000${of.attemptId ?? ''}`;
    let pool = this.pools.get(key);
    if (!pool) {
      pool = { ...of, ids: new Set(), cancelTimer: null };
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
      let work: Promise<void>;
      if (pool.mode === 'probe') work = this.sendProbe(chunk, pool.revision);
      else if (pool.attemptId !== null) work = this.resendSync(chunk, pool.attemptId, pool.revision);
      else work = this.sendSync(chunk, pool.revision);
      this.options.track(work);
    }
  }

  private nextAttemptId(mode: CommandMode): string {
    this.seq += 1;
    return `${mode === 'sync' ? 'a' : 'p'}-${this.options.attemptPrefix}-${this.seq}`;
  }

  private async sendSync(chunk: string[], revision: string): Promise<void> {
    const { mailbox, clock } = this.options;
    const attemptId = this.nextAttemptId('sync');
    const recorded: string[] = [];
    const recordedAtMs = clock.nowMs();
    await Promise.all(chunk.map(async (id) => {
      const host = mailbox.peek(id);
      if (!host || host.state !== 'syncing' || host.context.attemptId !== null || host.context.targetRevision !== revision) return;
      try {
        await mailbox.deliverNow(id, { type: 'ATTEMPT_STARTED', nowMs: clock.nowMs(), attemptId });
      } catch (error) {
        // Not recorded, so not sent: the host asks for its sync again after a backoff.
        this.options.log.warn({ instanceId: id, attemptId, err: error }, 'could not record the attempt; will try again');
        mailbox.retryLater(id);
        return;
      }
      const after = mailbox.peek(id);
      if (after?.state === 'syncing' && after.context.attemptId === attemptId) recorded.push(id);
    }));
    await this.dispatch(recorded, attemptId, revision, recordedAtMs);
  }

  private async resendSync(chunk: string[], attemptId: string, revision: string): Promise<void> {
    const ids = chunk.filter((id) => {
      const host = this.options.mailbox.peek(id);
      return host?.state === 'syncing' && host.context.attemptId === attemptId && host.context.commandId === null;
    });
    if (ids.length === 0) return;
    this.options.log.info({ attemptId, instanceIds: ids, revision }, 'sending the command of an attempt recorded but never sent');
    await this.dispatch(ids, attemptId, revision, null);
  }

  /**
   * Sends one command for hosts whose attempt is recorded. A send that fails may still have started the
   * command (a timeout, a reset connection): the attempt is looked up before anything is sent again.
   */
  private async dispatch(ids: string[], attemptId: string, revision: string, recordedAtMs: number | null): Promise<void> {
    const { mailbox, clock, fleet } = this.options;
    if (ids.length === 0 || this.options.signal.aborted) return;
    let commandId: string | null;
    try {
      ({ commandId } = await this.options.commands.send({
        fleet, attemptId, mode: 'sync', instanceIds: ids, params: this.options.paramsFor(revision),
        timeoutSeconds: this.options.timeoutSeconds(),
      }));
    } catch (error) {
      const message = `could not send the sync command: ${error instanceof Error ? error.message : String(error)}`;
      try {
        commandId = await this.options.commands.findByAttempt({ fleet, attemptId, ...(recordedAtMs !== null ? { sentAfterMs: recordedAtMs } : {}) });
      } catch (lookupError) {
        // Whether it went out is unknown: the hosts keep the attempt and look again (resumeAttempt) after a backoff.
        this.options.log.warn({ attemptId, instanceIds: ids, err: lookupError }, `${message}; could not look the attempt up, will look again`);
        for (const id of ids) mailbox.retryLater(id);
        return;
      }
      if (commandId === null) {
        this.options.log.warn({ attemptId, instanceIds: ids, revision, err: error }, message);
        for (const id of ids) {
          mailbox.deliver(id, { type: 'SEND_FAILED', nowMs: clock.nowMs(), error: message, random: this.options.random() });
        }
        return;
      }
      this.options.log.warn({ attemptId, commandId, instanceIds: ids, err: error }, 'the send looked failed but the command went out: following it');
    }
    this.options.log.info({ attemptId, commandId, instanceIds: ids, revision }, `sync command sent to ${ids.length} host(s)`);
    // The poller follows the command from now on: a result that comes before its id is stored still counts,
    // since it carries the attempt.
    this.options.poller.track({ commandId, mode: 'sync', instanceIds: ids, attemptId });
    const sent = commandId;
    await Promise.all(ids.map((id) => mailbox.deliverNow(id, { type: 'SENT', nowMs: clock.nowMs(), commandId: sent })
      .catch((error: unknown) => this.options.log.warn({ instanceId: id, attemptId, commandId: sent, err: error },
        'could not record the command id; the poller still follows it'))));
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
