/**
 * Launch events of an Auto Scaling group: word that an instance is waiting in a launch hook, so its fleet is
 * observed now rather than at the next resync. Best effort by nature (EventBridge itself is): an event may come
 * late, twice or never, so an event only asks for an observation and never stands for the group's state; the
 * resync stays the safety net.
 */
import type { LaunchEvent } from '../../state/launchEvent.ts';

export type { LaunchEvent } from '../../state/launchEvent.ts';

export interface LaunchEvents {
  /**
   * Hands each launch event of the group to `onEvent` until `signal` aborts, then resolves. Called only by the
   * fleet's leader while it leads: an adapter whose events are taken once (a queue) must not be read by any
   * other process, or the leader never hears of them. Resolves at once, after saying so in the log, when
   * nothing delivers events for that group.
   */
  follow(args: { autoScalingGroupName: string; signal: AbortSignal; onEvent: (event: LaunchEvent) => void }): Promise<void>;
}
