/** The stack's context values: defaults, and a clear error for what is missing or wrong. */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../controller/errors.ts';
import { readConfig } from '../../deploy/infra/lib/config.ts';
import { DEFAULT_LIFECYCLE_HOOK } from '../../state/spec.ts';

const REQUIRED = {
  imageUri: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/fleetsync:0.1.0',
  vpcId: 'vpc-0123456789abcdef0',
  subnetIds: 'subnet-0123456789abcdef0,subnet-0fedcba9876543210',
  autoScalingGroupNames: 'web-prod-asg',
};

const from = (values: Record<string, unknown>) => (key: string): unknown => values[key];

function errorOf(values: Record<string, unknown>): ConfigError {
  try {
    readConfig(from(values));
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('readConfig accepted the values');
}

describe('readConfig', () => {
  it('fills the documented defaults', () => {
    const config = readConfig(from(REQUIRED));
    expect(config).toMatchObject({
      subnetIds: ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210'],
      autoScalingGroupNames: ['web-prod-asg'],
      securityGroupIds: [],
      targetGroupArns: [],
      artifactBuckets: [],
      assignPublicIp: false,
      fleetTagKey: 'fleetsync:fleet',
      fleetTagValue: '*',
      lifecycleHookName: DEFAULT_LIFECYCLE_HOOK,
      lifecycleHookHeartbeatSeconds: 900,
      tableName: 'fleetsync',
      desiredCount: 2,
      stallAlarmSeconds: 1800,
      logRetentionDays: 30,
      alarmTopicArn: undefined,
    });
  });

  it('reads numbers and lists given as -c strings, and as JSON values', () => {
    const config = readConfig(from({
      ...REQUIRED, autoScalingGroupNames: ['a', 'b'], desiredCount: '3', lifecycleHookHeartbeatSeconds: 600, assignPublicIp: 'true',
    }));
    expect(config).toMatchObject({ autoScalingGroupNames: ['a', 'b'], desiredCount: 3, lifecycleHookHeartbeatSeconds: 600, assignPublicIp: true });
  });

  it('names every missing required value at once, with an example command', () => {
    const error = errorOf({});
    for (const key of Object.keys(REQUIRED)) expect(error.message).toContain(`${key} is missing`);
    expect(error.message).toContain('npm run synth -- -c imageUri=');
  });

  it('refuses malformed ids and out-of-range numbers, saying which value and what is allowed', () => {
    const error = errorOf({
      ...REQUIRED, subnetIds: 'subnet-0123456789abcdef0,subnet-nope', desiredCount: '0', lifecycleHookHeartbeatSeconds: '10',
      logRetentionDays: '31', vpcId: 'vpc-123', targetGroupArns: 'arn:aws:s3:::bucket', fleetTagKey: 'aws:fleet',
    });
    expect(error.message).toContain('subnetIds has invalid entries ["subnet-nope"]');
    expect(error.message).toContain('desiredCount "0" is not valid');
    expect(error.message).toContain('lifecycleHookHeartbeatSeconds "10" is not valid: seconds a launching instance may wait for its first sync, 30..7200');
    expect(error.message).toContain('logRetentionDays "31"');
    expect(error.message).toContain('vpcId "vpc-123"');
    expect(error.message).toContain('targetGroupArns has invalid entries');
    expect(error.message).toContain('fleetTagKey "aws:fleet"');
  });

  it('refuses an image without a tag or digest, so a deploy always names what it runs', () => {
    expect(errorOf({ ...REQUIRED, imageUri: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/fleetsync' }).message)
      .toContain('imageUri');
    expect(readConfig(from({ ...REQUIRED, imageUri: `ghcr.io/acme/fleetsync@sha256:${'a'.repeat(64)}` })).imageUri)
      .toMatch(/^ghcr\.io/);
  });

  it('refuses a group listed twice (two hooks of the same name on one group cannot exist)', () => {
    expect(errorOf({ ...REQUIRED, autoScalingGroupNames: 'web,web' }).message).toContain('autoScalingGroupNames lists an entry twice');
  });
});
