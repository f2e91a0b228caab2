import { beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import {
  DeregisterTargetsCommand, DescribeTargetHealthCommand, ElasticLoadBalancingV2Client, RegisterTargetsCommand,
  TargetGroupNotFoundException,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { ElbTraffic, targetState } from '../../controller/aws/elbTraffic.ts';
import { CallTally } from '../../controller/aws/callCounter.ts';
import { NotFoundError } from '../../controller/errors.ts';
import { TEST_CLIENT_CONFIG, instanceIds } from './awsMocks.ts';

const client = new ElasticLoadBalancingV2Client(TEST_CLIENT_CONFIG);
const elb = mockClient(client);
const TG_A = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-a/0123456789abcdef';
const TG_B = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-b/fedcba9876543210';

let tally: CallTally;
let traffic: ElbTraffic;

beforeEach(() => {
  elb.reset();
  tally = new CallTally();
  traffic = new ElbTraffic({ client, onCall: tally.onCall });
});

const described = (states: Array<[string, string]>) => ({
  TargetHealthDescriptions: states.map(([Id, State]) => ({ Target: { Id, Port: 80 }, TargetHealth: { State: State as 'healthy' } })),
});

describe('ElbTraffic.health', () => {
  it('gives each instance the worst state over its target groups, one call per group', async () => {
    const [a, b, c, d] = instanceIds(4);
    elb.on(DescribeTargetHealthCommand, { TargetGroupArn: TG_A }).resolves(described([
      [a!, 'healthy'], [b!, 'healthy'], [c!, 'draining'], [d!, 'initial'],
    ]));
    elb.on(DescribeTargetHealthCommand, { TargetGroupArn: TG_B }).resolves(described([
      [a!, 'healthy'], [b!, 'unhealthy'], [c!, 'healthy'],
    ]));
    const health = await traffic.health([TG_A, TG_B]);
    expect(Object.fromEntries(health)).toEqual({ [a!]: 'healthy', [b!]: 'unhealthy', [c!]: 'draining', [d!]: 'initial' });
    expect(elb.commandCalls(DescribeTargetHealthCommand).map((x) => x.args[0].input)).toEqual([
      { TargetGroupArn: TG_A }, { TargetGroupArn: TG_B },
    ]);
    expect(tally.get('DescribeTargetHealth').ok).toBe(2);
  });

  it('maps ELB states the port does not name', () => {
    expect(targetState('unhealthy.draining')).toBe('draining');
    expect(targetState('something-new')).toBe('unavailable');
    expect(targetState(undefined)).toBe('unavailable');
  });

  it('asks nothing for a fleet without target groups', async () => {
    expect((await traffic.health([])).size).toBe(0);
    expect(elb.calls()).toHaveLength(0);
  });

  it('reports a missing target group as NotFoundError with its cause', async () => {
    elb.on(DescribeTargetHealthCommand).rejects(new TargetGroupNotFoundException({ message: 'Target groups not found', $metadata: {} }));
    const error = await traffic.health([TG_A]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as Error).cause).toBeInstanceOf(TargetGroupNotFoundException);
  });
});

describe('ElbTraffic register and deregister', () => {
  it('deregisters and registers the instances in every target group', async () => {
    elb.on(DeregisterTargetsCommand).resolves({});
    elb.on(RegisterTargetsCommand).resolves({});
    const ids = instanceIds(2);
    await traffic.deregister({ targetGroupArns: [TG_A, TG_B], instanceIds: ids });
    await traffic.register({ targetGroupArns: [TG_A, TG_B], instanceIds: ids });
    const targets = ids.map((Id) => ({ Id }));
    expect(elb.commandCalls(DeregisterTargetsCommand).map((x) => x.args[0].input)).toEqual([
      { TargetGroupArn: TG_A, Targets: targets }, { TargetGroupArn: TG_B, Targets: targets },
    ]);
    expect(elb.commandCalls(RegisterTargetsCommand).map((x) => x.args[0].input)).toEqual([
      { TargetGroupArn: TG_A, Targets: targets }, { TargetGroupArn: TG_B, Targets: targets },
    ]);
  });

  it('makes no call for no instances', async () => {
    await traffic.deregister({ targetGroupArns: [TG_A], instanceIds: [] });
    expect(elb.calls()).toHaveLength(0);
  });
});
