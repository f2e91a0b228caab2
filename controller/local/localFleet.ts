/**
 * The Fleet port over local groups (localGroup.ts): hosts are folders on this machine, their agent is always
 * online, and the group behaves like an Auto Scaling group with a launch lifecycle hook:
 *   - an added host starts in Pending:Wait and is put InService only when the controller completes its
 *     lifecycle action with CONTINUE; ABANDON makes it leave the group at once;
 *   - a removed host (scaled in, or marked unhealthy) goes Terminating and leaves the group `terminatingMs`
 *     later (the next list or scale after that time removes it);
 *   - with a warm pool, the group keeps that many hosts stopped beside it: each starts in Warmed:Pending:Wait and
 *     is stopped (Warmed:Stopped, its agent offline) on CONTINUE; scaling up starts stopped hosts first (back to
 *     Pending:Wait), then adds new ones, and the pool is refilled.
 * Unlike an Auto Scaling group nothing replaces a host that left: the group holds what `scale` asked for.
 * The ref's autoScalingGroupName names the local group (the demo fleet's is `demo`).
 */
import path from 'node:path';
import type { Clock } from '../ports/clock.ts';
import type { Fleet, FleetRef, Instance, LifecycleResult } from '../ports/fleet.ts';
import { isHookWaiting, isLeaving, isWarm } from '../ports/fleet.ts';
import { NotFoundError } from '../errors.ts';
import { ValidationError } from '../../state/validate.ts';
import { newInstanceId, type GroupFile, type LocalGroup, type LocalInstance } from './localGroup.ts';
import { LocalLaunchEvents } from './localLaunchEvents.ts';

export interface LocalFleetOptions {
  group: LocalGroup;
  clock: Clock;
  /** how long a removed host stays Terminating before it leaves the group */
  terminatingMs?: number;
}

export interface ScaleResult {
  group: string;
  before: number;
  after: number;
  added: string[];
  removing: string[];
  /** hosts launched into the warm pool (Warmed:Pending:Wait) to refill it */
  warmed: string[];
}

const asleep = (i: LocalInstance): boolean => i.lifecycleState === 'Warmed:Stopped' || i.lifecycleState === 'Warmed:Hibernated';

export const DEFAULT_TERMINATING_MS = 2_000;
export const MAX_LOCAL_HOSTS = 50;

/** Removes the Terminating instances whose time has come; returns their ids. */
function settle(file: GroupFile, nowMs: number): string[] {
  const left: string[] = [];
  for (const [name, instances] of Object.entries(file.groups)) {
    file.groups[name] = instances.filter((i) => {
      const leaving = i.leaveAtMs !== undefined && i.leaveAtMs <= nowMs;
      if (leaving) left.push(i.instanceId);
      return !leaving;
    });
  }
  return left;
}

function unknownGroup(name: string, file: GroupFile, where: string): NotFoundError {
  const known = Object.keys(file.groups);
  return new NotFoundError(`there is no local group ${name} in ${where}`
    + (known.length > 0 ? ` (local groups: ${known.join(', ')})` : ' (no local groups yet: start the embedded controller once with `npm start`)'));
}

export class LocalFleet implements Fleet {
  private readonly group: LocalGroup;
  private readonly clock: Clock;
  private readonly terminatingMs: number;
  /** what an Auto Scaling group's launch hook sends to EventBridge, sent here for each host added in Pending:Wait */
  private readonly launchEvents: LocalLaunchEvents;

  constructor(options: LocalFleetOptions) {
    this.group = options.group;
    this.clock = options.clock;
    this.terminatingMs = options.terminatingMs ?? DEFAULT_TERMINATING_MS;
    this.launchEvents = new LocalLaunchEvents({ home: path.dirname(options.group.hostsDir), clock: options.clock });
  }

  async list(ref: FleetRef): Promise<Instance[]> {
    let file = await this.group.read();
    const nowMs = this.clock.nowMs();
    const due = Object.values(file.groups).some((instances) => instances.some((i) => i.leaveAtMs !== undefined && i.leaveAtMs <= nowMs));
    if (due) file = await this.changeAndRetire((f) => ({ changed: true, value: f }));
    const instances = file.groups[ref.autoScalingGroupName];
    if (!instances) throw unknownGroup(ref.autoScalingGroupName, file, this.group.file);
    return instances.map((i) => ({
      instanceId: i.instanceId,
      lifecycleState: i.lifecycleState,
      launchTimeMs: i.launchTimeMs,
      privateIp: '127.0.0.1',
      availabilityZone: 'local',
      // a stopped host's agent is not running: nothing can reach it until it leaves the pool
      agentOnline: !asleep(i),
    }));
  }

  async completeLifecycle(args: { ref: FleetRef; instanceId: string; result: LifecycleResult }): Promise<void> {
    const { ref, instanceId, result } = args;
    await this.changeAndRetire((file) => {
      const instances = file.groups[ref.autoScalingGroupName];
      if (!instances) throw unknownGroup(ref.autoScalingGroupName, file, this.group.file);
      const index = instances.findIndex((i) => i.instanceId === instanceId);
      const instance = instances[index];
      if (!instance) throw new NotFoundError(`instance ${instanceId} is not in the local group ${ref.autoScalingGroupName} (it has left)`);
      // As with Auto Scaling: completing an action that is no longer waiting changes nothing.
      if (!isHookWaiting(instance.lifecycleState)) return { changed: false, value: undefined };
      if (result === 'ABANDON') instances.splice(index, 1);
      else instance.lifecycleState = isWarm(instance.lifecycleState) ? 'Warmed:Stopped' : 'InService';
      return { changed: true, value: undefined };
    }, result === 'ABANDON' ? [instanceId] : []);
  }

  /** Local hooks have no heartbeat timeout: a launching host waits as long as it takes. */
  async heartbeat(args: { ref: FleetRef; instanceId: string }): Promise<void> {
    await this.find(args.ref, args.instanceId);
  }

  async markUnhealthy(args: { ref: FleetRef; instanceId: string }): Promise<void> {
    const nowMs = this.clock.nowMs();
    await this.changeAndRetire((file) => {
      const instance = file.groups[args.ref.autoScalingGroupName]?.find((i) => i.instanceId === args.instanceId);
      if (!instance) throw new NotFoundError(`instance ${args.instanceId} is not in the local group ${args.ref.autoScalingGroupName}`);
      if (isLeaving(instance.lifecycleState)) return { changed: false, value: undefined };
      instance.lifecycleState = 'Terminating';
      instance.leaveAtMs = nowMs + this.terminatingMs;
      return { changed: true, value: undefined };
    });
  }

  /**
   * Sets the number of hosts in a group that are not leaving (its warm pool aside). Stopped warm-pool hosts are
   * started first (Pending:Wait); new hosts get a folder (with `media/` and `var/`) and start in `lifecycleState`
   * (Pending:Wait, as under a launch hook); removing takes the newest hosts first, which go Terminating.
   * `warmPool` sets the size of the group's warm pool (kept until changed); the pool is refilled (or shrunk)
   * to it. `create` makes the group when it does not exist.
   */
  async scale(args: { group: string; count: number; lifecycleState?: string; create?: boolean; warmPool?: number }): Promise<ScaleResult> {
    if (!Number.isInteger(args.count) || args.count < 0 || args.count > MAX_LOCAL_HOSTS) {
      throw new ValidationError([`a local group holds from 0 to ${MAX_LOCAL_HOSTS} hosts, not ${args.count}`]);
    }
    if (args.warmPool !== undefined && (!Number.isInteger(args.warmPool) || args.warmPool < 0 || args.count + args.warmPool > MAX_LOCAL_HOSTS)) {
      throw new ValidationError([`a local group and its warm pool hold from 0 to ${MAX_LOCAL_HOSTS} hosts together, not ${args.count} + ${args.warmPool}`]);
    }
    const nowMs = this.clock.nowMs();
    const added: string[] = [];
    const warmed: string[] = [];
    const created: string[] = [];
    const newHost = (instances: LocalInstance[], lifecycleState: string, into: string[]): void => {
      const instance: LocalInstance = { instanceId: newInstanceId(), lifecycleState, launchTimeMs: nowMs + created.length };
      instances.push(instance);
      into.push(instance.instanceId);
      created.push(instance.instanceId);
    };
    const result = await this.changeAndRetire((file) => {
      if (!file.groups[args.group]) {
        if (!args.create) throw unknownGroup(args.group, file, this.group.file);
        file.groups[args.group] = [];
      }
      const instances = file.groups[args.group]!;
      const staying = instances.filter((i) => !isLeaving(i.lifecycleState) && !isWarm(i.lifecycleState));
      const before = staying.length;
      const removing: string[] = [];
      if (args.count > before) {
        // Stopped warm-pool hosts first, the oldest first: started, they wait for the launch hook again.
        const drawn = instances.filter(asleep).sort((a, b) => a.launchTimeMs - b.launchTimeMs).slice(0, args.count - before);
        for (const instance of drawn) {
          instance.lifecycleState = args.lifecycleState ?? 'Pending:Wait';
          added.push(instance.instanceId);
        }
        for (let n = before + drawn.length; n < args.count; n++) newHost(instances, args.lifecycleState ?? 'Pending:Wait', added);
      } else {
        const newestFirst = [...staying].sort((a, b) => b.launchTimeMs - a.launchTimeMs || b.instanceId.localeCompare(a.instanceId));
        for (const instance of newestFirst.slice(0, before - args.count)) {
          instance.lifecycleState = 'Terminating';
          instance.leaveAtMs = nowMs + this.terminatingMs;
          removing.push(instance.instanceId);
        }
      }
      if (args.warmPool !== undefined) file.warmPools = { ...file.warmPools, [args.group]: args.warmPool };
      const poolSize = file.warmPools?.[args.group] ?? 0;
      const pool = instances.filter((i) => isWarm(i.lifecycleState) && !isLeaving(i.lifecycleState));
      for (let n = pool.length; n < poolSize; n++) newHost(instances, 'Warmed:Pending:Wait', warmed);
      for (const instance of pool.sort((a, b) => b.launchTimeMs - a.launchTimeMs).slice(0, Math.max(0, pool.length - poolSize))) {
        instance.lifecycleState = 'Warmed:Terminating';
        instance.leaveAtMs = nowMs + this.terminatingMs;
        removing.push(instance.instanceId);
      }
      return { changed: true, value: { group: args.group, before, after: args.count, added, removing, warmed } };
    }, [], async () => {
      // Folders first, so a host is never listed without its destination (a host drawn from the pool has one).
      for (const id of created) await this.group.createHostFolder(id);
    });
    // After the group file lists them, so the pass an event asks for finds them. Best effort, as in AWS: a host
    // whose event is not written is found by the resync.
    const waiting = [...((args.lifecycleState ?? 'Pending:Wait') === 'Pending:Wait' ? added : []), ...result.warmed];
    for (const instanceId of waiting) {
      await this.launchEvents.publish({ autoScalingGroupName: args.group, instanceId }).catch(() => undefined);
    }
    return result;
  }

  private async find(ref: FleetRef, instanceId: string): Promise<LocalInstance> {
    const file = await this.group.read();
    const instances = file.groups[ref.autoScalingGroupName];
    if (!instances) throw unknownGroup(ref.autoScalingGroupName, file, this.group.file);
    const instance = instances.find((i) => i.instanceId === instanceId);
    if (!instance) throw new NotFoundError(`instance ${instanceId} is not in the local group ${ref.autoScalingGroupName}`);
    return instance;
  }

  /**
   * Runs `change` under the group file's lock after removing due Terminating hosts, then moves the folders of
   * every host that left (those and `leaving`) to hosts/.terminated/.
   */
  private async changeAndRetire<T>(
    change: (file: GroupFile) => { changed: boolean; value: T },
    leaving: string[] = [],
    beforeWrite?: () => Promise<void>,
  ): Promise<T> {
    const nowMs = this.clock.nowMs();
    const left: string[] = [];
    const value = await this.group.update((file) => {
      left.push(...settle(file, nowMs));
      const result = change(file);
      return { changed: result.changed || left.length > 0, value: result.value };
    }, beforeWrite);
    for (const id of [...left, ...leaving]) await this.group.retireHostFolder(id);
    return value;
  }
}
