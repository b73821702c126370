/**
 * A synthesized bundle run as Lambda runs it: found from the template (the function's asset
 * metadata and its Handler property, so any bundling mechanics that produce a Lambda asset work),
 * started in a child Node process (test/aws/bundle-runner.mjs) with exactly the environment the
 * template sets, plus what the Lambda runtime adds, and invoked with events.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { functionAccessKeyId } from '../../local/aws-requests';
import { FAKE_ACCOUNT, FAKE_REGION } from './iam-requests';
import type { DeployedFunction } from './template';

/** Where the AWS SDK in a bundle sends each service's requests (the SDK's own AWS_ENDPOINT_URL_* variables). */
export interface AwsEndpoints {
  dynamodb: string;
  kms: string;
  sqs: string;
  secretsManager: string;
  eventBridge: string;
}

/**
 * The module file and export the Handler names, as Lambda's Node.js runtime resolves them:
 * `dir/index.handler` → `<task root>/dir/index` + `.js`, `.mjs` or `.cjs`, export `handler`.
 */
export function handlerModule(fn: DeployedFunction): { file: string; exportName: string } {
  if (!fn.assetDir) throw new Error(`${fn.name}: the template has no asset metadata for its code`);
  const dot = fn.handler.lastIndexOf('.');
  const [modulePath, exportName] = [fn.handler.slice(0, dot), fn.handler.slice(dot + 1)];
  const file = ['.js', '.mjs', '.cjs'].map((extension) => join(fn.assetDir!, `${modulePath}${extension}`)).find(existsSync);
  if (!file) throw new Error(`${fn.name}: no module ${modulePath}.{js,mjs,cjs} in ${fn.assetDir} for Handler ${fn.handler}`);
  return { file, exportName };
}

/**
 * The variables the Lambda runtime sets for every function (credentials: the function's own
 * access key id, so its calls are known as its own).
 */
function runtimeVariables(fn: DeployedFunction): Record<string, string> {
  return {
    AWS_REGION: FAKE_REGION,
    AWS_DEFAULT_REGION: FAKE_REGION,
    AWS_ACCESS_KEY_ID: functionAccessKeyId(fn.name),
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_SESSION_TOKEN: 'local-session',
    AWS_LAMBDA_FUNCTION_NAME: fn.logicalId,
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memorySize),
    AWS_LAMBDA_LOG_GROUP_NAME: fn.logGroupName,
    AWS_LAMBDA_LOG_STREAM_NAME: '2026/01/01/[$LATEST]0123456789abcdef',
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
    LAMBDA_TASK_ROOT: fn.assetDir ?? '',
    _HANDLER: fn.handler,
    TZ: ':UTC',
    ...(fn.tracing ? { AWS_XRAY_CONTEXT_MISSING: 'LOG_ERROR', AWS_XRAY_DAEMON_ADDRESS: '127.0.0.1:2000' } : {}),
    // Lambda runs Node.js 22; this machine may run 20, which the SDK's releases warn about.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}

/**
 * The function's environment: the template's, the runtime's, the AWS endpoints, and the
 * endpoints that are not AWS's (Recall, Zoom, the API's own URL), pointed at the local fakes
 * and gateway; those replace a template value, never add one.
 */
export function lambdaEnvironment(fn: DeployedFunction, aws: AwsEndpoints, thirdParty: Record<string, string>): Record<string, string> {
  const replaced = Object.fromEntries(Object.entries(thirdParty).filter(([name]) => name in fn.environment));
  return {
    ...runtimeVariables(fn),
    AWS_ENDPOINT_URL_DYNAMODB: aws.dynamodb,
    AWS_ENDPOINT_URL_KMS: aws.kms,
    AWS_ENDPOINT_URL_SQS: aws.sqs,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: aws.secretsManager,
    AWS_ENDPOINT_URL_EVENTBRIDGE: aws.eventBridge,
    ...fn.environment,
    ...replaced,
  };
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/** One warm container of a function: a child process that keeps its module (and its caches) between invocations. */
export class FunctionContainer {
  private readonly pending = new Map<string, Pending>();
  private output = '';

  private constructor(
    readonly fn: DeployedFunction,
    private readonly child: ChildProcess,
  ) {
    child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString('utf8')));
    child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString('utf8')));
    child.on('message', (message: { id: string; result?: unknown; error?: { name: string; message: string } }) => {
      const pending = this.pending.get(message.id);
      if (!pending) return;
      this.pending.delete(message.id);
      clearTimeout(pending.timer);
      if (message.error)
        pending.reject(
          Object.assign(new Error(`${fn.name}: ${message.error.name}: ${message.error.message}`), { name: message.error.name }),
        );
      else pending.resolve(message.result);
    });
    child.on('exit', (code) => {
      for (const [id, pending] of this.pending) {
        clearTimeout(pending.timer);
        pending.reject(new Error(`${fn.name}: the container exited (${code}) during an invocation:\n${this.output}`));
        this.pending.delete(id);
      }
    });
  }

  /** Starts the container and waits for its cold start (the module's import) to finish. */
  static async start(fn: DeployedFunction, env: Record<string, string>): Promise<FunctionContainer> {
    const { file, exportName } = handlerModule(fn);
    const child = fork(join(__dirname, 'bundle-runner.mjs'), [file, exportName], {
      env,
      cwd: fn.assetDir,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      execArgv: [],
    });
    const container = new FunctionContainer(fn, child);
    await new Promise<void>((resolve, reject) => {
      child.once('message', (message: { ready?: boolean; initError?: { message: string } }) =>
        message.ready ? resolve() : reject(new Error(`${fn.name}: cold start failed: ${message.initError?.message}\n${container.output}`)),
      );
      child.once('exit', (code) => reject(new Error(`${fn.name}: the container exited (${code}) at cold start:\n${container.output}`)));
    });
    return container;
  }

  /** One invocation, bounded by the function's timeout as Lambda bounds it. */
  invoke<T = unknown>(event: unknown): Promise<T> {
    const id = randomUUID();
    const timeoutMs = this.fn.timeoutSeconds * 1000;
    const context = {
      functionName: this.fn.logicalId,
      functionVersion: '$LATEST',
      invokedFunctionArn: `arn:aws:lambda:${FAKE_REGION}:${FAKE_ACCOUNT}:function:${this.fn.logicalId}`,
      memoryLimitInMB: String(this.fn.memorySize),
      awsRequestId: id,
      logGroupName: this.fn.logGroupName,
      logStreamName: '2026/01/01/[$LATEST]0123456789abcdef',
      deadline: Date.now() + timeoutMs,
    };
    const traceId = this.fn.tracing
      ? `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomUUID().replace(/-/g, '').slice(0, 24)};Parent=${randomUUID().replace(/-/g, '').slice(0, 16)};Sampled=1`
      : undefined;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.fn.name}: timed out after ${timeoutMs} ms`));
      }, timeoutMs + 1_000);
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer });
      this.child.send({ id, event, context, traceId });
    });
  }

  /** What the function wrote to stdout and stderr (its log lines). */
  logs(): string {
    return this.output;
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill();
    await exited;
  }
}
