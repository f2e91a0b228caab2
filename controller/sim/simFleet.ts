/** The Fleet port over the simulated group, counting requests as the AWS calls they stand for. */
import { isHookWaiting, isWarm, type Fleet, type FleetRef, type Instance, type LifecycleResult } from '../ports/fleet.ts';
import { NotFoundError } from '../errors.ts';
import type { SimWorld } from './simWorld.ts';

/** DescribeInstanceInformation and DescribeWarmPool return up to 50 per page. */
const AGENT_PAGE = 50;
const WARM_POOL_PAGE = 50;

export class SimFleet implements Fleet {
  /** Present only when the simulated hook has a timeout, as a group without one would answer nothing useful. */
  readonly heartbeatTimeoutMs?: (ref: FleetRef) => Promise<number | null>;

  constructor(private readonly world: SimWorld) {
    const timeoutMs = world.options.hookTimeoutMs;
    if (timeoutMs) {
      this.heartbeatTimeoutMs = () => {
        world.request('DescribeLifecycleHooks');
        return Promise.resolve(timeoutMs);
      };
    }
  }

  list(_ref: FleetRef): Promise<Instance[]> {
    const { world } = this;
    world.request('DescribeAutoScalingGroups');
    const live = world.live();
    if ((world.options.warmPool ?? 0) > 0) {
      const inPool = live.filter((i) => isWarm(i.lifecycleState)).length;
      for (let i = 0; i < Math.max(1, Math.ceil(inPool / WARM_POOL_PAGE)); i++) world.request('DescribeWarmPool');
    }
    for (let i = 0; i < Math.max(1, Math.ceil(live.length / AGENT_PAGE)); i++) world.request('DescribeInstanceInformation');
    const now = world.options.clock.nowMs();
    return Promise.resolve(live.map((inst) => ({
      instanceId: inst.instanceId,
      lifecycleState: inst.lifecycleState,
      launchTimeMs: inst.launchTimeMs,
      agentOnline: now >= inst.agentOnlineAtMs,
    })));
  }

  completeLifecycle(args: { ref: FleetRef; instanceId: string; result: LifecycleResult }): Promise<void> {
    this.world.request('CompleteLifecycleAction');
    const inst = this.world.instances.get(args.instanceId);
    if (!inst) return Promise.reject(new NotFoundError(`instance ${args.instanceId} is gone`));
    if (!isHookWaiting(inst.lifecycleState)) return Promise.resolve();
    this.world.completions.push({
      instanceId: inst.instanceId, result: args.result, revision: inst.revision, intended: this.world.intendedRevision(),
      atMs: this.world.options.clock.nowMs(),
    });
    this.world.note(inst.instanceId, args.result);
    if (args.result === 'ABANDON') {
      this.world.terminate(inst.instanceId);
      if (isWarm(inst.lifecycleState)) this.world.refillPool();
    } else if (isWarm(inst.lifecycleState)) this.world.sleep(inst);
    else this.world.move(inst, 'InService');
    return Promise.resolve();
  }

  heartbeat(args: { ref: FleetRef; instanceId: string }): Promise<void> {
    this.world.request('RecordLifecycleActionHeartbeat');
    const inst = this.world.instances.get(args.instanceId);
    const timeoutMs = this.world.options.hookTimeoutMs;
    if (inst && isHookWaiting(inst.lifecycleState) && inst.hookDeadlineMs !== undefined && timeoutMs) {
      inst.hookDeadlineMs = this.world.options.clock.nowMs() + timeoutMs;
    }
    return Promise.resolve();
  }

  markUnhealthy(args: { ref: FleetRef; instanceId: string }): Promise<void> {
    this.world.request('SetInstanceHealth');
    this.world.terminate(args.instanceId);
    return Promise.resolve();
  }
}
