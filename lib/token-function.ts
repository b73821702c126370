import * as path from 'node:path';
import { Duration } from 'aws-cdk-lib';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { BundlingOptions, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { BUNDLING, ENV, METRICS_NAMESPACE, SERVICE_NAME } from '../functions/contract';

/** Where the Lambda handlers live, relative to the project root. */
const HANDLERS_DIR = path.join(__dirname, '..', 'functions', 'lambda');

/** The contract's esbuild options (shared with bench/, so the measured bundle is the deployed one) in NodejsFunction's terms. */
const TOKEN_FUNCTION_BUNDLING: BundlingOptions = {
  format: { esm: OutputFormat.ESM, cjs: OutputFormat.CJS }[BUNDLING.format],
  target: BUNDLING.target,
  minify: BUNDLING.minify,
  keepNames: BUNDLING.keepNames,
  sourceMap: BUNDLING.sourceMap,
  sourcesContent: BUNDLING.sourcesContent,
  mainFields: [...BUNDLING.mainFields],
  banner: BUNDLING.banner,
  // Bundle the AWS SDK too (the default leaves it to the runtime), so the
  // deployed code runs the SDK version the tests ran against.
  externalModules: [],
};

export interface TokenFunctionProps {
  /** Powertools service name: the `service` key in every log line and metric dimension. @default 'zoom-token-vault' */
  readonly serviceName?: string;
  /** Handler module under functions/handlers, without extension: 'callback' → functions/handlers/callback.ts. */
  readonly entry: string;
  readonly description?: string;
  readonly environment?: Record<string, string>;
  readonly timeout: Duration;
  readonly memorySize: number;
  /** @default - unreserved (shares the account pool) */
  readonly reservedConcurrentExecutions?: number;
}

/**
 * A Lambda function for one of the vault's handlers.
 *
 * The single place that fixes runtime, architecture, bundling and logging, so
 * the three functions cannot drift apart.
 */
export class TokenFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: TokenFunctionProps) {
    super(scope, id, {
      entry: path.join(HANDLERS_DIR, `${props.entry}.ts`),
      handler: 'handler',
      description: props.description,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      timeout: props.timeout,
      memorySize: props.memorySize,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        [ENV.serviceName]: props.serviceName ?? SERVICE_NAME,
        [ENV.metricsNamespace]: METRICS_NAMESPACE,
        ...props.environment,
      },
      // One log group per function, so retention is ours rather than "never expire".
      logGroup: new LogGroup(scope, `${id}LogGroup`, {
        retention: RetentionDays.ONE_MONTH,
      }),
      bundling: TOKEN_FUNCTION_BUNDLING,
    });
  }
}
