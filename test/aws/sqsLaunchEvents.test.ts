/**
 * SqsLaunchEvents on aws-sdk-client-mock: the leader's long poll of its group's queue hands over each launch
 * event (warm-pool moves too), deletes what it handled, logs and deletes what it cannot read, backs off when SQS
 * fails, and stops at once when leadership ends, leaving what it took after that on the queue for the next leader.
 */
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient, type Message } from '@aws-sdk/client-sqs';
import { SqsLaunchEvents } from '../../controller/aws/sqsLaunchEvents.ts';
import { createLogger } from '../../controller/log.ts';
import type { LaunchEvent } from '../../controller/ports/launchEvents.ts';
import { VirtualClock } from '../../controller/sim/virtualClock.ts';
import { TEST_CLIENT_CONFIG, onClock, sdkError } from './awsMocks.ts';

const GROUP = 'web-prod-asg';
const QUEUE = 'https://sqs.us-east-1.amazonaws.com/123456789012/fleetsync-launches-web';

const sqs = new SQSClient(TEST_CLIENT_CONFIG);
const sqsMock = mockClient(sqs);

/** EventBridge's event as the rule delivers it to SQS: the message body is the event itself. */
function eventBody(detail: Record<string, unknown>, overrides: Record<string, unknown> = {}): string {
  return JSON.stringify({
    version: '0', id: '12345678-1234-1234-1234-123456789012', 'detail-type': 'EC2 Instance-launch Lifecycle Action',
    source: 'aws.autoscaling', account: '123456789012', time: '2021-01-13T00:12:37.214Z', region: 'us-east-1',
    resources: ['auto-scaling-group-arn'],
    detail: {
      LifecycleActionToken: '71514b9d-6a40-4b26-8523-05e7eEXAMPLE', AutoScalingGroupName: GROUP,
      LifecycleHookName: 'fleetsync-launch', LifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING', ...detail,
    },
    ...overrides,
  });
}

const message = (n: number, body: string): Message => ({ MessageId: `m-${n}`, ReceiptHandle: `receipt-${n}`, Body: body });

let lines: Array<Record<string, unknown>>;
let clock: VirtualClock;
let events: SqsLaunchEvents;

beforeEach(() => {
  sqsMock.reset();
  lines = [];
  clock = new VirtualClock(0);
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  events = new SqsLaunchEvents({ client: sqs, queueUrls: new Map([[GROUP, QUEUE]]), clock, log: createLogger({ level: 'info', destination }) });
});

afterEach(() => sqsMock.reset());

/** A long poll that waits, like SQS with nothing to deliver, until the caller's signal aborts it. */
function waitUntilAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    signal.addEventListener('abort', () => reject(Object.assign(new Error('Request aborted'), { name: 'AbortError' })), { once: true });
  });
}

/** Receives answer `batches` in turn, then wait until aborted. */
function queueServes(batches: Array<Message[] | Error>, signal: AbortSignal): void {
  let n = 0;
  sqsMock.on(ReceiveMessageCommand).callsFake(() => {
    const batch = batches[n++];
    if (batch === undefined) return waitUntilAborted(signal);
    return batch instanceof Error ? Promise.reject(batch) : Promise.resolve({ Messages: batch });
  });
}

async function settle(until: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !until(); i++) await new Promise((resolve) => setImmediate(resolve));
  expect(until()).toBe(true);
}

describe('SqsLaunchEvents', () => {
  it('long-polls the group\'s queue and hands over each launch, warm-pool moves included, then deletes them', async () => {
    const leading = new AbortController();
    const order: string[] = [];
    queueServes([[
      message(1, eventBody({ EC2InstanceId: 'i-0123456789abcdef0', Origin: 'EC2', Destination: 'AutoScalingGroup' })),
      message(2, eventBody({ EC2InstanceId: 'i-0fedcba987654321f', Origin: 'WarmPool', Destination: 'AutoScalingGroup' })),
      message(3, eventBody({ EC2InstanceId: 'i-00000000000000001', Origin: 'EC2', Destination: 'WarmPool' })),
    ]], leading.signal);
    sqsMock.on(DeleteMessageBatchCommand).callsFake(() => {
      order.push('delete');
      return Promise.resolve({ Successful: [], Failed: [] });
    });
    const seen: LaunchEvent[] = [];
    const following = events.follow({ autoScalingGroupName: GROUP, signal: leading.signal, onEvent: (e) => {
      order.push(`event ${e.instanceId}`);
      seen.push(e);
    } });
    await settle(() => order.includes('delete'));
    leading.abort();
    await following;

    expect(seen).toEqual([
      { autoScalingGroupName: GROUP, instanceId: 'i-0123456789abcdef0', origin: 'EC2', destination: 'AutoScalingGroup' },
      { autoScalingGroupName: GROUP, instanceId: 'i-0fedcba987654321f', origin: 'WarmPool', destination: 'AutoScalingGroup' },
      { autoScalingGroupName: GROUP, instanceId: 'i-00000000000000001', origin: 'EC2', destination: 'WarmPool' },
    ]);
    // Deleted only once handled.
    expect(order.at(-1)).toBe('delete');
    const receive = sqsMock.commandCalls(ReceiveMessageCommand)[0]!.args[0].input;
    expect(receive).toMatchObject({ QueueUrl: QUEUE, WaitTimeSeconds: 20, MaxNumberOfMessages: 10 });
    const deletes = sqsMock.commandCalls(DeleteMessageBatchCommand).map((c) => c.args[0].input);
    expect(deletes).toEqual([{ QueueUrl: QUEUE, Entries: [1, 2, 3].map((n, i) => ({ Id: String(i), ReceiptHandle: `receipt-${n}` })) }]);
  });

  it('logs and deletes a message it cannot read, and goes on with the next', async () => {
    const leading = new AbortController();
    queueServes([[
      message(1, 'not json at all'),
      message(2, eventBody({ EC2InstanceId: 'i-0123456789abcdef0' }, { 'detail-type': 'EC2 Instance Launch Successful' })),
      message(3, eventBody({ EC2InstanceId: 'instance-7' })),
      message(4, eventBody({ EC2InstanceId: 'i-0123456789abcdef0', AutoScalingGroupName: 'someone-else-asg' })),
      message(5, eventBody({ EC2InstanceId: 'i-0123456789abcdef1' })),
    ]], leading.signal);
    sqsMock.on(DeleteMessageBatchCommand).resolves({ Successful: [], Failed: [] });
    const seen: string[] = [];
    const following = events.follow({ autoScalingGroupName: GROUP, signal: leading.signal, onEvent: (e) => seen.push(e.instanceId) });
    await settle(() => sqsMock.commandCalls(DeleteMessageBatchCommand).length === 1);
    leading.abort();
    await following;

    expect(seen).toEqual(['i-0123456789abcdef1']);
    const handles = sqsMock.commandCalls(DeleteMessageBatchCommand)[0]!.args[0].input.Entries!.map((e) => e.ReceiptHandle);
    expect(handles).toEqual(['receipt-1', 'receipt-2', 'receipt-3', 'receipt-4', 'receipt-5']);
    const warnings = lines.filter((l) => l.level === 40).map((l) => `${String(l.messageId)}: ${String(l.msg)} ${String(l.problem ?? l.eventGroup)}`);
    expect(warnings).toHaveLength(4);
    expect(warnings[0]).toMatch(/^m-1: malformed launch event: deleted not JSON/);
    expect(warnings[1]).toMatch(/^m-2: malformed .*detail-type "EC2 Instance Launch Successful"/);
    expect(warnings[2]).toMatch(/^m-3: malformed .*EC2InstanceId "instance-7" is not an instance id/);
    expect(warnings[3]).toMatch(/^m-4: a launch event of another group .* someone-else-asg/);
  });

  it('stops at once when leadership ends, and leaves messages taken after that on the queue', async () => {
    const leading = new AbortController();
    // The poll returns just as the lease is lost: those messages must come back to the next leader.
    sqsMock.on(ReceiveMessageCommand).callsFake(() => {
      leading.abort();
      return Promise.resolve({ Messages: [message(1, eventBody({ EC2InstanceId: 'i-0123456789abcdef0' }))] });
    });
    const seen: string[] = [];
    await events.follow({ autoScalingGroupName: GROUP, signal: leading.signal, onEvent: (e) => seen.push(e.instanceId) });
    expect(seen).toEqual([]);
    expect(sqsMock.commandCalls(DeleteMessageBatchCommand)).toHaveLength(0);

    // Aborted in the middle of a long poll: follow resolves, and polls no more.
    const next = new AbortController();
    sqsMock.reset();
    queueServes([], next.signal);
    const following = events.follow({ autoScalingGroupName: GROUP, signal: next.signal, onEvent: () => undefined });
    await settle(() => sqsMock.commandCalls(ReceiveMessageCommand).length === 1);
    next.abort();
    await following;
    expect(sqsMock.commandCalls(ReceiveMessageCommand)).toHaveLength(1);
  });

  it('backs off while SQS fails, then takes messages again', async () => {
    const leading = new AbortController();
    queueServes([
      sdkError('ThrottlingException', 'Rate exceeded'),
      sdkError('InternalError', 'We encountered an internal error', 500),
      [message(1, eventBody({ EC2InstanceId: 'i-0123456789abcdef0' }))],
    ], leading.signal);
    sqsMock.on(DeleteMessageBatchCommand).resolves({ Successful: [], Failed: [] });
    const seenAtMs: number[] = [];
    const following = events.follow({ autoScalingGroupName: GROUP, signal: leading.signal, onEvent: () => seenAtMs.push(clock.nowMs()) });
    await onClock(clock, new Promise<void>((resolve) => {
      const check = (): void => (seenAtMs.length > 0 ? resolve() : void setTimeout(check, 1));
      check();
    }), 60_000);
    leading.abort();
    await following;
    // 1 s after the first failure, 2 s after the second.
    expect(seenAtMs).toEqual([3_000]);
    const warned = lines.filter((l) => l.level === 40).map((l) => (l.err as { message: string }).message);
    expect(warned).toHaveLength(2);
    expect(warned[0]).toContain('sqs:ReceiveMessage failed: ThrottlingException');
  });

  it('follows nothing, and says so, for a group without a queue', async () => {
    await events.follow({ autoScalingGroupName: 'other-asg', signal: new AbortController().signal, onEvent: () => undefined });
    expect(sqsMock.calls()).toHaveLength(0);
    expect(lines.map((l) => l.msg)).toContain('no launch-event queue for this group (FLEETSYNC_LAUNCH_QUEUES): launches are seen at the resync');
  });
});
