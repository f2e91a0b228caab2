/**
 * Everything fleetsync needs next to an existing Auto Scaling group: the table, the controller service, its
 * least-privilege role, the SSM document, the launch lifecycle hook, the launch-event queues and the alarms. The VPC, subnets and groups
 * are imported by id, so synth needs no AWS account and makes no lookups.
 */
import {
  Annotations, Aws, CfnOutput, Duration, Fn, RemovalPolicy, Stack, type StackProps,
  aws_autoscaling as autoscaling, aws_dynamodb as dynamodb, aws_ec2 as ec2, aws_ecr as ecr, aws_ecs as ecs,
  aws_iam as iam, aws_logs as logs, aws_ssm as ssm,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { TABLE_KEYS } from '../../../controller/aws/tableSchema.ts';
import { ConfigError } from '../../../controller/errors.ts';
import { DEFAULT_DOCUMENT_NAME } from '../../../controller/hostProtocol.ts';
import { FleetsyncAlarms } from './alarms.ts';
import { LaunchEventQueues } from './launchEvents.ts';
import type { InfraConfig } from './config.ts';
import { controllerStatements } from './permissions.ts';
import type { SsmDocumentContent } from './ssmDocument.ts';

export const CONTROLLER_HTTP_PORT = 9870;

// The slim image has no curl; Node 20 has fetch.
const HEALTH_CHECK_SCRIPT =
  `fetch('http://127.0.0.1:${CONTROLLER_HTTP_PORT}/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`;

export interface FleetsyncStackProps extends StackProps {
  config: InfraConfig;
  ssmDocument: SsmDocumentContent;
  /** argv of the controller: package.json's start script, split on spaces */
  controllerCommand: string[];
}

const ECR_IMAGE = /^([0-9]{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\/([^:@]+)(?::([^@]+)|@(sha256:[a-f0-9]{64}))$/;

/** ECR images go through the repository so the execution role gets pull rights on that repository only. */
function controllerImage(scope: Construct, imageUri: string): ecs.ContainerImage {
  const ecrParts = ECR_IMAGE.exec(imageUri);
  if (!ecrParts) return ecs.ContainerImage.fromRegistry(imageUri);
  const [, account, region, repositoryName, tag, digest] = ecrParts as unknown as [string, string, string, string, string?, string?];
  const repository = ecr.Repository.fromRepositoryAttributes(scope, 'ImageRepository', {
    repositoryName,
    repositoryArn: `arn:${Aws.PARTITION}:ecr:${region}:${account}:repository/${repositoryName}`,
  });
  return ecs.ContainerImage.fromEcrRepository(repository, tag ?? digest);
}

function importSubnet(scope: Construct, subnetId: string): ec2.ISubnet {
  const subnet = ec2.Subnet.fromSubnetId(scope, `Subnet-${subnetId}`, subnetId);
  // The service passes subnet ids to ECS and never reads a route table, so an unknown one is harmless.
  Annotations.of(subnet).acknowledgeWarning('@aws-cdk/aws-ec2:noSubnetRouteTableId', 'only the subnet id is used');
  return subnet;
}

function attributeType(type: string): dynamodb.AttributeType {
  if (type === 'S') return dynamodb.AttributeType.STRING;
  if (type === 'N') return dynamodb.AttributeType.NUMBER;
  if (type === 'B') return dynamodb.AttributeType.BINARY;
  throw new ConfigError(`controller/aws/tableSchema.ts names key type ${type}; the stack knows S, N and B`);
}

export class FleetsyncStack extends Stack {
  readonly table: dynamodb.Table;
  readonly service: ecs.FargateService;
  readonly taskRole: iam.Role;

  constructor(scope: Construct, id: string, props: FleetsyncStackProps) {
    super(scope, id, props);
    const { config } = props;

    this.table = new dynamodb.Table(this, 'Table', {
      tableName: config.tableName,
      partitionKey: { name: TABLE_KEYS.partitionKey.name, type: attributeType(TABLE_KEYS.partitionKey.type) },
      sortKey: { name: TABLE_KEYS.sortKey.name, type: attributeType(TABLE_KEYS.sortKey.type) },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      // Specs, leases and history outlive the stack: deleting the stack must not delete them.
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const document = new ssm.CfnDocument(this, 'SyncDocument', {
      name: DEFAULT_DOCUMENT_NAME,
      documentType: 'Command',
      documentFormat: 'JSON',
      content: props.ssmDocument,
      // A new version instead of a replacement: a named document cannot be replaced in place.
      updateMethod: 'NewVersion',
    });

    // Nested, so each logical id carries a hash of the exact group name (web-prod and webprod cannot collide),
    // and keyed by name, not list position: reordering the list must not replace a hook. A launching hook also
    // holds warm-pool launches: in Warmed:Pending:Wait going into the pool, and in Pending:Wait again leaving it,
    // so one hook covers groups with a warm pool (the groups, and their pools, are the operator's, not the stack's).
    const hooks = new Construct(this, 'LaunchHooks');
    for (const groupName of config.autoScalingGroupNames) {
      new autoscaling.CfnLifecycleHook(hooks, groupName.replaceAll('/', '%2F'), {
        autoScalingGroupName: groupName,
        lifecycleHookName: config.lifecycleHookName,
        lifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
        heartbeatTimeout: config.lifecycleHookHeartbeatSeconds,
        // An instance nobody synced must never serve: the group replaces it instead.
        defaultResult: 'ABANDON',
      });
    }

    const launchEvents = new LaunchEventQueues(this, 'LaunchEvents', { autoScalingGroupNames: config.autoScalingGroupNames });

    this.taskRole = new iam.Role(this, 'TaskRole', {
      // Only ECS tasks of this account may assume it (confused-deputy protection).
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com', {
        conditions: {
          ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:ecs:${Aws.REGION}:${Aws.ACCOUNT_ID}:*` },
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
        },
      }),
      description: 'fleetsync controller: the table, its SSM document on tagged instances, lifecycle actions of its groups',
    });
    for (const statement of controllerStatements(this, {
      tableArn: this.table.tableArn, documentName: DEFAULT_DOCUMENT_NAME, config, launchQueueArns: launchEvents.queueArns,
    })) {
      this.taskRole.addToPolicy(statement);
    }

    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: config.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: 256,
      memoryLimitMiB: 512,
      taskRole: this.taskRole,
    });
    taskDefinition.addContainer('controller', {
      image: controllerImage(this, config.imageUri),
      command: props.controllerCommand,
      environment: {
        FLEETSYNC_TABLE: this.table.tableName,
        AWS_REGION: Aws.REGION,
        FLEETSYNC_HTTP_PORT: String(CONTROLLER_HTTP_PORT),
        FLEETSYNC_LOG_LEVEL: 'info',
        // By reference, so the controller sends the document this stack created.
        FLEETSYNC_DOCUMENT_NAME: document.ref,
        // Each fleet's leader long-polls its group's queue: launches are seen in seconds, not at the resync.
        FLEETSYNC_LAUNCH_QUEUES: launchEvents.environmentValue(),
      },
      // The controller's log lines carry its metrics (Embedded Metric Format), so these logs feed the alarms.
      logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: 'controller' }),
      healthCheck: {
        command: ['CMD', 'node', '-e', HEALTH_CHECK_SCRIPT],
        interval: Duration.seconds(30),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: Duration.seconds(30),
      },
      // An init process forwards SIGTERM, so a stopping task releases its leases instead of letting them expire.
      linuxParameters: new ecs.LinuxParameters(this, 'LinuxParameters', { initProcessEnabled: true }),
      stopTimeout: Duration.seconds(30),
    });

    // Zones resolved at deploy time: the service is given its subnets by id, so nothing selects subnets by zone.
    const vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', { vpcId: config.vpcId, availabilityZones: Fn.getAzs() });
    Annotations.of(vpc).acknowledgeWarning('@aws-cdk/aws-ec2:vpcAttributeIsListTokenavailabilityZones', 'subnets are given by id');
    const cluster = new ecs.Cluster(this, 'Cluster', { vpc });
    const securityGroups = config.securityGroupIds.length > 0
      ? config.securityGroupIds.map((id) => ec2.SecurityGroup.fromSecurityGroupId(this, `SecurityGroup-${id}`, id))
      : [new ec2.SecurityGroup(this, 'SecurityGroup', {
        vpc,
        description: 'fleetsync controller: outbound to AWS APIs only, nothing inbound',
        allowAllOutbound: true,
      })];

    this.service = new ecs.FargateService(this, 'Service', {
      cluster,
      taskDefinition,
      // Leadership (one lease per fleet) makes several tasks safe; two keep fleets led while one restarts.
      desiredCount: config.desiredCount,
      minHealthyPercent: 50,
      maxHealthyPercent: 200,
      circuitBreaker: { rollback: true },
      vpcSubnets: { subnets: config.subnetIds.map((id) => importSubnet(this, id)) },
      securityGroups,
      assignPublicIp: config.assignPublicIp,
    });

    new CfnOutput(this, 'TableName', { value: this.table.tableName, description: 'FLEETSYNC_TABLE for the operator CLI' });
    new CfnOutput(this, 'DocumentName', { value: document.ref });
    new CfnOutput(this, 'ClusterName', { value: cluster.clusterName });
    new CfnOutput(this, 'ServiceName', { value: this.service.serviceName });
    new CfnOutput(this, 'LogGroupName', { value: logGroup.logGroupName });

    new FleetsyncAlarms(this, 'Alarms', { stallAlarmSeconds: config.stallAlarmSeconds, alarmTopicArn: config.alarmTopicArn });
  }
}
