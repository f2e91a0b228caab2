/**
 * What the controller may do, and on what. Every statement names its actions; a `*` resource is used only for
 * the actions in STAR_RESOURCE_ACTIONS, which AWS does not let a policy scope to a resource.
 */
import { Aws, Stack, aws_iam as iam } from 'aws-cdk-lib';
import type { InfraConfig } from './config.ts';

/** Actions that accept only Resource "*", with the role that needs each and why. */
export const STAR_RESOURCE_ACTION_REASONS = {
  'autoscaling:DescribeAutoScalingGroups': 'task: lists a fleet\'s instances and lifecycle states',
  'autoscaling:DescribeLifecycleHooks': 'task: the launch hook\'s heartbeat timeout, which paces lifecycle heartbeats',
  'autoscaling:DescribeWarmPool': 'task: the instances of a group\'s warm pool (Warmed:* states), which the group\'s list leaves out',
  'elasticloadbalancing:DescribeTargetHealth': 'task: target health before and after draining',
  'ssm:DescribeInstanceInformation': 'task: SSM agent ping status of each instance',
  'ssm:ListCommands': 'task: finds the command of an attempt after a crash or a failed send (by its comment), and orphan commands on a busy host',
  'ssm:ListCommandInvocations': 'task: per-host status and output of a command',
  'ssm:GetCommandInvocation': 'task: one host\'s status and output of a command',
  'ssm:CancelCommand': 'task: cancels a timed-out sync, and orphan commands of the fleet holding a busy host',
  'ecr:GetAuthorizationToken': 'execution: the registry login ECS needs to pull the image from ECR',
} as const;

export const STAR_RESOURCE_ACTIONS = Object.keys(STAR_RESOURCE_ACTION_REASONS) as Array<keyof typeof STAR_RESOURCE_ACTION_REASONS>;

/** What DynamoStore calls (the conditional writes of leases, specs and status, reads, history queries). */
export const TABLE_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:Query',
];

export const LIFECYCLE_ACTIONS = [
  'autoscaling:CompleteLifecycleAction',
  'autoscaling:RecordLifecycleActionHeartbeat',
];

export const TARGET_ACTIONS = ['elasticloadbalancing:RegisterTargets', 'elasticloadbalancing:DeregisterTargets'];

/** What SqsLaunchEvents calls: DeleteMessageBatch is authorized as sqs:DeleteMessage. */
export const LAUNCH_QUEUE_ACTIONS = ['sqs:ReceiveMessage', 'sqs:DeleteMessage'];

export interface PermissionTargets {
  tableArn: string;
  documentName: string;
  config: InfraConfig;
  /** the groups' launch-event queues, read by the controller */
  launchQueueArns: string[];
}

function taskStarActions(): string[] {
  return STAR_RESOURCE_ACTIONS.filter((action) => STAR_RESOURCE_ACTION_REASONS[action].startsWith('task:'));
}

/** The task role's statements. */
export function controllerStatements(stack: Stack, targets: PermissionTargets): iam.PolicyStatement[] {
  const { tableArn, documentName, config, launchQueueArns } = targets;
  const statements = [
    new iam.PolicyStatement({ sid: 'Table', actions: TABLE_ACTIONS, resources: [tableArn] }),
    new iam.PolicyStatement({
      sid: 'SendTheSyncDocument',
      actions: ['ssm:SendCommand'],
      resources: [stack.formatArn({ service: 'ssm', resource: 'document', resourceName: documentName })],
    }),
    new iam.PolicyStatement({
      // SendCommand is authorized on the document and on every target instance: only tagged ones pass.
      sid: 'SendToTaggedInstances',
      actions: ['ssm:SendCommand'],
      resources: [stack.formatArn({ service: 'ec2', resource: 'instance', resourceName: '*' })],
      conditions: { StringLike: { [`ssm:resourceTag/${config.fleetTagKey}`]: config.fleetTagValue } },
    }),
    new iam.PolicyStatement({
      sid: 'LifecycleOfNamedGroups',
      actions: LIFECYCLE_ACTIONS,
      resources: config.autoScalingGroupNames.map((name) =>
        `arn:${Aws.PARTITION}:autoscaling:${Aws.REGION}:${Aws.ACCOUNT_ID}:autoScalingGroup:*:autoScalingGroupName/${name}`),
    }),
    new iam.PolicyStatement({ sid: 'ReadOnlyCallsWithoutResources', actions: taskStarActions(), resources: ['*'] }),
  ];
  if (launchQueueArns.length > 0) {
    statements.push(new iam.PolicyStatement({ sid: 'TakeLaunchEvents', actions: LAUNCH_QUEUE_ACTIONS, resources: launchQueueArns }));
  }
  if (config.targetGroupArns.length > 0) {
    statements.push(new iam.PolicyStatement({ sid: 'DrainNamedTargetGroups', actions: TARGET_ACTIONS, resources: config.targetGroupArns }));
  }
  if (config.artifactBuckets.length > 0) {
    // S3Artifacts.check: a published revision's manifest tells its size; a plain folder is found by listing.
    // The hosts, not the controller, read the files, so the controller reads manifests and nothing else.
    statements.push(new iam.PolicyStatement({
      sid: 'ListArtifactBuckets',
      actions: ['s3:ListBucket'],
      resources: config.artifactBuckets.map((bucket) => `arn:${Aws.PARTITION}:s3:::${bucket}`),
    }), new iam.PolicyStatement({
      sid: 'ReadRevisionManifests',
      actions: ['s3:GetObject'],
      resources: config.artifactBuckets.map((bucket) => `arn:${Aws.PARTITION}:s3:::${bucket}/*/manifest.json`),
    }));
  }
  return statements;
}
