/**
 * The lease as a fence around everything a leader does: a call that acts (a command, a lifecycle action, a
 * target group change, a store write) is refused once the lease this process last renewed may have expired.
 * The leader's deadline timer stops the reconciler too, but a process that wakes from a pause runs its overdue
 * timers first: this check runs right before each act. Reads pass.
 */
import { StaleTokenError } from '../errors.ts';

export function fenced<T extends object>(args: { target: T; acts: readonly string[]; held: () => boolean; what: string }): T {
  const acts = new Set(args.acts);
  return new Proxy(args.target, {
    get(obj, prop, receiver) {
      const value: unknown = Reflect.get(obj, prop, receiver);
      if (typeof value !== 'function') return value;
      const method = value as (...a: unknown[]) => unknown;
      if (!acts.has(String(prop))) return method.bind(obj);
      return (...callArgs: unknown[]) => (args.held()
        ? method.apply(obj, callArgs)
        : Promise.reject(new StaleTokenError(`${args.what}.${String(prop)} refused: the lease may have expired since it was last `
          + 'renewed; this process no longer acts on the fleet')));
    },
  });
}

export const ACTING = {
  store: ['putStatus', 'putHost', 'deleteHost', 'claimFleet', 'appendHistory', 'putFleetSpec'],
  commands: ['send', 'cancel', 'cancelOrphans'],
  fleet: ['completeLifecycle', 'heartbeat', 'markUnhealthy'],
  traffic: ['deregister', 'register'],
} as const;
