/**
 * CloudWatch metrics the controller publishes (Embedded Metric Format log lines) and the stack alarms on.
 * One list for both sides, so a renamed metric cannot leave an alarm watching nothing.
 * Kept free of aws-cdk-lib imports: the controller imports this file at run time, where the CDK is not installed.
 */

export const METRIC_NAMESPACE = 'Fleetsync';

/** Published without dimensions: each value is aggregated over every fleet. */
export const METRICS = {
  /** gauge, emitted every pass by each fleet's leader: hosts in the failed bucket */
  failedHosts: { name: 'FailedHosts', unit: 'Count' },
  /** during a rollout, seconds since a host last reached the desired revision; 0 when no rollout runs */
  secondsSinceProgress: { name: 'SecondsSinceProgress', unit: 'Seconds' },
  /** emitted every pass by every controller task: fleets whose lease no live holder has */
  fleetsWithoutLeader: { name: 'FleetsWithoutLeader', unit: 'Count' },
} as const;

export type MetricKey = keyof typeof METRICS;
