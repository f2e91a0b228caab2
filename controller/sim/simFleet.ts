/** The Fleet port over the simulated group, counting requests as the AWS calls they stand for. */
import type { Fleet, FleetRef, Instance, LifecycleResult } from '../ports/fleet.ts';
import { NotFoundError } from '../errors.ts';
import type { SimWorld } from './simWorld.ts';

/** DescribeInstanceInformation returns up to 50 per page. */
const AGENT_PAGE = 50;

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
    if (inst.lifecycleState !== 'Pending:Wait') return Promise.resolve();
    this.world.completions.push({
      instanceId: inst.instanceId, result: args.result, revision: inst.revision, intended: this.world.intendedRevision(),
      atMs: this.world.options.clock.nowMs(),
    });
    if (args.result === 'CONTINUE') inst.lifecycleState = 'InService';
    else this.world.terminate(inst.instanceId);
    return Promise.resolve();
  }

  heartbeat(args: { ref: FleetRef; instanceId: string }): Promise<void> {
    this.world.request('RecordLifecycleActionHeartbeat');
    const inst = this.world.instances.get(args.instanceId);
    const timeoutMs = this.world.options.hookTimeoutMs;
    if (inst?.lifecycleState === 'Pending:Wait' && inst.hookDeadlineMs !== undefined && timeoutMs) {
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
