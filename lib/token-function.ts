import type { Duration } from 'aws-cdk-lib';
import { Architecture, Code, Function as LambdaFunction, LoggingFormat, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import type { CfnRole } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { BUNDLING, ENV, METRICS_NAMESPACE, SERVICE_NAME } from '../functions/contract';
import { handlerBundleDir } from './handler-bundles';
import { acknowledge } from './nag';

export interface TokenFunctionProps {
  /** Powertools service name: the `service` key in every log line and metric dimension. @default 'zoom-token-vault' */
  readonly serviceName?: string;
  /** The Lambda entry, without extension: 'callback' → functions/lambda/callback.ts, prebuilt by scripts/build-handlers.ts. */
  readonly entry: string;
  readonly description?: string;
  readonly environment?: Record<string, string>;
  readonly timeout: Duration;
  readonly memorySize: number;
  /** @default - unreserved (shares the account pool) */
  readonly reservedConcurrentExecutions?: number;
  /** X-Ray active tracing, and the Powertools Tracer in the handler (POWERTOOLS_TRACE_ENABLED): the bundle built with it. @default false */
  readonly tracing?: boolean;
}

/** Read by the composition roots: the Powertools Tracer records only when this is 'true'. */
export const TRACE_ENABLED_ENV = 'POWERTOOLS_TRACE_ENABLED';

/**
 * A Lambda function for one of the vault's handlers.
 *
 * The single place that fixes runtime, architecture, code and logging, so the functions cannot
 * drift apart. The code is the entry's prebuilt bundle (lib/handler-bundles.ts): without the
 * Powertools Tracer, or with it when tracing is on.
 */
export class TokenFunction extends LambdaFunction {
  constructor(scope: Construct, id: string, props: TokenFunctionProps) {
    const logGroup = new LogGroup(scope, `${id}LogGroup`, {
      retention: RetentionDays.ONE_MONTH,
    });
    super(scope, id, {
      code: Code.fromAsset(handlerBundleDir(props.entry, props.tracing ? 'traced' : 'plain')),
      handler: 'index.handler',
      description: props.description,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      timeout: props.timeout,
      memorySize: props.memorySize,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      // Off: no X-Ray permissions and no traces (Lambda's PassThrough still forwards a caller's trace header).
      tracing: props.tracing ? Tracing.ACTIVE : undefined,
      // Powertools already writes JSON lines; Lambda's own lines (START, REPORT, platform
      // errors) become JSON too, so one Logs Insights query reads both.
      loggingFormat: LoggingFormat.JSON,
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        [ENV.serviceName]: props.serviceName ?? SERVICE_NAME,
        [ENV.metricsNamespace]: METRICS_NAMESPACE,
        [TRACE_ENABLED_ENV]: String(props.tracing ?? false),
        ...props.environment,
      },
      // One log group per function, so retention is ours rather than "never expire".
      logGroup,
    });
    // AWSLambdaBasicExecutionRole lets a function write to every log group in the account; this
    // one writes to its own only.
    (this.role!.node.defaultChild as CfnRole).managedPolicyArns = undefined;
    logGroup.grantWrite(this);
    acknowledge(
      this,
      'AwsSolutions-L1',
      `${BUNDLING.target} is the bundle target the contract fixes for every function (and bench/ ` +
        'measures); the runtime follows it in a change of its own, after Node 24 has been tested.',
    );
    acknowledge(this, 'Serverless-LambdaLatestVersion', `Node.js 22 on purpose: see AwsSolutions-L1 (bundle target ${BUNDLING.target}).`);
    if (props.tracing) {
      acknowledge(
        this,
        'AwsSolutions-IAM5[Resource::*]',
        'xray:PutTraceSegments and xray:PutTelemetryRecords, added by ' +
          'active tracing: X-Ray has no resource to scope them to. Every other statement names its resource.',
      );
    } else {
      acknowledge(
        this,
        'Serverless-LambdaTracing',
        'X-Ray is off unless the `tracing` setting turns it on: beyond 100,000 ' +
          'traces a month it costs $5 a million, and the refresh workers alone run ~10 million times a month per 100,000 users.',
      );
    }
  }
}
