/**
 * Turns a fleet's launch events into observations now: each event asks for a pass of the whole fleet (the
 * same level-triggered pass the resync runs), so a launching instance is synced within seconds instead of at
 * the next resync. An event is a hint, never state: one lost leaves the instance to the resync, one that comes
 * twice asks for a pass that finds nothing new.
 *
 * An instance's hook fires before its command agent is online, so the first pass usually finds it waiting for
 * its agent. Until it is past that wait, the fleet is observed again every `followUpMs`, so the agent coming
 * online is noticed within seconds too, not at the resync. This costs passes only while a launch is under way.
 *
 * Run by the fleet reconciler, which exists only while this process leads the fleet: a queue read here is
 * read by the leader alone (see controller/ports/launchEvents.ts).
 */
import type { Clock } from '../ports/clock.ts';
import type { LaunchEvent, LaunchEvents } from '../ports/launchEvents.ts';
import type { Logger } from '../log.ts';

/**
 * Follow-ups last at most this long per launch: an SSM agent registers within a minute or two of boot, and one
 * that takes longer is left to the resync rather than costing a pass of the whole group every poll.
 */
export const FOLLOW_UP_MAX_MS = 180_000;

/** Host states in which a launched instance still needs its fleet observed again. */
const AWAITING_OBSERVATION = new Set(['discovered', 'waitingForAgent']);

export interface LaunchListenerOptions {
  launchEvents: LaunchEvents;
  clock: Clock;
  log: Logger;
  /** aborts when the reconciler stops (leadership lost, shutdown) */
  signal: AbortSignal;
  track: (work: Promise<void>) => void;
  /** one pass over the whole fleet; handles its own errors */
  observe: () => Promise<void>;
  /** the host's machine state; null when the fleet has not observed it yet */
  stateOf: (instanceId: string) => string | null;
  followUpMs: number;
  /** a launched host still waiting for its agent after this long (at most FOLLOW_UP_MAX_MS) is left to the resync */
  followUpForMs: number;
  /** a host no pass has found after this long is left to the resync (it left the group, or never was in it) */
  unseenForMs: number;
}

export class LaunchListener {
  private group: string | null = null;
  private following: AbortController | null = null;
  /** launched hosts followed up: instance id → when its event came */
  private readonly watched = new Map<string, number>();
  private observing = false;
  private again = false;
  private cancelFollowUp: (() => void) | null = null;

  constructor(private readonly o: LaunchListenerOptions) {}

  /** Follows the group's events; again from scratch when the spec names another group. */
  follow(group: string): void {
    if (group === this.group || this.o.signal.aborted) return;
    this.following?.abort();
    this.group = group;
    const following = new AbortController();
    this.following = following;
    const stop = (): void => following.abort();
    this.o.signal.addEventListener('abort', stop, { once: true });
    this.o.track(this.o.launchEvents.follow({ autoScalingGroupName: group, signal: following.signal, onEvent: (e) => this.onEvent(e) })
      .finally(() => this.o.signal.removeEventListener('abort', stop)));
  }

  stop(): void {
    this.following?.abort();
    this.cancelFollowUp?.();
    this.cancelFollowUp = null;
  }

  private onEvent(event: LaunchEvent): void {
    if (this.o.signal.aborted) return;
    this.o.log.debug({ instanceId: event.instanceId, origin: event.origin, destination: event.destination }, 'launch event: observing the fleet now');
    if (!this.watched.has(event.instanceId)) this.watched.set(event.instanceId, this.o.clock.nowMs());
    this.observeNow();
  }

  /** One pass at a time: events during a pass ask for one more after it, not one each. */
  private observeNow(): void {
    if (this.observing) {
      this.again = true;
      return;
    }
    this.observing = true;
    this.o.track((async () => {
      try {
        do {
          this.again = false;
          await this.o.observe();
        } while (this.again && !this.o.signal.aborted);
      } finally {
        this.observing = false;
        this.scheduleFollowUp();
      }
    })());
  }

  private scheduleFollowUp(): void {
    if (this.cancelFollowUp || this.o.signal.aborted || this.watched.size === 0) return;
    this.cancelFollowUp = this.o.clock.setTimer(this.o.followUpMs, () => {
      this.cancelFollowUp = null;
      const now = this.o.clock.nowMs();
      for (const [id, sinceMs] of this.watched) {
        const state = this.o.stateOf(id);
        const done = state === null ? now - sinceMs >= this.o.unseenForMs
          : !AWAITING_OBSERVATION.has(state) || now - sinceMs >= Math.min(this.o.followUpForMs, FOLLOW_UP_MAX_MS);
        if (done) this.watched.delete(id);
      }
      if (this.watched.size > 0) this.observeNow();
    });
  }
}
