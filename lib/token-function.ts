import * as path from 'node:path';
import { Duration } from 'aws-cdk-lib';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/** Where the Lambda handlers live, relative to the project root. */
const HANDLERS_DIR = path.join(__dirname, '..', 'functions', 'lambda');

export interface TokenFunctionProps {
  /** Powertools service name: the `service` key in every log line and metric dimension. */
  readonly serviceName: string;
  /** Lambda entry under functions/lambda, without extension: 'callback' → functions/lambda/callback.ts. */
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
        POWERTOOLS_SERVICE_NAME: props.serviceName,
        ...props.environment,
      },
      // One log group per function, so retention is ours rather than "never expire".
      logGroup: new LogGroup(scope, `${id}LogGroup`, {
        retention: RetentionDays.ONE_MONTH,
      }),
      bundling: {
        format: OutputFormat.ESM,
        minify: true,
        // Minifying renames classes; keep their names so logged error names stay readable.
        keepNames: true,
        sourceMap: true,
        // Stack traces map to file:line without shipping the sources in the zip.
        sourcesContent: false,
        target: 'node22',
        mainFields: ['module', 'main'],
        // Bundled CommonJS dependencies still call require(); ESM has none, so provide one.
        banner: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
        // Bundle the AWS SDK too (the default leaves it to the runtime), so the
        // deployed code runs the SDK version the tests ran against.
        externalModules: [],
      },
    });
  }
}
