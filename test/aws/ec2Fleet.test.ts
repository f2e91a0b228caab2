import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import {
  AutoScalingClient, CompleteLifecycleActionCommand, DescribeAutoScalingGroupsCommand, DescribeLifecycleHooksCommand,
  DescribeWarmPoolCommand, RecordLifecycleActionHeartbeatCommand, SetInstanceHealthCommand,
} from '@aws-sdk/client-auto-scaling';
import { DescribeInstanceInformationCommand, InvalidInstanceId, SSMClient } from '@aws-sdk/client-ssm';
import { Ec2Fleet } from '../../controller/aws/ec2Fleet.ts';
import { CallTally } from '../../controller/aws/callCounter.ts';
import { ControlPlaneError, NotFoundError, ThrottledError } from '../../controller/errors.ts';
import type { FleetRef } from '../../controller/ports/fleet.ts';
import { TEST_CLIENT_CONFIG, instanceIds, sdkError } from './awsMocks.ts';

const ref: FleetRef = { autoScalingGroupName: 'web-prod-asg', lifecycleHookName: 'fleetsync-launch' };

const autoScaling = new AutoScalingClient(TEST_CLIENT_CONFIG);
const ssm = new SSMClient(TEST_CLIENT_CONFIG);
const asgMock = mockClient(autoScaling);
const ssmMock = mockClient(ssm);

let tally: CallTally;
let fleet: Ec2Fleet;

beforeEach(() => {
  asgMock.reset();
  ssmMock.reset();
  tally = new CallTally();
  fleet = new Ec2Fleet({ autoScaling, ssm, onCall: tally.onCall });
});

afterEach(() => {
  asgMock.reset();
  ssmMock.reset();
});

const asgInstance = (id: string, state: string) => ({
  InstanceId: id, LifecycleState: state as 'InService', AvailabilityZone: 'us-east-1a', HealthStatus: 'Healthy',
  ProtectedFromScaleIn: false,
});

describe('Ec2Fleet.list', () => {
  it('reads a 120-instance group over every page of each list call', async () => {
    const ids = instanceIds(120);
    const state = (i: number) => (i >= 110 ? 'Pending:Wait' : 'InService');
    // the group's instances come over two pages
    asgMock.on(DescribeAutoScalingGroupsCommand)
      .resolvesOnce({
        AutoScalingGroups: [{ AutoScalingGroupName: ref.autoScalingGroupName,
          Instances: ids.slice(0, 60).map((id, i) => asgInstance(id, state(i))) } as never],
        NextToken: 'asg-page-2',
      })
      .resolvesOnce({
        AutoScalingGroups: [{ AutoScalingGroupName: ref.autoScalingGroupName,
          Instances: ids.slice(60).map((id, i) => asgInstance(id, state(60 + i))) } as never],
      });
    // SSM: 3 batches of <= 50 ids; the second over two pages; the last 10 (just launched) not online yet
    ssmMock.on(DescribeInstanceInformationCommand).callsFake((input: { Filters: Array<{ Values: string[] }>; NextToken?: string }) => {
      const batch = input.Filters[0]!.Values;
      const paged = batch.includes(ids[50]!);
      const part = paged ? (input.NextToken ? batch.slice(25) : batch.slice(0, 25)) : batch;
      return {
        InstanceInformationList: part.map((id) => ({
          InstanceId: id, PingStatus: ids.indexOf(id) >= 110 ? 'ConnectionLost' : 'Online',
        })),
        ...(paged && !input.NextToken ? { NextToken: 'ssm-page-2' } : {}),
      };
    });

    const hosts = await fleet.list(ref);

    expect(hosts).toHaveLength(120);
    expect(hosts.map((h) => h.instanceId)).toEqual(ids);
    // the zone comes with the group's own answer: nothing else is asked of EC2
    expect(hosts[7]).toEqual({ instanceId: ids[7], lifecycleState: 'InService', availabilityZone: 'us-east-1a', agentOnline: true });
    expect(hosts[115]).toMatchObject({ lifecycleState: 'Pending:Wait', agentOnline: false });
    expect(hosts.filter((h) => h.agentOnline)).toHaveLength(110);

    // the group is asked for by name and the second page by its token
    const asgCalls = asgMock.commandCalls(DescribeAutoScalingGroupsCommand).map((c) => c.args[0].input);
    expect(asgCalls).toEqual([
      { AutoScalingGroupNames: [ref.autoScalingGroupName] },
      { AutoScalingGroupNames: [ref.autoScalingGroupName], NextToken: 'asg-page-2' },
    ]);
    const ssmCalls = ssmMock.commandCalls(DescribeInstanceInformationCommand).map((c) => c.args[0].input);
    expect(ssmCalls.map((i) => [i.Filters?.[0]?.Key, i.Filters?.[0]?.Values?.length, i.NextToken])).toEqual([
      ['InstanceIds', 50, undefined], ['InstanceIds', 50, undefined], ['InstanceIds', 50, 'ssm-page-2'],
      ['InstanceIds', 20, undefined],
    ]);
    // counted by operation: a bounded number of calls for 120 hosts, not one per host, and none to EC2
    expect(tally.snapshot()).toEqual({
      DescribeAutoScalingGroups: { ok: 2, throttled: 0, error: 0 },
      DescribeInstanceInformation: { ok: 4, throttled: 0, error: 0 },
    });
  });

  it('lists a warm pool\'s instances (every DescribeWarmPool page) after the group\'s, in their Warmed:* states', async () => {
    const ids = instanceIds(63);
    const [a, b] = ids;
    const pool = ids.slice(2);
    asgMock.on(DescribeAutoScalingGroupsCommand).resolves({
      AutoScalingGroups: [{ AutoScalingGroupName: ref.autoScalingGroupName, Instances: [asgInstance(a!, 'InService'), asgInstance(b!, 'Pending:Wait')],
        WarmPoolConfiguration: { MinSize: 61, PoolState: 'Stopped' }, WarmPoolSize: 61 } as never],
    });
    // 61 pool instances over two pages of 50; the first one still launching into the pool, held by the hook
    const warmState = (i: number) => (i === 0 ? 'Warmed:Pending:Wait' : i % 2 === 0 ? 'Warmed:Hibernated' : 'Warmed:Stopped');
    asgMock.on(DescribeWarmPoolCommand)
      .resolvesOnce({ Instances: pool.slice(0, 50).map((id, i) => asgInstance(id, warmState(i))) as never, NextToken: 'warm-2' })
      // b is leaving the pool: listed by both for a moment
      .resolvesOnce({ Instances: [...pool.slice(50).map((id, i) => asgInstance(id, warmState(50 + i))), asgInstance(b!, 'Warmed:Stopped')] as never });
    ssmMock.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [{ InstanceId: pool[0]!, PingStatus: 'Online' }] });

    const hosts = await fleet.list(ref);

    expect(hosts.map((h) => h.instanceId)).toEqual(ids);
    expect(hosts[1]!.lifecycleState).toBe('Pending:Wait');
    expect(hosts[2]).toMatchObject({ lifecycleState: 'Warmed:Pending:Wait', agentOnline: true });
    expect(hosts[3]).toMatchObject({ lifecycleState: 'Warmed:Stopped', agentOnline: false });
    expect(hosts[4]!.lifecycleState).toBe('Warmed:Hibernated');
    expect(asgMock.commandCalls(DescribeWarmPoolCommand).map((c) => c.args[0].input)).toEqual([
      { AutoScalingGroupName: ref.autoScalingGroupName, MaxRecords: 50 },
      { AutoScalingGroupName: ref.autoScalingGroupName, MaxRecords: 50, NextToken: 'warm-2' },
    ]);
    expect(tally.get('DescribeWarmPool')).toEqual({ ok: 2, throttled: 0, error: 0 });
  });

  it('asks for no warm pool when the group has none', async () => {
    const [a] = instanceIds(1);
    asgMock.on(DescribeAutoScalingGroupsCommand).resolves({
      AutoScalingGroups: [{ AutoScalingGroupName: ref.autoScalingGroupName, Instances: [asgInstance(a!, 'InService')] } as never],
    });
    ssmMock.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [] });
    expect(await fleet.list(ref)).toHaveLength(1);
    expect(asgMock.commandCalls(DescribeWarmPoolCommand)).toHaveLength(0);
  });

  it('makes no SSM call for an empty group', async () => {
    asgMock.on(DescribeAutoScalingGroupsCommand).resolves({
      AutoScalingGroups: [{ AutoScalingGroupName: ref.autoScalingGroupName, Instances: [] } as never],
    });
    expect(await fleet.list(ref)).toEqual([]);
    expect(ssmMock.calls()).toHaveLength(0);
  });

  it('says which group is missing and what to check', async () => {
    asgMock.on(DescribeAutoScalingGroupsCommand).resolves({ AutoScalingGroups: [] });
    const error = await fleet.list(ref).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as Error).message).toMatch(/web-prod-asg.*not found.*autoScalingGroupName/);
  });

  it('reads hosts SSM refuses to know (still booting) as agent offline', async () => {
    const [a] = instanceIds(1);
    asgMock.on(DescribeAutoScalingGroupsCommand).resolves({
      AutoScalingGroups: [{ AutoScalingGroupName: ref.autoScalingGroupName, Instances: [asgInstance(a!, 'Pending:Wait')] } as never],
    });
    ssmMock.on(DescribeInstanceInformationCommand).rejects(new InvalidInstanceId({ message: 'Instances not in a valid state', $metadata: {} }));
    const hosts = await fleet.list(ref);
    expect(hosts[0]).toMatchObject({ instanceId: a, agentOnline: false, lifecycleState: 'Pending:Wait' });
  });

  it('one id SSM refuses in a batch of 50 leaves the other 49 online (the batch is split, not all marked offline)', async () => {
    const ids = instanceIds(50);
    const booting = ids[17]!;
    asgMock.on(DescribeAutoScalingGroupsCommand).resolves({
      AutoScalingGroups: [{ AutoScalingGroupName: ref.autoScalingGroupName, Instances: ids.map((id) => asgInstance(id, 'InService')) } as never],
    });
    ssmMock.on(DescribeInstanceInformationCommand).callsFake((input: { Filters: Array<{ Values: string[] }> }) => {
      const asked = input.Filters[0]!.Values;
      if (asked.includes(booting)) throw new InvalidInstanceId({ message: 'Instances not in a valid state', $metadata: {} });
      return { InstanceInformationList: asked.map((id) => ({ InstanceId: id, PingStatus: 'Online' })) };
    });
    const hosts = await fleet.list(ref);
    expect(hosts.filter((h) => h.agentOnline).map((h) => h.instanceId)).toEqual(ids.filter((id) => id !== booting));
    expect(hosts.find((h) => h.instanceId === booting)?.agentOnline).toBe(false);
    expect(tally.get('DescribeInstanceInformation').ok + tally.get('DescribeInstanceInformation').error).toBeLessThanOrEqual(14);
  });

  it('reads the launch hook\'s heartbeat timeout (paces heartbeats), null without the hook', async () => {
    asgMock.on(DescribeLifecycleHooksCommand).resolvesOnce({ LifecycleHooks: [{ LifecycleHookName: ref.lifecycleHookName, HeartbeatTimeout: 30 }] })
      .resolvesOnce({ LifecycleHooks: [] });
    expect(await fleet.heartbeatTimeoutMs(ref)).toBe(30_000);
    expect(await fleet.heartbeatTimeoutMs(ref)).toBeNull();
    expect(asgMock.commandCalls(DescribeLifecycleHooksCommand)[0]!.args[0].input).toEqual({
      AutoScalingGroupName: ref.autoScalingGroupName, LifecycleHookNames: [ref.lifecycleHookName],
    });
  });

  it('turns a throttle that outlasted the SDK retries into ThrottledError, counted apart', async () => {
    asgMock.on(DescribeAutoScalingGroupsCommand).rejects(sdkError('Throttling', 'Rate exceeded'));
    const error = await fleet.list(ref).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ThrottledError);
    expect((error as Error).cause).toMatchObject({ name: 'Throttling' });
    expect(tally.get('DescribeAutoScalingGroups')).toEqual({ ok: 0, throttled: 1, error: 0 });
  });
});

describe('Ec2Fleet lifecycle', () => {
  const [id] = instanceIds(1, 42);

  it('completes a launching host with CONTINUE, naming its group, hook and instance', async () => {
    asgMock.on(CompleteLifecycleActionCommand).resolves({});
    await fleet.completeLifecycle({ ref, instanceId: id!, result: 'CONTINUE' });
    expect(asgMock.commandCalls(CompleteLifecycleActionCommand).map((c) => c.args[0].input)).toEqual([{
      AutoScalingGroupName: 'web-prod-asg', LifecycleHookName: 'fleetsync-launch', InstanceId: id,
      LifecycleActionResult: 'CONTINUE',
    }]);
  });

  it('abandons a host that failed with ABANDON', async () => {
    asgMock.on(CompleteLifecycleActionCommand).resolves({});
    await fleet.completeLifecycle({ ref, instanceId: id!, result: 'ABANDON' });
    expect(asgMock.commandCalls(CompleteLifecycleActionCommand)[0]!.args[0].input).toMatchObject({
      InstanceId: id, LifecycleActionResult: 'ABANDON', AutoScalingGroupName: 'web-prod-asg',
    });
  });

  it('treats "No active Lifecycle Action found" as already done (a second CONTINUE after a crash)', async () => {
    asgMock.on(CompleteLifecycleActionCommand).rejects(sdkError('ValidationError',
      `No active Lifecycle Action found with instance ID ${id}`));
    await expect(fleet.completeLifecycle({ ref, instanceId: id!, result: 'CONTINUE' })).resolves.toBeUndefined();
  });

  it('reports any other ValidationError (a wrong hook name) as ControlPlaneError with its cause', async () => {
    asgMock.on(CompleteLifecycleActionCommand).rejects(sdkError('ValidationError', 'No such lifecycle hook: nope'));
    const error = await fleet.completeLifecycle({ ref: { ...ref, lifecycleHookName: 'nope' }, instanceId: id!, result: 'CONTINUE' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ControlPlaneError);
    expect((error as Error).message).toMatch(/CompleteLifecycleAction failed: ValidationError: No such lifecycle hook/);
    expect((error as Error).cause).toMatchObject({ name: 'ValidationError' });
  });

  it('records a heartbeat for a host still syncing, and ignores one whose hook is over', async () => {
    asgMock.on(RecordLifecycleActionHeartbeatCommand).resolvesOnce({})
      .rejectsOnce(sdkError('ValidationError', `No active Lifecycle Action found with instance ID ${id}`));
    await fleet.heartbeat({ ref, instanceId: id! });
    await fleet.heartbeat({ ref, instanceId: id! });
    const calls = asgMock.commandCalls(RecordLifecycleActionHeartbeatCommand).map((c) => c.args[0].input);
    expect(calls).toEqual([
      { AutoScalingGroupName: 'web-prod-asg', LifecycleHookName: 'fleetsync-launch', InstanceId: id },
      { AutoScalingGroupName: 'web-prod-asg', LifecycleHookName: 'fleetsync-launch', InstanceId: id },
    ]);
  });

  it('marks a quarantined host unhealthy, grace period or not', async () => {
    asgMock.on(SetInstanceHealthCommand).resolves({});
    await fleet.markUnhealthy({ ref, instanceId: id! });
    expect(asgMock.commandCalls(SetInstanceHealthCommand)[0]!.args[0].input).toEqual({
      InstanceId: id, HealthStatus: 'Unhealthy', ShouldRespectGracePeriod: false,
    });
  });
});
