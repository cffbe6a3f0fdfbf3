import { RemovalPolicy } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';

/** A bucket's own settings; public access, encryption and TLS are not among them. */
export type PrivateBucketProps = Omit<s3.BucketProps, 'blockPublicAccess' | 'encryption' | 'enforceSSL' | 'publicReadAccess'>;

/**
 * A bucket nobody outside the account reads: public access blocked, SSE-S3, TLS only, and kept
 * when the stack is deleted (unless `removalPolicy` says otherwise).
 *
 * A Bucket itself (not a construct holding one), so that it keeps the logical id a bucket of the
 * same id had at the same place.
 */
export class PrivateBucket extends s3.Bucket {
  constructor(scope: Construct, id: string, props: PrivateBucketProps = {}) {
    super(scope, id, {
      removalPolicy: RemovalPolicy.RETAIN,
      ...props,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
    });
  }
}
