/**
 * Which service the CLI talks to, and where that service's signing keys live:
 * - `--stack <name> [--region]`: the deployed stack; its outputs give the API URL (`ApiUrl`, called
 *   with SigV4 and the default credential chain) and the keys (`SigningKeysSecretArn`).
 * - `--url <base> --token <bearer>` (or ZOOM_TOKEN_VAULT_URL, ZOOM_TOKEN_VAULT_ADMIN_TOKEN):
 *   a local runtime, keys in `--data-dir` (DATA_DIR, `./.data`). `--url … --sigv4 --region …`
 *   signs instead (a deployed API found by URL; rotation then needs `--signing-keys-secret`).
 * - nothing: the local runtime at http://127.0.0.1:3000 (PORT), token from DATA_DIR/admin-token.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ZoomTokenVaultClient } from 'zoom-token-vault-client';
import { FileKeyStore, FileStateStore, SecretsManagerKeyStore } from './key-stores';
import type { KeyStore, StateStore } from './rotation';

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A stack's outputs by key. Behind an interface: the CloudFormation SDK package is optional. */
export interface StackOutputsLookup {
  outputs(stackName: string, region: string): Promise<Record<string, string>>;
}

const CLOUDFORMATION_PACKAGE: string = '@aws-sdk/client-cloudformation';

/** DescribeStacks through @aws-sdk/client-cloudformation, loaded only when `--stack` is used. */
export const cloudFormationOutputs: StackOutputsLookup = {
  async outputs(stackName, region) {
    // biome-ignore lint/suspicious/noExplicitAny: an optional package, loaded by name only when --stack is used
    let sdk: any;
    try {
      sdk = await import(CLOUDFORMATION_PACKAGE);
    } catch {
      throw new UsageError(
        `--stack needs the package ${CLOUDFORMATION_PACKAGE} (npm install ${CLOUDFORMATION_PACKAGE}); or pass --url <ApiUrl> --sigv4 --region <region>`,
      );
    }
    const client = new sdk.CloudFormationClient({ region });
    const answer = await client.send(new sdk.DescribeStacksCommand({ StackName: stackName }));
    const stack = answer.Stacks?.[0];
    if (!stack) throw new UsageError(`no stack ${stackName} in ${region}`);
    const outputs: Record<string, string> = {};
    for (const output of stack.Outputs ?? []) if (output.OutputKey && output.OutputValue) outputs[output.OutputKey] = output.OutputValue;
    return outputs;
  },
};

export interface ConnectionOptions {
  url?: string;
  token?: string;
  stack?: string;
  region?: string;
  sigv4?: boolean;
  'data-dir'?: string;
  'signing-keys-secret'?: string;
  'state-file'?: string;
}

export interface Target {
  /** For messages: where we are talking to. */
  description: string;
  client: ZoomTokenVaultClient;
  /** The signing keys (needed by rotate-signing-key only, so resolved lazily). */
  keyStore(): KeyStore;
  stateStore(): StateStore;
}

export interface ConnectionDeps {
  env: Record<string, string | undefined>;
  cwd: string;
  fetch?: typeof fetch;
  stackOutputs?: StackOutputsLookup;
}

export async function resolveTarget(options: ConnectionOptions, deps: ConnectionDeps): Promise<Target> {
  const env = deps.env;
  const region = options.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (options.stack) return stackTarget(options.stack, options, region, deps);
  const url = options.url ?? env.ZOOM_TOKEN_VAULT_URL;
  if (options.sigv4) return sigv4Target(url, options, region, deps);
  return localTarget(url, options, deps);
}

function fetchOptionOf(deps: ConnectionDeps): { fetch?: typeof fetch } {
  return deps.fetch ? { fetch: deps.fetch } : {};
}

/** `--stack`: the URL and the keys' secret from the stack's outputs. */
async function stackTarget(stack: string, options: ConnectionOptions, region: string | undefined, deps: ConnectionDeps): Promise<Target> {
  if (options.url || options.token) throw new UsageError('--stack cannot be combined with --url or --token');
  if (!region) throw new UsageError('--stack needs --region (or AWS_REGION)');
  const outputs = await (deps.stackOutputs ?? cloudFormationOutputs).outputs(stack, region);
  if (!outputs.ApiUrl) throw new UsageError(`stack ${stack} has no ApiUrl output`);
  const secretId = options['signing-keys-secret'] ?? outputs.SigningKeysSecretArn;
  const stateFile = resolve(deps.cwd, options['state-file'] ?? `zoom-token-vault-rotation.${stack}.json`);
  return {
    description: `stack ${stack} (${outputs.ApiUrl})`,
    client: new ZoomTokenVaultClient({ baseUrl: outputs.ApiUrl, auth: { kind: 'sigv4', region }, ...fetchOptionOf(deps) }),
    keyStore: () => {
      if (!secretId) throw new UsageError(`stack ${stack} has no SigningKeysSecretArn output; pass --signing-keys-secret`);
      return new SecretsManagerKeyStore(secretId, region);
    },
    stateStore: () => new FileStateStore(stateFile),
  };
}

/** `--url … --sigv4`: a deployed API found by URL; the keys' secret only from --signing-keys-secret. */
function sigv4Target(url: string | undefined, options: ConnectionOptions, region: string | undefined, deps: ConnectionDeps): Target {
  if (!url) throw new UsageError('--sigv4 needs --url (the stack output ApiUrl)');
  if (!region) throw new UsageError('--sigv4 needs --region (or AWS_REGION)');
  const secretId = options['signing-keys-secret'];
  const stateFile = resolve(deps.cwd, options['state-file'] ?? 'zoom-token-vault-rotation.json');
  return {
    description: url,
    client: new ZoomTokenVaultClient({ baseUrl: url, auth: { kind: 'sigv4', region }, ...fetchOptionOf(deps) }),
    keyStore: () => {
      if (!secretId) throw new UsageError('with --sigv4, rotate-signing-key needs --signing-keys-secret <arn> (or use --stack)');
      return new SecretsManagerKeyStore(secretId, region);
    },
    stateStore: () => new FileStateStore(stateFile),
  };
}

/** A local runtime: bearer token, keys and rotation state in its data directory. */
async function localTarget(url: string | undefined, options: ConnectionOptions, deps: ConnectionDeps): Promise<Target> {
  const { env } = deps;
  const dataDir = resolve(deps.cwd, options['data-dir'] ?? env.DATA_DIR ?? '.data');
  const baseUrl = url ?? `http://127.0.0.1:${env.PORT?.trim() || 3000}`;
  // An empty token counts as none, as an unset one does.
  const token = (options.token ?? env.ZOOM_TOKEN_VAULT_ADMIN_TOKEN) || (await readAdminToken(dataDir));
  const stateFile = options['state-file'] ? resolve(deps.cwd, options['state-file']) : join(dataDir, 'rotation-state.json');
  return {
    description: baseUrl,
    client: new ZoomTokenVaultClient({ baseUrl, auth: { kind: 'bearer', token }, ...fetchOptionOf(deps) }),
    keyStore: () => new FileKeyStore(join(dataDir, 'signing-keys.json')),
    stateStore: () => new FileStateStore(stateFile),
  };
}

/** The token the local runtime writes at start. */
async function readAdminToken(dataDir: string): Promise<string> {
  const tokenFile = join(dataDir, 'admin-token');
  try {
    return (await readFile(tokenFile, 'utf8')).trim();
  } catch {
    throw new UsageError(
      `no admin token: pass --token, set ZOOM_TOKEN_VAULT_ADMIN_TOKEN, or start the local runtime (it writes ${tokenFile})`,
    );
  }
}
