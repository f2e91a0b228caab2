/**
 * Alarms on the metrics the controller publishes (deploy/infra/lib/metrics.ts). No controller at all publishes
 * nothing, so only the leader alarm treats missing data as breaching; the other two would otherwise alarm
 * whenever no fleet has a leader, which the leader alarm already says.
 */
import { Duration, aws_cloudwatch as cloudwatch, aws_cloudwatch_actions as actions, aws_sns as sns } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { METRICS, METRIC_NAMESPACE, type MetricKey } from './metrics.ts';

export interface FleetsyncAlarmsProps {
  stallAlarmSeconds: number;
  alarmTopicArn: string | undefined;
}

function metric(key: MetricKey, statistic: 'Maximum' | 'Minimum'): cloudwatch.Metric {
  // No unit filter: a unit mismatch between publisher and alarm would silently hide every datapoint.
  return new cloudwatch.Metric({ namespace: METRIC_NAMESPACE, metricName: METRICS[key].name, statistic, period: Duration.minutes(1) });
}

export class FleetsyncAlarms extends Construct {
  readonly failedHosts: cloudwatch.Alarm;
  readonly rolloutStalled: cloudwatch.Alarm;
  readonly noLeader: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: FleetsyncAlarmsProps) {
    super(scope, id);
    const atLeast = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD;
    this.failedHosts = new cloudwatch.Alarm(this, 'FailedHosts', {
      alarmDescription: 'fleetsync: at least one host failed to sync (fleetsync status shows which, and why)',
      metric: metric('failedHosts', 'Maximum'),
      threshold: 1,
      comparisonOperator: atLeast,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.rolloutStalled = new cloudwatch.Alarm(this, 'RolloutStalled', {
      alarmDescription: `fleetsync: a rollout has not brought a host to the desired revision for ${props.stallAlarmSeconds} s`,
      metric: metric('secondsSinceProgress', 'Maximum'),
      threshold: props.stallAlarmSeconds,
      comparisonOperator: atLeast,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.noLeader = new cloudwatch.Alarm(this, 'NoLeader', {
      alarmDescription: 'fleetsync: a fleet has had no leader for 3 minutes, or no controller task is running',
      metric: metric('fleetsWithoutLeader', 'Minimum'),
      threshold: 1,
      comparisonOperator: atLeast,
      evaluationPeriods: 3,
      datapointsToAlarm: 3,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
    if (props.alarmTopicArn !== undefined) {
      const action = new actions.SnsAction(sns.Topic.fromTopicArn(this, 'Topic', props.alarmTopicArn));
      for (const alarm of [this.failedHosts, this.rolloutStalled, this.noLeader]) {
        alarm.addAlarmAction(action);
        alarm.addOkAction(action);
      }
    }
  }
}
