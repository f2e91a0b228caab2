/**
 * The one wiring module that chooses adapters: AWS mode when a table is configured, the embedded default
 * otherwise (design Contract). Everything else sees only ports.
 */
import path from 'node:path';
import type { Artifacts } from './ports/artifacts.ts';
import type { Clock } from './ports/clock.ts';
import type { Commands } from './ports/commands.ts';
import type { Fleet } from './ports/fleet.ts';
import type { Store } from './ports/store.ts';
import type { Traffic } from './ports/traffic.ts';
import type { LaunchEvents } from './ports/launchEvents.ts';
import type { ControllerConfig } from './config.ts';
import type { Logger } from './log.ts';
import type { OnCall } from './aws/callCounter.ts';

export interface Runtime {
  mode: 'aws' | 'embedded';
  store: Store;
  fleetPort: Fleet;
  commands: Commands;
  traffic: Traffic;
  artifacts: Artifacts;
  launchEvents: LaunchEvents;
  /** lines telling the operator where everything is */
  describe: string[];
  /** called once the HTTP server listens (the embedded default publishes its address for the CLI) */
  announce(httpEndpoint: string): Promise<void>;
  close(): Promise<void>;
}

export interface RuntimeOptions {
  config: ControllerConfig;
  clock: Clock;
  log: Logger;
  /** told of every control-plane call and its outcome (metrics) */
  onCall?: OnCall;
  cwd: string;
}

export async function openRuntime(options: RuntimeOptions): Promise<Runtime> {
  return options.config.table ? openAws(options, options.config.table) : openEmbedded(options);
}

async function openAws(options: RuntimeOptions, tableName: string): Promise<Runtime> {
  // Loaded here so the embedded default and the CLI's --help do not pay for the AWS SDK.
  const [
    { makeAwsClients, destroyAwsClients }, { DynamoStore }, { Ec2Fleet }, { SsmCommands }, { ElbTraffic }, { S3Artifacts }, { SqsLaunchEvents },
  ] = await Promise.all([
    import('./aws/clients.ts'), import('./aws/dynamoStore.ts'), import('./aws/ec2Fleet.ts'), import('./aws/ssmCommands.ts'),
    import('./aws/elbTraffic.ts'), import('./aws/s3Artifacts.ts'), import('./aws/sqsLaunchEvents.ts'),
  ]);
  const { config, clock, onCall } = options;
  const queueUrls = new Map(Object.entries(config.launchQueues));
  const clients = makeAwsClients({ ...(config.region ? { region: config.region } : {}) });
  const region = await clients.dynamodb.config.region().catch(() => 'unknown');
  return {
    mode: 'aws',
    store: new DynamoStore({ client: clients.dynamodb, tableName }),
    fleetPort: new Ec2Fleet({ autoScaling: clients.autoScaling, ssm: clients.ssm, ...(onCall ? { onCall } : {}) }),
    commands: new SsmCommands({ client: clients.ssm, clock, documentName: config.documentName, ...(onCall ? { onCall } : {}) }),
    traffic: new ElbTraffic({ client: clients.elb, ...(onCall ? { onCall } : {}) }),
    artifacts: new S3Artifacts({ client: clients.s3, ...(onCall ? { onCall } : {}) }),
    launchEvents: new SqsLaunchEvents({ client: clients.sqs, queueUrls, clock, log: options.log }),
    describe: [
      `AWS mode: DynamoDB table ${tableName} in ${region}`,
      `commands through the SSM document ${config.documentName}`,
      queueUrls.size > 0 ? `launch events from ${queueUrls.size} SQS queue(s): ${[...queueUrls.keys()].join(', ')}`
        : 'no launch-event queues (FLEETSYNC_LAUNCH_QUEUES): launches are seen at the resync',
    ],
    announce: () => Promise.resolve(),
    close: () => {
      destroyAwsClients(clients);
      return Promise.resolve();
    },
  };
}

async function openEmbedded(options: RuntimeOptions): Promise<Runtime> {
  const { startEmbedded } = await import('./embedded.ts');
  const embedded = await startEmbedded({
    home: path.resolve(options.cwd, options.config.home), log: options.log, clock: options.clock,
  });
  return {
    mode: 'embedded', store: embedded.store, fleetPort: embedded.fleetPort, commands: embedded.commands,
    traffic: embedded.traffic, artifacts: embedded.artifacts, launchEvents: embedded.launchEvents, describe: embedded.describe,
    announce: embedded.announce, close: embedded.close,
  };
}
