/**
 * The AWS SDK clients of the controller, built one way: the standard credential chain and region, adaptive
 * retry (throttling is absorbed by the SDK first, by the work queue's backoff after), and the endpoint
 * overrides of the environment.
 *
 * Endpoints: we pass none, so the SDK itself honours AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>
 * (smithy's getEndpointUrlConfig: the service id upper-cased with spaces as underscores, e.g.
 * AWS_ENDPOINT_URL_SSM, AWS_ENDPOINT_URL_AUTO_SCALING, AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2). Passing an
 * explicit `endpoint` would switch that off, which is why this factory never does.
 */
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import { attachCallCounter, type OnCall } from './callCounter.ts';

const DEFAULT_STORE_REQUEST_TIMEOUT_MS = 5_000;
const STORE_CONNECT_TIMEOUT_MS = 2_000;
const SQS_MAX_SOCKETS = 512;

export interface AwsClients {
  autoScaling: AutoScalingClient;
  ssm: SSMClient;
  elb: ElasticLoadBalancingV2Client;
  s3: S3Client;
  dynamodb: DynamoDBClient;
  /** launch events; its long polls hold a request open for up to 20 s, so it gets no request timeout and many sockets */
  sqs: SQSClient;
}

export interface AwsClientOptions {
  /** default: the standard chain (AWS_REGION, the profile's region, ...) */
  region?: string;
  /** attempts per call including the first; default the SDK's (3) */
  maxAttempts?: number;
  /** told of every HTTP attempt, throttles included even when a retry absorbed them */
  onAttempt?: OnCall;
  /**
   * How long one DynamoDB request may take before it fails (default 5 s): a store call that hangs must not
   * hold a lease renew, or a reconciler's write, past the renew deadline.
   */
  storeRequestTimeoutMs?: number;
  /** read for the S3 endpoint override only; default process.env */
  env?: Record<string, string | undefined>;
}

/**
 * Builds every client the AWS adapters and the DynamoDB store use. Call `destroyAwsClients` on shutdown.
 * S3 uses path-style addressing when an endpoint override is set: local emulators rarely serve
 * bucket-named hosts.
 */
export function makeAwsClients(options: AwsClientOptions = {}): AwsClients {
  const env = options.env ?? process.env;
  const common = {
    ...(options.region !== undefined ? { region: options.region } : {}),
    ...(options.maxAttempts !== undefined ? { maxAttempts: options.maxAttempts } : {}),
    retryMode: 'adaptive',
  } as const;
  const storeTimeoutMs = options.storeRequestTimeoutMs ?? DEFAULT_STORE_REQUEST_TIMEOUT_MS;
  const s3Override = Boolean(env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL);
  const clients: AwsClients = {
    autoScaling: new AutoScalingClient(common),
    ssm: new SSMClient(common),
    elb: new ElasticLoadBalancingV2Client(common),
    // A bucket in another region answers 301: follow it rather than fail the artifact check.
    s3: new S3Client({ ...common, followRegionRedirects: true, forcePathStyle: s3Override }),
    // One long poll stays open per fleet this process leads: the SDK's default of 50 sockets would queue the
    // 51st fleet's poll, and every delete, behind the others' 20 s waits.
    sqs: new SQSClient({
      ...common,
      requestHandler: { httpsAgent: { keepAlive: true, maxSockets: SQS_MAX_SOCKETS }, httpAgent: { keepAlive: true, maxSockets: SQS_MAX_SOCKETS } },
    }),
    dynamodb: new DynamoDBClient({
      ...common,
      requestHandler: {
        connectionTimeout: Math.min(STORE_CONNECT_TIMEOUT_MS, storeTimeoutMs), requestTimeout: storeTimeoutMs, throwOnRequestTimeout: true,
      },
    }),
  };
  const onAttempt = options.onAttempt;
  if (onAttempt) for (const client of Object.values(clients)) attachCallCounter(client, onAttempt);
  return clients;
}

export function destroyAwsClients(clients: AwsClients): void {
  for (const client of Object.values(clients)) client.destroy();
}
