/**
 * Launch events for each named group: an EventBridge rule for the group's "EC2 Instance-launch Lifecycle
 * Action" events (warm-pool moves included: they are the same detail-type) into a queue of that group's own.
 *
 * One queue per group, because an SQS message goes to one receiver: the controller reads a group's queue only
 * from the task that leads its fleet, so no other task can take (and lose) a message the leader needs. The
 * queue is encrypted with SSE-SQS, since EventBridge cannot send to a queue under the `aws/sqs` KMS key, and only
 * the group's rule may send to it. L1 constructs keep the template small (it must stay under CloudFormation's
 * inline limit): the L2 target would also grant GetQueueAttributes and GetQueueUrl, which EventBridge never uses.
 */
import { Stack, aws_events as events, aws_sqs as sqs } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { LAUNCH_EVENT_DETAIL_TYPE, LAUNCH_EVENT_SOURCE } from '../../../state/launchEvent.ts';

/** A message older than this is stale: the resync has long found its instance. */
const RETENTION_SECONDS = 3_600;

export class LaunchEventQueues extends Construct {
  /** group name → its queue's URL, as the controller's FLEETSYNC_LAUNCH_QUEUES wants it */
  readonly queueUrls: Record<string, string> = {};
  readonly queueArns: string[] = [];

  constructor(scope: Construct, id: string, props: { autoScalingGroupNames: string[] }) {
    super(scope, id);
    for (const group of props.autoScalingGroupNames) {
      // Keyed by name, not list position (as the hooks are): reordering the list must not replace a queue.
      const perGroup = new Construct(this, group.replaceAll('/', '%2F'));
      const queue = new sqs.CfnQueue(perGroup, 'Queue', { sqsManagedSseEnabled: true, messageRetentionPeriod: RETENTION_SECONDS });
      const rule = new events.CfnRule(perGroup, 'Rule', {
        eventPattern: {
          source: [LAUNCH_EVENT_SOURCE],
          'detail-type': [LAUNCH_EVENT_DETAIL_TYPE],
          detail: { AutoScalingGroupName: [group] },
        },
        targets: [{ id: 'queue', arn: queue.attrArn }],
      });
      new sqs.CfnQueuePolicy(perGroup, 'Policy', {
        queues: [queue.ref],
        policyDocument: {
          Version: '2012-10-17',
          Statement: [{
            Effect: 'Allow',
            Principal: { Service: 'events.amazonaws.com' },
            Action: 'sqs:SendMessage',
            Resource: queue.attrArn,
            Condition: { ArnEquals: { 'aws:SourceArn': rule.attrArn } },
          }],
        },
      });
      this.queueUrls[group] = queue.ref;
      this.queueArns.push(queue.attrArn);
    }
  }

  /** FLEETSYNC_LAUNCH_QUEUES: the JSON object, resolved at deploy time. */
  environmentValue(): string {
    return Stack.of(this).toJsonString(this.queueUrls);
  }
}
