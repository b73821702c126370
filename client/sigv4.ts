/**
 * SigV4 for the admin API in AWS (IAM authorization on the HTTP API): the AWS SDK's own signer,
 * service `execute-api`, credentials from the caller or the SDK's default chain (environment,
 * shared config/SSO, web identity, container and instance roles).
 */
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@smithy/core/checksum';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';

export type Credentials = AwsCredentialIdentity | AwsCredentialIdentityProvider;

export interface SignableRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: string;
}

/** Returns the headers to send: the given ones plus `authorization`, `x-amz-date`, `x-amz-security-token`, … */
export type RequestSigner = (request: SignableRequest) => Promise<Record<string, string>>;

export interface SigV4Options {
  region: string;
  credentials?: Credentials;
  /** Fixed signing time (tests). */
  signingDate?: () => Date;
}

export function sigV4Signer(options: SigV4Options): RequestSigner {
  let credentials = options.credentials;
  const signer = new SignatureV4({
    service: 'execute-api',
    region: options.region,
    sha256: Sha256,
    // Resolved on first use: a client made for bearer auth, or never used, never loads the chain.
    credentials: async () => {
      if (credentials === undefined) {
        const { defaultProvider } = await import('@aws-sdk/credential-provider-node');
        credentials = defaultProvider();
      }
      return typeof credentials === 'function' ? credentials() : credentials;
    },
  });
  return async ({ method, url, headers, body }) => {
    const query: Record<string, string | string[]> = {};
    for (const [name, value] of url.searchParams) {
      const previous = query[name];
      query[name] = previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value];
    }
    const signed = await signer.sign(
      {
        method,
        protocol: url.protocol,
        hostname: url.hostname,
        port: url.port ? Number(url.port) : undefined,
        path: url.pathname,
        query,
        // `host` is signed; fetch sends the same value (url.host) itself.
        headers: { ...headers, host: url.host },
        body,
      },
      options.signingDate ? { signingDate: options.signingDate() } : undefined,
    );
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(signed.headers)) if (name.toLowerCase() !== 'host') out[name] = value;
    return out;
  };
}
