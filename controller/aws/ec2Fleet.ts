/**
 * Fleet on AWS: an Auto Scaling group's instances (Auto Scaling) and whether their SSM agent is online (Systems
 * Manager). One pass costs a handful of paginated calls, never one per host: the DescribeAutoScalingGroups pages
 * + ceil(n/50) DescribeInstanceInformation, and, for a group with a warm pool, ceil(w/50) DescribeWarmPool pages
 * (its instances are not in the group's list). EC2 is not asked: the reconciler uses none of what DescribeInstances
 * adds (address, launch time), and the group already gives each instance's zone.
 */
import {
  type AutoScalingClient, CompleteLifecycleActionCommand, DescribeAutoScalingGroupsCommand, DescribeLifecycleHooksCommand,
  DescribeWarmPoolCommand, RecordLifecycleActionHeartbeatCommand, SetInstanceHealthCommand,
} from '@aws-sdk/client-auto-scaling';
import { DescribeInstanceInformationCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { NotFoundError } from '../errors.ts';
import type { Fleet, FleetRef, Instance, LifecycleResult } from '../ports/fleet.ts';
import { callAws, type OnCall } from './callCounter.ts';
import { sdkErrorCode, sdkErrorMessage } from './sdkErrors.ts';

/** DescribeInstanceInformation takes at most 50 ids in its InstanceIds filter. */
export const INSTANCE_INFORMATION_BATCH = 50;
/** DescribeWarmPool returns at most 50 instances a page. */
export const WARM_POOL_PAGE = 50;

export interface Ec2FleetOptions {
  autoScaling: AutoScalingClient;
  ssm: SSMClient;
  onCall?: OnCall;
}

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

interface Member {
  instanceId: string;
  lifecycleState: string;
  availabilityZone?: string;
}

function toMembers(instances: Array<{ InstanceId?: string; LifecycleState?: string; AvailabilityZone?: string }> | undefined): Member[] {
  const out: Member[] = [];
  for (const i of instances ?? []) {
    if (i.InstanceId === undefined) continue;
    out.push({
      instanceId: i.InstanceId,
      lifecycleState: i.LifecycleState ?? 'Unknown',
      ...(i.AvailabilityZone !== undefined ? { availabilityZone: i.AvailabilityZone } : {}),
    });
  }
  return out;
}

/**
 * Auto Scaling answers a lifecycle call for an instance no longer waiting (already completed, timed out,
 * or gone) with this ValidationError: the action we wanted is already over.
 */
function isNoActiveLifecycleAction(error: unknown): boolean {
  const cause = error instanceof Error && error.cause !== undefined ? error.cause : error;
  return sdkErrorCode(cause) === 'ValidationError' && /No active Lifecycle Action/i.test(sdkErrorMessage(cause));
}

export class Ec2Fleet implements Fleet {
  private readonly autoScaling: AutoScalingClient;
  private readonly ssm: SSMClient;
  private readonly onCall: OnCall | undefined;

  constructor(options: Ec2FleetOptions) {
    this.autoScaling = options.autoScaling;
    this.ssm = options.ssm;
    this.onCall = options.onCall;
  }

  async list(ref: FleetRef, signal?: AbortSignal): Promise<Instance[]> {
    const members = await this.groupMembers(ref.autoScalingGroupName, signal);
    const online = await this.agentsOnline(members.map((m) => m.instanceId), signal);
    return members.map((m): Instance => ({
      instanceId: m.instanceId,
      lifecycleState: m.lifecycleState,
      agentOnline: online.has(m.instanceId),
      ...(m.availabilityZone !== undefined ? { availabilityZone: m.availabilityZone } : {}),
    }));
  }

  private async groupMembers(groupName: string, signal?: AbortSignal): Promise<Member[]> {
    const members: Member[] = [];
    let found = false;
    let warmPool = false;
    let nextToken: string | undefined;
    do {
      const page = await callAws('DescribeAutoScalingGroups', this.onCall, () => this.autoScaling.send(
        new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [groupName], NextToken: nextToken }),
        { abortSignal: signal }));
      for (const group of page.AutoScalingGroups ?? []) {
        if (group.AutoScalingGroupName !== groupName) continue;
        found = true;
        warmPool ||= group.WarmPoolConfiguration !== undefined || (group.WarmPoolSize ?? 0) > 0;
        members.push(...toMembers(group.Instances));
      }
      nextToken = page.NextToken;
    } while (nextToken);
    if (!found) {
      throw new NotFoundError(`Auto Scaling group ${JSON.stringify(groupName)} not found: check the fleet's `
        + 'spec.autoScalingGroupName and the controller\'s AWS_REGION');
    }
    if (!warmPool) return members;
    // An instance moving between the pool and the group may show in both lists for a moment: the group's wins.
    const inGroup = new Set(members.map((m) => m.instanceId));
    return [...members, ...(await this.warmPoolMembers(groupName, signal)).filter((m) => !inGroup.has(m.instanceId))];
  }

  /** The warm pool's instances, in Warmed:* states (the group's Instances never list them). */
  private async warmPoolMembers(groupName: string, signal?: AbortSignal): Promise<Member[]> {
    const members: Member[] = [];
    let nextToken: string | undefined;
    do {
      const page = await callAws('DescribeWarmPool', this.onCall, () => this.autoScaling.send(
        new DescribeWarmPoolCommand({ AutoScalingGroupName: groupName, MaxRecords: WARM_POOL_PAGE, NextToken: nextToken }),
        { abortSignal: signal }));
      members.push(...toMembers(page.Instances));
      nextToken = page.NextToken;
    } while (nextToken);
    return members;
  }

  private async agentsOnline(ids: string[], signal?: AbortSignal): Promise<Set<string>> {
    const online = new Set<string>();
    for (const batch of chunk(ids, INSTANCE_INFORMATION_BATCH)) await this.agentsOnlineIn(batch, online, signal);
    return online;
  }

  private async agentsOnlineIn(batch: string[], online: Set<string>, signal?: AbortSignal): Promise<void> {
    let nextToken: string | undefined;
    do {
      let page;
      try {
        page = await callAws('DescribeInstanceInformation', this.onCall, () => this.ssm.send(
          new DescribeInstanceInformationCommand({
            Filters: [{ Key: 'InstanceIds', Values: batch }], MaxResults: 50, NextToken: nextToken,
          }),
          { abortSignal: signal }));
      } catch (error) {
        if (!(error instanceof Error && sdkErrorCode(error.cause) === 'InvalidInstanceId')) throw error;
        // SSM refuses a whole batch for one id it has never seen (an instance still booting): halves are asked
        // again until that id is alone, so one new instance does not mark 49 others offline.
        if (batch.length === 1) return;
        const half = Math.ceil(batch.length / 2);
        await this.agentsOnlineIn(batch.slice(0, half), online, signal);
        await this.agentsOnlineIn(batch.slice(half), online, signal);
        return;
      }
      for (const info of page.InstanceInformationList ?? []) {
        if (info.InstanceId !== undefined && info.PingStatus === 'Online') online.add(info.InstanceId);
      }
      nextToken = page.NextToken;
    } while (nextToken);
  }

  async completeLifecycle(args: { ref: FleetRef; instanceId: string; result: LifecycleResult }): Promise<void> {
    const { ref, instanceId, result } = args;
    try {
      await callAws('CompleteLifecycleAction', this.onCall, () => this.autoScaling.send(
        new CompleteLifecycleActionCommand({
          AutoScalingGroupName: ref.autoScalingGroupName,
          LifecycleHookName: ref.lifecycleHookName,
          InstanceId: instanceId,
          LifecycleActionResult: result,
        })));
    } catch (error) {
      // Already completed (by us before a crash, by a timeout, or the instance is gone): nothing left to do.
      if (isNoActiveLifecycleAction(error)) return;
      throw error;
    }
  }

  async heartbeat(args: { ref: FleetRef; instanceId: string }): Promise<void> {
    const { ref, instanceId } = args;
    try {
      await callAws('RecordLifecycleActionHeartbeat', this.onCall, () => this.autoScaling.send(
        new RecordLifecycleActionHeartbeatCommand({
          AutoScalingGroupName: ref.autoScalingGroupName,
          LifecycleHookName: ref.lifecycleHookName,
          InstanceId: instanceId,
        })));
    } catch (error) {
      // No hook is waiting any more: nothing to extend; the next observation shows the instance's new state.
      if (isNoActiveLifecycleAction(error)) return;
      throw error;
    }
  }

  async heartbeatTimeoutMs(ref: FleetRef): Promise<number | null> {
    const { LifecycleHooks } = await callAws('DescribeLifecycleHooks', this.onCall, () => this.autoScaling.send(
      new DescribeLifecycleHooksCommand({ AutoScalingGroupName: ref.autoScalingGroupName, LifecycleHookNames: [ref.lifecycleHookName] })));
    const seconds = LifecycleHooks?.find((h) => h.LifecycleHookName === ref.lifecycleHookName)?.HeartbeatTimeout;
    return seconds === undefined ? null : seconds * 1000;
  }

  async markUnhealthy(args: { ref: FleetRef; instanceId: string }): Promise<void> {
    await callAws('SetInstanceHealth', this.onCall, () => this.autoScaling.send(
      // Quarantine comes after failed attempts: the grace period must not make the group ignore it.
      new SetInstanceHealthCommand({
        InstanceId: args.instanceId, HealthStatus: 'Unhealthy', ShouldRespectGracePeriod: false,
      })));
  }
}
