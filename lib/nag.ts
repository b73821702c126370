import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * Acknowledges one cdk-nag finding on `construct` (and what it contains), with the reason it is
 * accepted. Called in the file that builds the construct, next to it. cdk-nag 3 reads CDK's own
 * acknowledgements (Validations), which replaced its NagSuppressions.
 */
export function acknowledge(construct: IConstruct, id: string, reason: string): void {
  Validations.of(construct).acknowledge({ id, reason });
}
