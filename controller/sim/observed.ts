/**
 * Shows the invariant checker every call of one controller that reaches the world. It sits inside the fault
 * layer, so it sees exactly the calls that took effect, including those whose caller was told they failed.
 */
import type { SendArgs } from '../ports/commands.ts';
import type { LifecycleResult } from '../ports/fleet.ts';
import type { Lease } from '../ports/store.ts';
import type { InvariantChecker } from './invariants.ts';

const STORE_WRITES = new Set(['putHost', 'deleteHost', 'putStatus', 'appendHistory', 'putFleetSpec']);

function describe(arg: unknown): string {
  if (typeof arg === 'string') return arg;
  const a = arg as { host?: { instanceId?: string }; instanceId?: string; type?: string } | null;
  return a?.host?.instanceId ?? a?.instanceId ?? a?.type ?? '';
}

/** `port` names which hooks apply: store (leases, writes), commands (sends), fleet (lifecycle completions). */
export function observed<T extends object>(target: T, port: 'store' | 'commands' | 'fleet', controller: string, checker: InvariantChecker): T {
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const value: unknown = Reflect.get(obj, prop, receiver);
      if (typeof value !== 'function') return value;
      const method = value as (...a: unknown[]) => Promise<unknown>;
      const name = String(prop);
      return async (...args: unknown[]) => {
        if (port === 'commands' && name === 'send') checker.beforeSend(controller, args[0] as SendArgs);
        if (port === 'fleet' && name === 'completeLifecycle') {
          const a = args[0] as { instanceId: string; result: LifecycleResult };
          checker.beforeLifecycle(controller, a.instanceId, a.result);
        }
        const result = await method.apply(obj, args);
        if (port === 'store') {
          if (name === 'acquireLease' || name === 'renewLease') checker.onLease(controller, result as Lease | null);
          if (STORE_WRITES.has(name)) checker.afterWrite(controller, `${name} ${describe(args[0])}`);
        }
        return result;
      };
    },
  });
}
