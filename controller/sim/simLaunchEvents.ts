/**
 * The LaunchEvents port over the simulated group, modelled on EventBridge into one SQS queue per group: an
 * event reaches the queue `delayMs` after the launch, waits there until a follower takes it (a message goes to
 * one receiver only), and may be lost or doubled at set rates, as best-effort delivery allows.
 */
import type { Clock, Random } from '../ports/clock.ts';
import type { LaunchEvent, LaunchEvents } from '../ports/launchEvents.ts';

type OnEvent = (event: LaunchEvent) => void;

export interface SimLaunchEventsOptions {
  clock: Clock;
  /** its own stream, so drawing losses does not change the rest of the simulation's luck */
  random: Random;
  /** from the launch to the message being on the queue */
  delayMs: number;
  /** share of events never delivered */
  lossRate?: number;
  /** share of events delivered twice */
  duplicateRate?: number;
}

export class SimLaunchEvents implements LaunchEvents {
  private readonly queues = new Map<string, LaunchEvent[]>();
  private readonly followers = new Map<string, OnEvent[]>();
  published = 0;
  lost = 0;
  delivered = 0;

  constructor(private readonly o: SimLaunchEventsOptions) {}

  /** The group sends an event (the world calls this when an instance enters a launch wait). */
  publish(event: LaunchEvent): void {
    this.published += 1;
    if (this.o.random() < (this.o.lossRate ?? 0)) {
      this.lost += 1;
      return;
    }
    const copies = this.o.random() < (this.o.duplicateRate ?? 0) ? 2 : 1;
    for (let i = 0; i < copies; i++) this.o.clock.setTimer(this.o.delayMs, () => this.enqueue(event));
  }

  follow(args: { autoScalingGroupName: string; signal: AbortSignal; onEvent: OnEvent }): Promise<void> {
    const { autoScalingGroupName: group, signal, onEvent } = args;
    if (signal.aborted) return Promise.resolve();
    this.followers.set(group, [...(this.followers.get(group) ?? []), onEvent]);
    const waiting = this.queues.get(group) ?? [];
    this.queues.delete(group);
    for (const event of waiting) this.deliver(onEvent, event);
    return new Promise((resolve) => {
      signal.addEventListener('abort', () => {
        this.followers.set(group, (this.followers.get(group) ?? []).filter((f) => f !== onEvent));
        resolve();
      }, { once: true });
    });
  }

  private enqueue(event: LaunchEvent): void {
    const follower = this.followers.get(event.autoScalingGroupName)?.[0];
    if (follower) this.deliver(follower, event);
    else this.queues.set(event.autoScalingGroupName, [...(this.queues.get(event.autoScalingGroupName) ?? []), event]);
  }

  private deliver(onEvent: OnEvent, event: LaunchEvent): void {
    this.delivered += 1;
    onEvent(event);
  }
}
