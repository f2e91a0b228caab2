/**
 * The fleetsync stack, checked on its synthesized template (aws-cdk-lib/assertions): what an operator relies on
 * (table keys, PITR, the hook's ABANDON, two tasks) and least privilege (explicit actions, `*` resources only for
 * the named list, every call the AWS adapters make is allowed and nothing more).
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TABLE_BILLING_MODE, tableDefinition } from '../../controller/aws/tableSchema.ts';
import { ConfigError } from '../../controller/errors.ts';
import { DEFAULT_DOCUMENT_NAME } from '../../controller/hostProtocol.ts';
import { readConfig } from '../../deploy/infra/lib/config.ts';
import { FleetsyncStack } from '../../deploy/infra/lib/fleetsyncStack.ts';
import { METRICS, METRIC_NAMESPACE } from '../../deploy/infra/lib/metrics.ts';
import { STAR_RESOURCE_ACTIONS } from '../../deploy/infra/lib/permissions.ts';
import { SSM_DOCUMENT_PATH, loadSsmDocument } from '../../deploy/infra/lib/ssmDocument.ts';
import { DEFAULT_LIFECYCLE_HOOK } from '../../state/spec.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const START_COMMAND = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } })
  .scripts.start.trim().split(/\s+/);
const FLAGS = (JSON.parse(readFileSync(join(ROOT, 'deploy/infra/cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;

const REQUIRED = {
  imageUri: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/fleetsync:0.1.0',
  vpcId: 'vpc-0123456789abcdef0',
  subnetIds: 'subnet-0123456789abcdef0,subnet-0fedcba9876543210',
  autoScalingGroupNames: 'web-prod-asg',
};
const TARGET_GROUP = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef';
const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:ops';
const FULL = {
  ...REQUIRED,
  imageUri: 'ghcr.io/acme/fleetsync:0.1.0',
  autoScalingGroupNames: 'web-prod-asg,web-stage-asg',
  targetGroupArns: TARGET_GROUP,
  artifactBucket: 'acme-codebase',
  securityGroupIds: 'sg-0123456789abcdef0',
  fleetTagKey: 'team:fleet',
  fleetTagValue: 'web-*',
  desiredCount: '3',
  stallAlarmSeconds: '600',
  alarmTopicArn: TOPIC,
};

type Json = Record<string, unknown>;
const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const asList = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** A template value as text: Fn::Join joined, Ref and GetAtt as ${...}, so ARNs can be compared. */
function flat(value: unknown): string {
  if (typeof value === 'string') return value;
  if (isRecord(value) && Array.isArray(value['Fn::Join'])) {
    const [separator, parts] = value['Fn::Join'] as [string, unknown[]];
    return parts.map(flat).join(separator);
  }
  if (isRecord(value) && typeof value.Ref === 'string') return `\${${value.Ref}}`;
  if (isRecord(value) && Array.isArray(value['Fn::GetAtt'])) return `\${${(value['Fn::GetAtt'] as string[]).join('.')}}`;
  return JSON.stringify(value);
}

interface Statement { where: string; Effect?: string; Action?: unknown; NotAction?: unknown; Resource?: unknown; NotResource?: unknown; Condition?: Json }

/** Every permission statement of every policy in the template (trust policies excluded: they grant nothing). */
function permissionStatements(template: Json): Statement[] {
  const out: Statement[] = [];
  for (const [id, resource] of Object.entries((template.Resources ?? {}) as Record<string, Json>)) {
    const props = (resource.Properties ?? {}) as Json;
    const documents: unknown[] = [];
    if (resource.Type === 'AWS::IAM::Policy' || resource.Type === 'AWS::IAM::ManagedPolicy') documents.push(props.PolicyDocument);
    if (resource.Type === 'AWS::IAM::Role') documents.push(...asList(props.Policies as Json[]).map((p) => p.PolicyDocument));
    for (const document of documents) {
      for (const statement of asList((document as Json).Statement as Statement[])) out.push({ ...statement, where: id });
    }
  }
  return out;
}

/** What makes a policy not least-privilege; empty when it is. */
function iamProblems(statements: Statement[]): string[] {
  const problems: string[] = [];
  const starAllowed = new Set<string>(STAR_RESOURCE_ACTIONS);
  for (const s of statements) {
    if (s.NotAction !== undefined || s.NotResource !== undefined) problems.push(`${s.where}: NotAction/NotResource grants by exclusion`);
    const actions = asList(s.Action as string | string[]);
    if (actions.length === 0) problems.push(`${s.where}: a statement without actions`);
    for (const action of actions) {
      if (!/^[a-z0-9-]+:[A-Za-z0-9]+$/.test(action)) problems.push(`${s.where}: action ${action} is not one explicit action`);
    }
    const resources = asList(s.Resource).map(flat);
    if (resources.includes('*')) {
      for (const action of actions) {
        if (!starAllowed.has(action)) problems.push(`${s.where}: ${action} on resource * (not in STAR_RESOURCE_ACTIONS)`);
      }
    }
  }
  return problems;
}

function build(): { full: Template; minimal: Template; outdir: string } {
  const outdir = mkdtempSync(join(tmpdir(), 'fleetsync-infra-'));
  const app = new App({ outdir, context: FLAGS });
  const stack = (id: string, values: Record<string, unknown>): FleetsyncStack => new FleetsyncStack(app, id, {
    config: readConfig((key) => values[key]),
    ssmDocument: loadSsmDocument(),
    controllerCommand: START_COMMAND,
  });
  const full = stack('Full', FULL);
  const minimal = stack('Minimal', REQUIRED);
  return { full: Template.fromStack(full), minimal: Template.fromStack(minimal), outdir };
}

let full: Template;
let minimal: Template;
let outdir: string;
/** read next to the build, so a regeneration of the file while the suite runs cannot fail the comparison */
let documentOnDisk: Json;

beforeAll(() => {
  documentOnDisk = JSON.parse(readFileSync(SSM_DOCUMENT_PATH, 'utf8')) as Json;
  ({ full, minimal, outdir } = build());
}, 120_000);

afterAll(() => {
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

function only(template: Template, type: string): Json {
  const found = Object.values(template.findResources(type));
  expect(found, `one ${type}`).toHaveLength(1);
  return found[0] as Json;
}

describe('the table', () => {
  it('has the keys and billing DynamoStore creates (controller/aws/tableSchema.ts)', () => {
    const wanted = tableDefinition('fleetsync');
    const props = only(minimal, 'AWS::DynamoDB::Table').Properties as Json;
    expect(props.KeySchema).toEqual(wanted.KeySchema);
    expect(new Set(props.AttributeDefinitions as unknown[])).toEqual(new Set(wanted.AttributeDefinitions));
    expect(props.BillingMode).toBe(TABLE_BILLING_MODE);
    expect(props.GlobalSecondaryIndexes).toBeUndefined();
    expect(props.TableName).toBe('fleetsync');
  });

  it('has point-in-time recovery and deletion protection on, and outlives the stack', () => {
    const table = only(minimal, 'AWS::DynamoDB::Table');
    expect(table.Properties).toMatchObject({
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      DeletionProtectionEnabled: true,
    });
    expect(table.DeletionPolicy).toBe('Retain');
  });
});

describe('the lifecycle hook', () => {
  it('holds launching instances of each named group, and abandons one nobody synced', () => {
    const hooks = Object.values(full.findResources('AWS::AutoScaling::LifecycleHook')).map((h) => h.Properties as Json);
    expect(hooks.map((h) => h.AutoScalingGroupName).sort()).toEqual(['web-prod-asg', 'web-stage-asg']);
    for (const hook of hooks) {
      expect(hook).toEqual({
        AutoScalingGroupName: hook.AutoScalingGroupName,
        LifecycleHookName: DEFAULT_LIFECYCLE_HOOK,
        LifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
        HeartbeatTimeout: 900,
        DefaultResult: 'ABANDON',
      });
    }
  });
});

describe('the controller service', () => {
  it('runs 2 Fargate tasks by default, in the subnets given', () => {
    minimal.hasResourceProperties('AWS::ECS::Service', {
      DesiredCount: 2,
      LaunchType: 'FARGATE',
      NetworkConfiguration: { AwsvpcConfiguration: { Subnets: REQUIRED.subnetIds.split(','), AssignPublicIp: 'DISABLED' } },
    });
    full.hasResourceProperties('AWS::ECS::Service', {
      DesiredCount: 3,
      NetworkConfiguration: { AwsvpcConfiguration: { SecurityGroups: ['sg-0123456789abcdef0'] } },
    });
  });

  it('runs `npm start` against the stack\'s table, logs to CloudWatch and checks /healthz', () => {
    const task = only(minimal, 'AWS::ECS::TaskDefinition');
    const [container] = (task.Properties as Json).ContainerDefinitions as Json[];
    const env = Object.fromEntries(((container as Json).Environment as Array<{ Name: string; Value: unknown }>).map((e) => [e.Name, e.Value]));
    const tableId = Object.keys(minimal.findResources('AWS::DynamoDB::Table'))[0];
    expect(container).toMatchObject({ Command: START_COMMAND, LogConfiguration: { LogDriver: 'awslogs' } });
    expect(env).toEqual({
      FLEETSYNC_TABLE: { Ref: tableId },
      AWS_REGION: { Ref: 'AWS::Region' },
      FLEETSYNC_HTTP_PORT: '9870',
      FLEETSYNC_LOG_LEVEL: 'info',
      FLEETSYNC_DOCUMENT_NAME: { Ref: Object.keys(minimal.findResources('AWS::SSM::Document'))[0] },
      // checked in 'launch events' below
      FLEETSYNC_LAUNCH_QUEUES: expect.anything(),
    });
    const check = ((container as Json).HealthCheck as Json).Command as string[];
    expect(check.slice(0, 3)).toEqual(['CMD', 'node', '-e']);
    expect(check[3]).toContain(`http://127.0.0.1:${env.FLEETSYNC_HTTP_PORT as string}/healthz`);
  });

  it('pulls an ECR image with rights on that repository only', () => {
    const policies = permissionStatements(minimal.toJSON());
    const pull = policies.find((s) => asList(s.Action as string[]).includes('ecr:BatchGetImage'));
    expect(asList(pull?.Resource).map(flat)).toEqual(['arn:${AWS::Partition}:ecr:eu-west-1:123456789012:repository/fleetsync']);
    expect(permissionStatements(full.toJSON()).some((s) => asList(s.Action as string[]).includes('ecr:BatchGetImage'))).toBe(false);
  });
});

describe('the task role', () => {
  const taskStatements = (template: Template): Statement[] => {
    const role = Object.entries(template.findResources('AWS::IAM::Role'))
      .find(([, r]) => JSON.stringify(r).includes('"aws:SourceAccount"'));
    expect(role, 'the task role (trust limited to this account)').toBeDefined();
    return permissionStatements(template.toJSON()).filter((s) => {
      const policy = template.toJSON().Resources[s.where] as Json;
      return JSON.stringify((policy.Properties as Json).Roles ?? []).includes((role as [string, unknown])[0]);
    });
  };
  const actionsOf = (statements: Statement[]): Set<string> => new Set(statements.flatMap((s) => asList(s.Action as string[])));

  it('names every action, and uses resource * only for the actions in STAR_RESOURCE_ACTIONS (every role)', () => {
    expect(iamProblems(permissionStatements(minimal.toJSON()))).toEqual([]);
    expect(iamProblems(permissionStatements(full.toJSON()))).toEqual([]);
  });

  it('keeps STAR_RESOURCE_ACTIONS to reads and ssm:CancelCommand', () => {
    for (const action of STAR_RESOURCE_ACTIONS) {
      expect(action === 'ssm:CancelCommand' || /^[a-z0-9-]+:(Describe|List|Get)[A-Za-z]+$/.test(action), action).toBe(true);
    }
  });

  it('reaches the table only through its ARN', () => {
    const tableId = Object.keys(minimal.findResources('AWS::DynamoDB::Table'))[0] as string;
    const dynamo = taskStatements(minimal).filter((s) => asList(s.Action as string[]).some((a) => a.startsWith('dynamodb:')));
    expect(dynamo.flatMap((s) => asList(s.Resource).map(flat))).toEqual([`\${${tableId}.Arn}`]);
  });

  it('sends commands only with the fleetsync document, and only to instances tagged for fleetsync', () => {
    const sends = taskStatements(full).filter((s) => asList(s.Action as string[]).includes('ssm:SendCommand'));
    expect(sends.every((s) => asList(s.Action as string[]).length === 1)).toBe(true);
    const byResource = Object.fromEntries(sends.flatMap((s) => asList(s.Resource).map((r) => [flat(r), s.Condition])));
    expect(byResource).toEqual({
      [`arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:document/${DEFAULT_DOCUMENT_NAME}`]: undefined,
      'arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/*': { StringLike: { 'ssm:resourceTag/team:fleet': 'web-*' } },
    });
  });

  it('may read a group\'s warm pool (DescribeWarmPool, a describe AWS lets no policy scope to a group)', () => {
    const reads = taskStatements(full).filter((s) => asList(s.Action as string[]).includes('autoscaling:DescribeWarmPool'));
    expect(reads.flatMap((s) => asList(s.Resource))).toEqual(['*']);
    expect(STAR_RESOURCE_ACTIONS).toContain('autoscaling:DescribeWarmPool');
  });

  it('acts on the lifecycle of the named groups only', () => {
    const lifecycle = taskStatements(full).filter((s) => asList(s.Action as string[]).includes('autoscaling:CompleteLifecycleAction'));
    expect(lifecycle.flatMap((s) => asList(s.Resource).map(flat)).sort()).toEqual(['web-prod-asg', 'web-stage-asg'].map((name) =>
      `arn:\${AWS::Partition}:autoscaling:\${AWS::Region}:\${AWS::AccountId}:autoScalingGroup:*:autoScalingGroupName/${name}`));
  });

  it('drains only the named target groups and lists only the named bucket, and neither when none is named', () => {
    const full_ = taskStatements(full);
    const resourcesOf = (action: string): string[] =>
      full_.filter((s) => asList(s.Action as string[]).includes(action)).flatMap((s) => asList(s.Resource).map(flat));
    expect(resourcesOf('elasticloadbalancing:DeregisterTargets')).toEqual([TARGET_GROUP]);
    expect(resourcesOf('s3:ListBucket')).toEqual(['arn:${AWS::Partition}:s3:::acme-codebase']);
    expect(resourcesOf('s3:GetObject')).toEqual(['arn:${AWS::Partition}:s3:::acme-codebase/*/manifest.json']);
    const minimalActions = actionsOf(taskStatements(minimal));
    expect(minimalActions.has('elasticloadbalancing:DeregisterTargets')).toBe(false);
    expect(minimalActions.has('s3:ListBucket')).toBe(false);
    expect(minimalActions.has('s3:GetObject')).toBe(false);
  });

  it('allows every AWS call the adapters in controller/aws make, and nothing they do not make', () => {
    const { calls, unmapped } = adapterCalls();
    expect(unmapped, 'SDK calls the test cannot map to IAM actions: add them to adapterCalls').toEqual([]);
    const granted = actionsOf(taskStatements(full));
    const needed = new Set([...calls].filter((action) => !(action in NOT_THE_CONTROLLERS)));
    expect([...needed].filter((a) => !granted.has(a)), 'called by an adapter but not granted').toEqual([]);
    expect([...granted].filter((a) => !needed.has(a)), 'granted but no adapter calls it').toEqual([]);
  });
});

/** Calls an adapter can make that the controller's role deliberately lacks, and why. */
const NOT_THE_CONTROLLERS: Record<string, string> = {
  'dynamodb:CreateTable': '`fleetsync init` creates a missing table with the operator\'s credentials; the stack creates it here',
  'dynamodb:DescribeTable': '`fleetsync init` waits for the table it created; DynamoStore never describes it',
  'autoscaling:SetInstanceHealth': 'Ec2Fleet.markUnhealthy exists for the port, but the reconciler never calls it: quarantine leaves the host serving',
  's3:PutObject': '`fleetsync publish` uploads objects and manifests with the operator\'s (or CI\'s) credentials',
  's3:DeleteObject': '`fleetsync publish` removes an object whose file changed while it was uploaded, and `fleetsync gc` removes'
    + ' unreferenced objects, both with the operator\'s credentials',
};

const SDK_PREFIX: Record<string, string> = {
  'client-auto-scaling': 'autoscaling',
  'client-ec2': 'ec2',
  'client-ssm': 'ssm',
  'client-elastic-load-balancing-v2': 'elasticloadbalancing',
  'client-dynamodb': 'dynamodb',
};
const DOCUMENT_CLIENT: Record<string, string[]> = {
  Get: ['GetItem'], Put: ['PutItem'], Update: ['UpdateItem'], Delete: ['DeleteItem'], Query: ['Query'], Scan: ['Scan'],
  BatchGet: ['BatchGetItem'], BatchWrite: ['BatchWriteItem'], TransactGet: ['GetItem'],
  TransactWrite: ['PutItem', 'UpdateItem', 'DeleteItem', 'ConditionCheckItem'],
};
const S3: Record<string, string[]> = {
  ListObjectsV2: ['ListBucket'], ListObjects: ['ListBucket'], HeadBucket: ['ListBucket'], HeadObject: ['GetObject'],
  GetObject: ['GetObject'], PutObject: ['PutObject'], DeleteObject: ['DeleteObject'], DeleteObjects: ['DeleteObject'],
};
const SQS: Record<string, string[]> = {
  ReceiveMessage: ['ReceiveMessage'], DeleteMessage: ['DeleteMessage'], DeleteMessageBatch: ['DeleteMessage'],
  ChangeMessageVisibility: ['ChangeMessageVisibility'], ChangeMessageVisibilityBatch: ['ChangeMessageVisibility'],
  GetQueueAttributes: ['GetQueueAttributes'], GetQueueUrl: ['GetQueueUrl'],
};
const WAITERS: Record<string, string> = { waitUntilTableExists: 'DescribeTable', waitUntilTableNotExists: 'DescribeTable' };

/** IAM actions of the SDK commands, paginators and waiters imported (as values) by controller/aws/*.ts. */
function adapterCalls(): { calls: Set<string>; unmapped: string[] } {
  const calls = new Set<string>();
  const unmapped: string[] = [];
  const dir = join(ROOT, 'controller/aws');
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    const source = readFileSync(join(dir, file), 'utf8');
    for (const match of source.matchAll(/import\s+(type\s+)?\{([^}]*)\}\s*from\s*'@aws-sdk\/([^']+)'/g)) {
      if (match[1]) continue;
      const sdk = match[3] as string;
      const names = (match[2] as string).split(',').map((n) => n.trim()).filter((n) => n && !n.startsWith('type '));
      for (const name of names) {
        const command = /^(\w+)Command$/.exec(name)?.[1] ?? /^paginate(\w+)$/.exec(name)?.[1];
        const waited = WAITERS[name];
        if (command === undefined && waited === undefined) continue; // clients, helpers
        let actions: string[] | undefined;
        if (waited !== undefined) actions = sdk === 'client-dynamodb' ? [`dynamodb:${waited}`] : undefined;
        else if (sdk === 'lib-dynamodb') actions = DOCUMENT_CLIENT[command as string]?.map((a) => `dynamodb:${a}`);
        else if (sdk === 'client-s3') actions = S3[command as string]?.map((a) => `s3:${a}`);
        else if (sdk === 'client-sqs') actions = SQS[command as string]?.map((a) => `sqs:${a}`);
        else if (sdk === 'client-dynamodb' && command === 'TransactWriteItems') actions = DOCUMENT_CLIENT.TransactWrite?.map((a) => `dynamodb:${a}`);
        else if (SDK_PREFIX[sdk] !== undefined) actions = [`${SDK_PREFIX[sdk]}:${command as string}`];
        if (actions === undefined) unmapped.push(`${file}: ${name} from @aws-sdk/${sdk}`);
        else for (const action of actions) calls.add(action);
      }
    }
  }
  return { calls, unmapped };
}

describe('launch events', () => {
  const resourcesOf = (template: Template, type: string): Array<[string, Json]> =>
    Object.entries(template.findResources(type)) as Array<[string, Json]>;
  const props = (resource: Json): Json => resource.Properties as Json;

  it('send each named group\'s launch lifecycle events (warm-pool moves too) to a queue of its own, under SSE-SQS', () => {
    const rules = resourcesOf(full, 'AWS::Events::Rule');
    const queues = resourcesOf(full, 'AWS::SQS::Queue');
    expect(rules).toHaveLength(2);
    expect(queues).toHaveLength(2);
    const groups = rules.map(([, rule]) => {
      const pattern = props(rule).EventPattern as Json;
      // No Origin/Destination filter: a warm-pool move is the same detail-type and must reach the queue too.
      expect(Object.keys(pattern).sort()).toEqual(['detail', 'detail-type', 'source']);
      expect(pattern.source).toEqual(['aws.autoscaling']);
      expect(pattern['detail-type']).toEqual(['EC2 Instance-launch Lifecycle Action']);
      expect(Object.keys(pattern.detail as Json)).toEqual(['AutoScalingGroupName']);
      const targets = props(rule).Targets as Json[];
      expect(targets).toHaveLength(1);
      return { group: ((pattern.detail as Json).AutoScalingGroupName as string[]).join(), queue: flat((targets[0] as Json).Arn) };
    });
    expect(groups.map((g) => g.group).sort()).toEqual(['web-prod-asg', 'web-stage-asg']);
    expect(new Set(groups.map((g) => g.queue)).size).toBe(2);
    for (const [id, queue] of queues) {
      expect(groups.map((g) => g.queue)).toContain(`\${${id}.Arn}`);
      // SSE-SQS: EventBridge cannot send to a queue under the aws/sqs KMS key.
      expect(props(queue).SqsManagedSseEnabled).toBe(true);
      expect(props(queue).KmsMasterKeyId).toBeUndefined();
    }
  });

  it('let only the group\'s own rule send to its queue', () => {
    const rules = Object.fromEntries(resourcesOf(full, 'AWS::Events::Rule')
      .map(([id, rule]) => [flat(((props(rule).Targets as Json[])[0] as Json).Arn), id]));
    const policies = resourcesOf(full, 'AWS::SQS::QueuePolicy');
    expect(policies).toHaveLength(2);
    for (const [, policy] of policies) {
      const queues = (props(policy).Queues as unknown[]).map(flat);
      expect(queues).toHaveLength(1);
      const queueArn = `\${${(queues[0] as string).slice(2, -1)}.Arn}`;
      const statements = asList((props(policy).PolicyDocument as Json).Statement as Json[]);
      expect(statements.map((s) => ({ ...s, Resource: flat(s.Resource), Condition: JSON.parse(flat(s.Condition)) as unknown }))).toEqual([{
        Effect: 'Allow', Principal: { Service: 'events.amazonaws.com' }, Action: 'sqs:SendMessage', Resource: queueArn,
        Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [rules[queueArn], 'Arn'] } } },
      }]);
    }
  });

  it('are taken by the controller from those queues only, with no * action anywhere in the stack', () => {
    const queueArns = resourcesOf(full, 'AWS::SQS::Queue').map(([id]) => `\${${id}.Arn}`).sort();
    const sqsStatements = permissionStatements(full.toJSON()).filter((s) => asList(s.Action as string[]).some((a) => a.startsWith('sqs:')));
    expect(sqsStatements).toHaveLength(1);
    expect(asList(sqsStatements[0]!.Action as string[]).sort()).toEqual(['sqs:DeleteMessage', 'sqs:ReceiveMessage']);
    expect(asList(sqsStatements[0]!.Resource).map(flat).sort()).toEqual(queueArns);
    const everyAction = JSON.stringify(full.toJSON()).match(/"(Not)?Action":("[^"]*"|\[[^\]]*\])/g) ?? [];
    expect(everyAction.length).toBeGreaterThan(5);
    expect(everyAction.filter((a) => /"\*"|:\*"/.test(a))).toEqual([]);
  });

  it('reach the controller as FLEETSYNC_LAUNCH_QUEUES, group name to its queue\'s URL', () => {
    const container = ((props(only(full, 'AWS::ECS::TaskDefinition')).ContainerDefinitions as Json[])[0]) as Json;
    const variable = (container.Environment as Json[]).find((e) => e.Name === 'FLEETSYNC_LAUNCH_QUEUES');
    const queueIds = resourcesOf(full, 'AWS::SQS::Queue').map(([id]) => id);
    const value = JSON.parse(flat(variable?.Value)) as Record<string, string>;
    expect(Object.keys(value).sort()).toEqual(['web-prod-asg', 'web-stage-asg']);
    // Ref of a queue is its URL.
    expect(Object.values(value).map((ref) => ref.slice(2, -1)).sort()).toEqual(queueIds.sort());
  });
});

describe('the SSM command document', () => {
  it('is deploy/ssm/fleetsync-sync.json as is, under the name the controller sends', () => {
    full.hasResourceProperties('AWS::SSM::Document', {
      Name: DEFAULT_DOCUMENT_NAME,
      DocumentType: 'Command',
      Content: documentOnDisk,
    });
  });

  it('is refused with a clear message when it misses a parameter the controller sends', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleetsync-doc-'));
    try {
      const doc = JSON.parse(readFileSync(SSM_DOCUMENT_PATH, 'utf8')) as Json;
      delete (doc.parameters as Json).attemptId;
      writeFileSync(join(dir, 'doc.json'), JSON.stringify(doc));
      expect(() => loadSsmDocument(join(dir, 'doc.json'))).toThrow(ConfigError);
      expect(() => loadSsmDocument(join(dir, 'doc.json'))).toThrow(/parameter attemptId is missing/);
      expect(() => loadSsmDocument(join(dir, 'missing.json'))).toThrow(/cannot be read/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the alarms', () => {
  const alarm = (template: Template, metric: string): Json => {
    const found = Object.values(template.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: metric } }));
    expect(found, `one alarm on ${metric}`).toHaveLength(1);
    return (found[0] as Json).Properties as Json;
  };

  it('fire on a failed host, a stalled rollout and a fleet without leader, on the metrics the controller publishes', () => {
    expect(alarm(full, METRICS.failedHosts.name)).toMatchObject({
      Namespace: METRIC_NAMESPACE, Statistic: 'Maximum', Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    expect(alarm(full, METRICS.secondsSinceProgress.name)).toMatchObject({
      Namespace: METRIC_NAMESPACE, Statistic: 'Maximum', Threshold: 600, ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    expect(alarm(minimal, METRICS.secondsSinceProgress.name)).toMatchObject({ Threshold: 1800 });
  });

  it('treat silence as no leader: no controller running publishes nothing', () => {
    expect(alarm(full, METRICS.fleetsWithoutLeader.name)).toMatchObject({
      Namespace: METRIC_NAMESPACE, Statistic: 'Minimum', Threshold: 1, Period: 60,
      EvaluationPeriods: 3, DatapointsToAlarm: 3, TreatMissingData: 'breaching',
    });
  });

  it('notify the topic named, and nothing when none is', () => {
    full.allResourcesProperties('AWS::CloudWatch::Alarm', { AlarmActions: [TOPIC], OKActions: [TOPIC] });
    minimal.allResourcesProperties('AWS::CloudWatch::Alarm', { AlarmActions: Match.absent() });
  });
});

describe('the least-privilege check itself', () => {
  it('catches a * action, a service:* action, a wildcard action and a * resource outside the list', () => {
    const problems = iamProblems([
      { where: 'A', Action: '*', Resource: 'arn:aws:s3:::b' },
      { where: 'B', Action: ['s3:*'], Resource: 'arn:aws:s3:::b' },
      { where: 'C', Action: ['ssm:Get*'], Resource: 'arn:aws:s3:::b' },
      { where: 'D', Action: ['ssm:SendCommand'], Resource: '*' },
      { where: 'E', NotAction: ['iam:CreateUser'], Resource: 'arn:aws:s3:::b' },
      { where: 'F', Action: ['ssm:ListCommands'], Resource: '*' },
    ]);
    expect(problems.map((p) => p.split(':')[0])).toEqual(['A', 'B', 'C', 'D', 'E', 'E']);
  });
});
