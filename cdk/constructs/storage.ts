/**
 * The run bucket: every artifact of every run (configs, posteriors, counts, reports) under
 * `[<prefix>/]runs/<run>/…`, plus the Distributed Map's result manifests under `map-runs/`.
 * Private, TLS only, S3-managed encryption, versioned, server access logs to a second bucket.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib'
import * as s3 from 'aws-cdk-lib/aws-s3'
import { Construct } from 'constructs'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** Properties of {@link RunStorage}. */
export interface RunStorageProps {
  /**
   * Key prefix of the object store inside the bucket, without leading or trailing `/` (the
   * `prefix` of `s3://bucket/prefix`); runs live under `<prefix>/runs/`.
   *
   * @default '' - runs live under `runs/` at the bucket's root
   */
  readonly prefix?: string

  /**
   * Days after which a replaced or deleted object version is removed. Stages rewrite identical
   * bytes on retries, so old versions are only a safety net against mistakes, not history.
   *
   * @default 30
   */
  readonly noncurrentVersionDays?: number
}

/** Prefix of the Distributed Map's result manifests (outside `runs/`: Step Functions writes there, not the stages). */
export const MAP_RESULTS_PREFIX = 'map-runs'

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/** The run bucket and its access-log bucket. */
export class RunStorage extends Construct {
  /** Holds every run's objects. */
  readonly bucket: s3.Bucket
  /** Receives the run bucket's server access logs. */
  readonly logBucket: s3.Bucket
  /** Store prefix inside {@link bucket}: '' or `a/b` (no leading or trailing `/`). */
  readonly prefix: string
  /** Key pattern the stages may read and write, e.g. `runs/*` or `team/runs/*`. */
  readonly runsPattern: string
  /** Key pattern of the Distributed Map's result manifests, `map-runs/*`. */
  readonly mapResultsPattern: string

  constructor(scope: Construct, id: string, props: RunStorageProps = {}) {
    super(scope, id)
    this.prefix = props.prefix ?? ''
    this.runsPattern = `${this.prefix === '' ? '' : `${this.prefix}/`}runs/*`
    this.mapResultsPattern = `${MAP_RESULTS_PREFIX}/*`

    // The log bucket has the same guarantees; S3 delivers its logs through a bucket policy
    // (the stack enables @aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy), not ACLs.
    this.logBucket = new s3.Bucket(this, 'AccessLogs', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(365) }],
    })

    // RETAIN: results of long sweeps must survive `cdk destroy`; delete the bucket by hand.
    this.bucket = new s3.Bucket(this, 'Runs', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.logBucket,
      serverAccessLogsPrefix: 'runs-bucket/',
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        {
          id: 'bound-versions-and-uploads',
          noncurrentVersionExpiration: Duration.days(props.noncurrentVersionDays ?? 30),
          abortIncompleteMultipartUploadAfter: Duration.days(7),
        },
        // Map-run manifests are diagnostics of one execution; the results live under runs/.
        { id: 'expire-map-results', prefix: `${MAP_RESULTS_PREFIX}/`, expiration: Duration.days(30) },
      ],
    })
  }
}
