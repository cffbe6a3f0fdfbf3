/**
 * Acknowledgements of cdk-nag findings that name a resource (AwsSolutions-IAM5 on a wildcard), so
 * that each acknowledges exactly the grant it is written for and a wildcard added later stays a
 * finding.
 */
import { Stack, Validations } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference.js';
import type { Construct } from 'constructs';

/**
 * Acknowledges cdk-nag's wildcard finding (AwsSolutions-IAM5) on each of these resources, and on no
 * other. cdk-nag names the finding by the resource as the stack resolves it, flattened by its own
 * `flattenCfnReference`: an ARN built by `formatArn` holds `<AWS::Region>`/`<AWS::AccountId>` while
 * the environment is unresolved but the literal region and account under the CDK CLI (and on every
 * deploy). Resolving the same ARN here names the finding as cdk-nag will, whichever the
 * environment. (`flattenCfnReference` is cdk-nag's own module, not re-exported by its index: should
 * an upgrade move it, this import fails rather than drift.)
 */
export function acknowledgeWildcards(scope: Construct, resources: string[], reason: string): void {
  for (const resource of resources) {
    Validations.of(scope).acknowledge({ id: `AwsSolutions-IAM5[Resource::${flattenCfnReference(Stack.of(scope).resolve(resource))}]`, reason });
  }
}

/** Objects under a prefix of a bucket (`arnForObjects`, as the grants write them). */
export function acknowledgeObjectWildcards(scope: Construct, reason: string, objects: [s3.IBucket, string][]): void {
  acknowledgeWildcards(scope, objects.map(([bucket, pattern]) => bucket.arnForObjects(pattern)), reason);
}

/** `grantInvoke` also allows the function's versions (`<arn>:*`): still that one function only. */
export function acknowledgeInvokeVersions(scope: Construct, target: lambda.IFunction, who: string): void {
  acknowledgeWildcards(scope, [`${target.functionArn}:*`], `${who} may invoke one function (any of its versions) and nothing else.`);
}
