/**
 * The launch lifecycle event Auto Scaling sends to EventBridge ("EC2 Instance-launch Lifecycle Action") when an
 * instance enters a launch wait state: a new instance going into service or into the warm pool, or a warm one
 * leaving the pool for service. Read from its JSON text, as an SQS message body or a local event file holds it.
 * Pure: no I/O.
 */
import { PATTERNS } from './validate.ts';

export const LAUNCH_EVENT_SOURCE = 'aws.autoscaling';
export const LAUNCH_EVENT_DETAIL_TYPE = 'EC2 Instance-launch Lifecycle Action';
const LAUNCHING = 'autoscaling:EC2_INSTANCE_LAUNCHING';

/** Where an instance comes from and goes to; events of groups without a warm pool may name neither. */
export type LaunchPlace = 'EC2' | 'AutoScalingGroup' | 'WarmPool';
const PLACES: readonly string[] = ['EC2', 'AutoScalingGroup', 'WarmPool'] satisfies LaunchPlace[];

export interface LaunchEvent {
  autoScalingGroupName: string;
  instanceId: string;
  origin?: LaunchPlace;
  destination?: LaunchPlace;
}

export type ParsedLaunchEvent = { event: LaunchEvent } | { problem: string };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The event in `text`, or what is wrong with it (said so that someone reading a log can find the sender). */
export function parseLaunchEvent(text: string): ParsedLaunchEvent {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { problem: `not JSON (${(error as Error).message}): a launch event is EventBridge's JSON of "${LAUNCH_EVENT_DETAIL_TYPE}"` };
  }
  if (!isRecord(value)) return { problem: 'not a JSON object: a launch event is an EventBridge event object' };
  if (value.source !== LAUNCH_EVENT_SOURCE || value['detail-type'] !== LAUNCH_EVENT_DETAIL_TYPE) {
    return {
      problem: `source ${JSON.stringify(value.source)} and detail-type ${JSON.stringify(value['detail-type'])}: only `
        + `"${LAUNCH_EVENT_SOURCE}" "${LAUNCH_EVENT_DETAIL_TYPE}" events belong on this queue (check the EventBridge rule's pattern)`,
    };
  }
  const detail = value.detail;
  if (!isRecord(detail)) return { problem: 'the event has no detail object' };
  const group = detail.AutoScalingGroupName;
  if (typeof group !== 'string' || group.length === 0) return { problem: 'detail.AutoScalingGroupName is missing' };
  const instanceId = detail.EC2InstanceId;
  if (typeof instanceId !== 'string' || !PATTERNS.instanceId.test(instanceId)) {
    return { problem: `detail.EC2InstanceId ${JSON.stringify(instanceId)} is not an instance id (like i-0123456789abcdef0)` };
  }
  if (detail.LifecycleTransition !== undefined && detail.LifecycleTransition !== LAUNCHING) {
    return { problem: `detail.LifecycleTransition ${JSON.stringify(detail.LifecycleTransition)} is not ${LAUNCHING}` };
  }
  const event: LaunchEvent = { autoScalingGroupName: group, instanceId };
  for (const [key, field] of [['origin', 'Origin'], ['destination', 'Destination']] as const) {
    const place = detail[field];
    if (place === undefined) continue;
    if (typeof place !== 'string' || !PLACES.includes(place)) {
      return { problem: `detail.${field} ${JSON.stringify(place)} is not one of ${PLACES.join(', ')}` };
    }
    event[key] = place as LaunchPlace;
  }
  return { event };
}

/** The event as EventBridge would send it (the local fleet writes these, and tests send them). */
export function launchEventJson(event: LaunchEvent, timeIso: string): string {
  return JSON.stringify({
    version: '0',
    'detail-type': LAUNCH_EVENT_DETAIL_TYPE,
    source: LAUNCH_EVENT_SOURCE,
    time: timeIso,
    detail: {
      AutoScalingGroupName: event.autoScalingGroupName,
      EC2InstanceId: event.instanceId,
      LifecycleTransition: LAUNCHING,
      ...(event.origin ? { Origin: event.origin } : {}),
      ...(event.destination ? { Destination: event.destination } : {}),
    },
  });
}
