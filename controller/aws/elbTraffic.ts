/**
 * Traffic on AWS: ELBv2 target groups whose targets are instance ids. DescribeTargetHealth has no pages
 * (one call answers for a whole target group), so a pass costs one call per target group.
 */
import {
  DeregisterTargetsCommand, DescribeTargetHealthCommand, type ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { TargetState, Traffic } from '../ports/traffic.ts';
import { callAws, type OnCall } from './callCounter.ts';

export interface ElbTrafficOptions {
  client: ElasticLoadBalancingV2Client;
  onCall?: OnCall;
}

/** Worse states rank higher: a host is as available as its worst target group says. */
const RANK: Record<TargetState, number> = {
  healthy: 0, initial: 1, unused: 2, draining: 3, unhealthy: 4, unavailable: 5,
};

/** ELB's states, mapped onto the port's; `unhealthy.draining` is on its way out, like draining. */
export function targetState(elbState: string | undefined): TargetState {
  switch (elbState) {
    case 'healthy': case 'initial': case 'unused': case 'draining': case 'unhealthy': case 'unavailable':
      return elbState;
    case 'unhealthy.draining':
      return 'draining';
    default:
      return 'unavailable';
  }
}

export class ElbTraffic implements Traffic {
  private readonly client: ElasticLoadBalancingV2Client;
  private readonly onCall: OnCall | undefined;

  constructor(options: ElbTrafficOptions) {
    this.client = options.client;
    this.onCall = options.onCall;
  }

  async health(targetGroupArns: string[], signal?: AbortSignal): Promise<Map<string, TargetState>> {
    const worst = new Map<string, TargetState>();
    for (const arn of targetGroupArns) {
      const page = await callAws('DescribeTargetHealth', this.onCall, () => this.client.send(
        new DescribeTargetHealthCommand({ TargetGroupArn: arn }), { abortSignal: signal }));
      for (const d of page.TargetHealthDescriptions ?? []) {
        const id = d.Target?.Id;
        if (id === undefined) continue;
        const state = targetState(d.TargetHealth?.State);
        const before = worst.get(id);
        if (before === undefined || RANK[state] > RANK[before]) worst.set(id, state);
      }
    }
    return worst;
  }

  async deregister(args: { targetGroupArns: string[]; instanceIds: string[] }): Promise<void> {
    if (args.instanceIds.length === 0) return;
    const targets = args.instanceIds.map((Id) => ({ Id }));
    for (const arn of args.targetGroupArns) {
      await callAws('DeregisterTargets', this.onCall, () => this.client.send(
        new DeregisterTargetsCommand({ TargetGroupArn: arn, Targets: targets })));
    }
  }

  async register(args: { targetGroupArns: string[]; instanceIds: string[] }): Promise<void> {
    if (args.instanceIds.length === 0) return;
    const targets = args.instanceIds.map((Id) => ({ Id }));
    for (const arn of args.targetGroupArns) {
      await callAws('RegisterTargets', this.onCall, () => this.client.send(
        new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: targets })));
    }
  }
}
