/**
 * The Traffic port over the simulated group: every live instance is a healthy target unless deregistered. A
 * deregistered target reports `draining` for `drainMs` (the target group's deregistration delay), then `unused`.
 */
import type { TargetState, Traffic } from '../ports/traffic.ts';
import type { SimWorld } from './simWorld.ts';

export class SimTraffic implements Traffic {
  private readonly deregistered = new Set<string>();
  private readonly drainedAtMs = new Map<string, number>();
  /** in-service instances out of the load balancer at once, at most */
  maxDeregistered = 0;

  constructor(private readonly world: SimWorld, private readonly options: { drainMs?: number } = {}) {}

  isDeregistered(instanceId: string): boolean {
    return this.deregistered.has(instanceId);
  }

  health(targetGroupArns: string[]): Promise<Map<string, TargetState>> {
    for (let i = 0; i < targetGroupArns.length; i++) this.world.request('DescribeTargetHealth');
    const states = new Map<string, TargetState>();
    for (const inst of this.world.live()) {
      if (inst.lifecycleState !== 'InService') continue;
      const drainedAt = this.drainedAtMs.get(inst.instanceId) ?? 0;
      const state = !this.deregistered.has(inst.instanceId) ? 'healthy'
        : this.world.options.clock.nowMs() < drainedAt ? 'draining' : 'unused';
      states.set(inst.instanceId, state);
    }
    return Promise.resolve(states);
  }

  deregister(args: { targetGroupArns: string[]; instanceIds: string[] }): Promise<void> {
    for (let i = 0; i < args.targetGroupArns.length; i++) this.world.request('DeregisterTargets');
    const now = this.world.options.clock.nowMs();
    for (const id of args.instanceIds) {
      if (!this.deregistered.has(id)) this.drainedAtMs.set(id, now + (this.options.drainMs ?? 0));
      this.deregistered.add(id);
    }
    this.maxDeregistered = Math.max(this.maxDeregistered, this.deregistered.size);
    return Promise.resolve();
  }

  register(args: { targetGroupArns: string[]; instanceIds: string[] }): Promise<void> {
    for (let i = 0; i < args.targetGroupArns.length; i++) this.world.request('RegisterTargets');
    for (const id of args.instanceIds) this.deregistered.delete(id);
    return Promise.resolve();
  }
}
