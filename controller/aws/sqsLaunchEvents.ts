/**
 * Launch events from SQS: the stack's EventBridge rule sends each group's "EC2 Instance-launch Lifecycle Action"
 * events to a queue of that group's own, and the fleet's leader long-polls it.
 *
 * Why one queue per group, read only by the leader: an SQS message goes to one receiver. With several
 * controller tasks on one shared queue, a task that does not lead the fleet would take (and hide) messages the
 * leader needed, and could not act on them. With a queue per group, and `follow` called only while this task
 * holds the fleet's lease (the reconciler, which runs only under the lease, starts it and aborts it on loss),
 * every message reaches the one task that can act. A message received during a hand-over, or lost, costs
 * nothing but time: the resync still finds the instance.
 */
import { DeleteMessageBatchCommand, ReceiveMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import { parseLaunchEvent } from '../../state/launchEvent.ts';
import type { Clock } from '../ports/clock.ts';
import type { LaunchEvent, LaunchEvents } from '../ports/launchEvents.ts';
import type { Logger } from '../log.ts';
import { toFleetsyncError } from './sdkErrors.ts';

/** SQS's longest long poll: one request per 20 s per fleet when nothing launches. */
const WAIT_SECONDS = 20;
/** SQS's most messages per receive (and per delete batch). */
const MAX_MESSAGES = 10;
const RETRY_BASE_MS = 1_000;
const RETRY_CAP_MS = 60_000;

export interface SqsLaunchEventsOptions {
  client: SQSClient;
  /** Auto Scaling group name → the URL of its launch-event queue (FLEETSYNC_LAUNCH_QUEUES) */
  queueUrls: ReadonlyMap<string, string>;
  clock: Clock;
  log: Logger;
}

export class SqsLaunchEvents implements LaunchEvents {
  constructor(private readonly o: SqsLaunchEventsOptions) {}

  async follow(args: { autoScalingGroupName: string; signal: AbortSignal; onEvent: (event: LaunchEvent) => void }): Promise<void> {
    const { autoScalingGroupName: group, signal } = args;
    const queueUrl = this.o.queueUrls.get(group);
    if (!queueUrl) {
      this.o.log.info({ group }, 'no launch-event queue for this group (FLEETSYNC_LAUNCH_QUEUES): launches are seen at the resync');
      return;
    }
    const log = this.o.log.child({ group, queueUrl });
    let failures = 0;
    while (!signal.aborted) {
      let messages: Message[];
      try {
        const out = await this.o.client.send(new ReceiveMessageCommand({
          QueueUrl: queueUrl, WaitTimeSeconds: WAIT_SECONDS, MaxNumberOfMessages: MAX_MESSAGES,
        }), { abortSignal: signal });
        messages = out.Messages ?? [];
        failures = 0;
      } catch (error) {
        if (signal.aborted) return;
        failures += 1;
        log.warn({ err: toFleetsyncError(error, 'sqs:ReceiveMessage') }, 'could not read launch events; the resync still sees launches');
        try {
          await this.o.clock.sleep(Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** (failures - 1)), signal);
        } catch {
          return;
        }
        continue;
      }
      // Taken while leadership ended: left on the queue, so they come back to the next leader.
      if (signal.aborted) return;
      for (const message of messages) this.handle({ message, group, log, onEvent: args.onEvent });
      await this.delete({ queueUrl, messages, log });
    }
  }

  private handle(args: { message: Message; group: string; log: Logger; onEvent: (event: LaunchEvent) => void }): void {
    const { message, group, log } = args;
    const parsed = parseLaunchEvent(message.Body ?? '');
    if ('problem' in parsed) {
      // Deleted all the same: a message that cannot be read now never will be, and must not come back forever.
      log.warn({ messageId: message.MessageId, problem: parsed.problem }, 'malformed launch event: deleted');
      return;
    }
    if (parsed.event.autoScalingGroupName !== group) {
      log.warn({ messageId: message.MessageId, eventGroup: parsed.event.autoScalingGroupName },
        'a launch event of another group on this queue (check the EventBridge rule\'s pattern): deleted');
      return;
    }
    args.onEvent(parsed.event);
  }

  /** After handling: a delete that fails leaves the message to come back, which changes nothing but a pass. */
  private async delete(args: { queueUrl: string; messages: Message[]; log: Logger }): Promise<void> {
    const entries = args.messages.flatMap((m, i) => (m.ReceiptHandle ? [{ Id: String(i), ReceiptHandle: m.ReceiptHandle }] : []));
    if (entries.length === 0) return;
    try {
      const out = await this.o.client.send(new DeleteMessageBatchCommand({ QueueUrl: args.queueUrl, Entries: entries }));
      for (const failed of out.Failed ?? []) {
        args.log.warn({ code: failed.Code, problem: failed.Message }, 'could not delete a launch event: it comes back after its visibility timeout and asks for one more pass');
      }
    } catch (error) {
      args.log.warn({ err: toFleetsyncError(error, 'sqs:DeleteMessageBatch') }, 'could not delete launch events: they come back after their visibility timeout and ask for one more pass');
    }
  }
}
