import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';

export interface NotifyingAlarmProps extends Omit<cloudwatch.AlarmProps, 'evaluationPeriods' | 'treatMissingData'> {
  /** Where the alarm's notifications go (when it goes into alarm). */
  readonly topic: sns.ITopic;
  /**
   * Periods the alarm looks back over.
   * @default 1
   */
  readonly evaluationPeriods?: number;
  /**
   * A period without data: a night that did not run has no errors and no duration.
   * @default cloudwatch.TreatMissingData.NOT_BREACHING
   */
  readonly treatMissingData?: cloudwatch.TreatMissingData;
}

/** An alarm that notifies the alarm topic. An Alarm itself, so that its logical id stays where it was. */
export class NotifyingAlarm extends cloudwatch.Alarm {
  constructor(scope: Construct, id: string, props: NotifyingAlarmProps) {
    const { topic, ...alarm } = props;
    super(scope, id, { evaluationPeriods: 1, treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING, ...alarm });
    this.addAlarmAction(new SnsAction(topic));
  }
}
