/**
 * The stack's settings, read from CDK context (`-c key=value`, or the CDK CLI's context) and checked before any
 * construct is built: a wrong id found at deploy time costs a failed, rolled-back stack; found here it costs a
 * one-line message.
 */
import { ConfigError } from '../../../controller/errors.ts';
import { DEFAULT_LIFECYCLE_HOOK } from '../../../state/spec.ts';

export interface InfraConfig {
  /** the controller image (ECR or any registry) */
  imageUri: string;
  vpcId: string;
  subnetIds: string[];
  /** none: the stack creates a security group with outbound access only */
  securityGroupIds: string[];
  assignPublicIp: boolean;
  autoScalingGroupNames: string[];
  targetGroupArns: string[];
  artifactBuckets: string[];
  /** SendCommand is allowed only on instances carrying this tag (StringLike on the value) */
  fleetTagKey: string;
  fleetTagValue: string;
  lifecycleHookName: string;
  lifecycleHookHeartbeatSeconds: number;
  tableName: string;
  desiredCount: number;
  stallAlarmSeconds: number;
  logRetentionDays: number;
  /** SNS topic the alarms notify; none: alarms only change state */
  alarmTopicArn: string | undefined;
}

/** Everything an operator can set, with its meaning: the error for an unknown key lists these. */
export const CONTEXT_KEYS = {
  imageUri: 'controller image, like 123456789012.dkr.ecr.eu-west-1.amazonaws.com/fleetsync:0.1.0 (required)',
  vpcId: 'VPC of the ECS tasks, like vpc-0123456789abcdef0 (required)',
  subnetIds: 'comma list of subnets for the tasks, like subnet-0123456789abcdef0,subnet-0fedcba9876543210 (required)',
  autoScalingGroupNames: 'comma list of the Auto Scaling groups fleetsync manages (required)',
  securityGroupIds: 'comma list of security groups for the tasks (default: a new group, outbound only)',
  assignPublicIp: 'true for tasks in public subnets without NAT (default false)',
  targetGroupArns: 'comma list of target group ARNs the controller may drain (default none)',
  artifactBucket: 'comma list of S3 buckets holding revisions, read by the controller (default none)',
  fleetTagKey: 'tag key an instance must carry to receive commands (default fleetsync:fleet)',
  fleetTagValue: 'value of that tag, * and ? allowed (default *: any value)',
  lifecycleHookName: `lifecycle hook name (default ${DEFAULT_LIFECYCLE_HOOK}, what fleet specs expect)`,
  lifecycleHookHeartbeatSeconds: 'seconds a launching instance may wait for its first sync, 30..7200 (default 900)',
  tableName: 'DynamoDB table name (default fleetsync)',
  desiredCount: 'controller tasks, 1..10 (default 2)',
  stallAlarmSeconds: 'alarm when a rollout has not progressed for this long, 60.. (default 1800)',
  logRetentionDays: 'CloudWatch Logs retention in days (default 30)',
  alarmTopicArn: 'SNS topic ARN the alarms notify (default none)',
} as const;

export const REQUIRED_KEYS = ['imageUri', 'vpcId', 'subnetIds', 'autoScalingGroupNames'] as const;

// CloudWatch Logs accepts only these retention periods.
const RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

const PATTERNS = {
  // ECR (account.dkr.ecr.region.amazonaws.com/repo) or any registry; a tag or digest keeps deploys repeatable.
  imageUri: /^[a-z0-9][a-z0-9.-]*(:[0-9]{1,5})?\/[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[a-f0-9]{64})$/,
  vpcId: /^vpc-[0-9a-f]{8,17}$/,
  subnetId: /^subnet-[0-9a-f]{8,17}$/,
  securityGroupId: /^sg-[0-9a-f]{8,17}$/,
  autoScalingGroupName: /^[A-Za-z0-9][A-Za-z0-9._+=@/-]{0,254}$/,
  targetGroupArn: /^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:targetgroup\/[A-Za-z0-9-]{1,32}\/[0-9a-f]{16}$/,
  bucket: /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
  tagKey: /^(?!aws:)[A-Za-z0-9 _.:/=+@-]{1,128}$/,
  tagValue: /^[A-Za-z0-9 _.:/=+@*?-]{1,256}$/,
  hookName: /^[A-Za-z0-9_.-]{1,255}$/,
  tableName: /^[A-Za-z0-9_.-]{3,255}$/,
  snsTopicArn: /^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$/,
};

type Get = (key: string) => unknown;

class Reader {
  readonly problems: string[] = [];
  constructor(private readonly get: Get) {}

  private raw(key: keyof typeof CONTEXT_KEYS): unknown {
    const value = this.get(key);
    return value === '' ? undefined : value;
  }

  string(key: keyof typeof CONTEXT_KEYS, pattern: RegExp, fallback?: string): string {
    const value = this.raw(key) ?? fallback;
    if (value === undefined) {
      this.problems.push(`${key} is missing: ${CONTEXT_KEYS[key]}`);
      return '';
    }
    if (typeof value !== 'string' || !pattern.test(value)) {
      this.problems.push(`${key} ${JSON.stringify(value)} is not valid: ${CONTEXT_KEYS[key]}`);
      return '';
    }
    return value;
  }

  optional(key: keyof typeof CONTEXT_KEYS, pattern: RegExp): string | undefined {
    return this.raw(key) === undefined ? undefined : this.string(key, pattern) || undefined;
  }

  list(key: keyof typeof CONTEXT_KEYS, pattern: RegExp, options: { required: boolean }): string[] {
    const value = this.raw(key);
    if (value === undefined) {
      if (options.required) this.problems.push(`${key} is missing: ${CONTEXT_KEYS[key]}`);
      return [];
    }
    const items = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',').map((s) => s.trim()) : [value];
    const bad = items.filter((item) => typeof item !== 'string' || !pattern.test(item));
    if (bad.length > 0 || items.length === 0) {
      this.problems.push(`${key} has invalid entries ${JSON.stringify(bad)}: ${CONTEXT_KEYS[key]}`);
      return [];
    }
    const unique = [...new Set(items as string[])];
    if (unique.length !== items.length) this.problems.push(`${key} lists an entry twice: ${JSON.stringify(items)}`);
    return unique;
  }

  integer(key: keyof typeof CONTEXT_KEYS, fallback: number, allowed: (n: number) => boolean): number {
    const value = this.raw(key) ?? fallback;
    const n = typeof value === 'number' ? value : typeof value === 'string' && /^[0-9]+$/.test(value) ? Number(value) : NaN;
    if (!Number.isInteger(n) || !allowed(n)) {
      this.problems.push(`${key} ${JSON.stringify(value)} is not valid: ${CONTEXT_KEYS[key]}`);
      return fallback;
    }
    return n;
  }

  boolean(key: keyof typeof CONTEXT_KEYS, fallback: boolean): boolean {
    const value = this.raw(key) ?? fallback;
    if (value === true || value === 'true') return true;
    if (value === false || value === 'false') return false;
    this.problems.push(`${key} ${JSON.stringify(value)} is not valid: ${CONTEXT_KEYS[key]}`);
    return fallback;
  }
}

/** Throws ConfigError naming every missing or invalid value at once, so one fix-and-retry is enough. */
export function readConfig(get: Get): InfraConfig {
  const r = new Reader(get);
  const config: InfraConfig = {
    imageUri: r.string('imageUri', PATTERNS.imageUri),
    vpcId: r.string('vpcId', PATTERNS.vpcId),
    subnetIds: r.list('subnetIds', PATTERNS.subnetId, { required: true }),
    securityGroupIds: r.list('securityGroupIds', PATTERNS.securityGroupId, { required: false }),
    assignPublicIp: r.boolean('assignPublicIp', false),
    autoScalingGroupNames: r.list('autoScalingGroupNames', PATTERNS.autoScalingGroupName, { required: true }),
    targetGroupArns: r.list('targetGroupArns', PATTERNS.targetGroupArn, { required: false }),
    artifactBuckets: r.list('artifactBucket', PATTERNS.bucket, { required: false }),
    fleetTagKey: r.string('fleetTagKey', PATTERNS.tagKey, 'fleetsync:fleet'),
    fleetTagValue: r.string('fleetTagValue', PATTERNS.tagValue, '*'),
    lifecycleHookName: r.string('lifecycleHookName', PATTERNS.hookName, DEFAULT_LIFECYCLE_HOOK),
    lifecycleHookHeartbeatSeconds: r.integer('lifecycleHookHeartbeatSeconds', 900, (n) => n >= 30 && n <= 7200),
    tableName: r.string('tableName', PATTERNS.tableName, 'fleetsync'),
    desiredCount: r.integer('desiredCount', 2, (n) => n >= 1 && n <= 10),
    stallAlarmSeconds: r.integer('stallAlarmSeconds', 1800, (n) => n >= 60),
    logRetentionDays: r.integer('logRetentionDays', 30, (n) => RETENTION_DAYS.includes(n)),
    alarmTopicArn: r.optional('alarmTopicArn', PATTERNS.snsTopicArn),
  };
  if (r.problems.length > 0) {
    throw new ConfigError(
      `the fleetsync stack's context is not usable:\n  - ${r.problems.join('\n  - ')}\n` +
      'Pass values as -c key=value, for example: npm run synth -- -c imageUri=... -c vpcId=... ' +
      '-c subnetIds=... -c autoScalingGroupNames=... (README.md, Deploying, lists every key)',
    );
  }
  return config;
}
