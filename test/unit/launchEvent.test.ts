/** The launch lifecycle event read from its EventBridge JSON: what the SQS and local adapters hand over. */
import { describe, expect, it } from 'vitest';
import { launchEventJson, parseLaunchEvent } from '../../state/launchEvent.ts';

const event = (detail: Record<string, unknown>, top: Record<string, unknown> = {}): string => JSON.stringify({
  version: '0', 'detail-type': 'EC2 Instance-launch Lifecycle Action', source: 'aws.autoscaling',
  detail: { AutoScalingGroupName: 'my-asg', EC2InstanceId: 'i-1234567890abcdef0', LifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING', ...detail },
  ...top,
});

describe('parseLaunchEvent', () => {
  it('reads the group, the instance, and where a warm-pool instance comes from and goes to', () => {
    expect(parseLaunchEvent(event({}))).toEqual({ event: { autoScalingGroupName: 'my-asg', instanceId: 'i-1234567890abcdef0' } });
    expect(parseLaunchEvent(event({ Origin: 'EC2', Destination: 'WarmPool' }))).toEqual({
      event: { autoScalingGroupName: 'my-asg', instanceId: 'i-1234567890abcdef0', origin: 'EC2', destination: 'WarmPool' },
    });
    expect(parseLaunchEvent(event({ Origin: 'WarmPool', Destination: 'AutoScalingGroup' }))).toMatchObject({
      event: { origin: 'WarmPool', destination: 'AutoScalingGroup' },
    });
  });

  it('says what is wrong with anything else', () => {
    const problem = (text: string): string => {
      const parsed = parseLaunchEvent(text);
      expect('problem' in parsed, text).toBe(true);
      return (parsed as { problem: string }).problem;
    };
    expect(problem('{')).toMatch(/^not JSON/);
    expect(problem('[1]')).toMatch(/not a JSON object/);
    expect(problem(event({}, { 'detail-type': 'EC2 Instance Launch Successful' }))).toMatch(/check the EventBridge rule's pattern/);
    expect(problem(event({}, { detail: 'x' }))).toMatch(/no detail object/);
    expect(problem(event({ AutoScalingGroupName: '' }))).toMatch(/AutoScalingGroupName is missing/);
    expect(problem(event({ EC2InstanceId: 'i-XYZ' }))).toMatch(/EC2InstanceId "i-XYZ" is not an instance id/);
    expect(problem(event({ LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING' }))).toMatch(/not autoscaling:EC2_INSTANCE_LAUNCHING/);
    expect(problem(event({ Destination: 'Moon' }))).toMatch(/detail.Destination "Moon" is not one of EC2, AutoScalingGroup, WarmPool/);
  });

  it('reads back what launchEventJson writes', () => {
    const sent = { autoScalingGroupName: 'web/prod', instanceId: 'i-00000000000000abc', origin: 'WarmPool', destination: 'AutoScalingGroup' } as const;
    expect(parseLaunchEvent(launchEventJson(sent, '2026-01-01T00:00:00.000Z'))).toEqual({ event: sent });
  });
});
