/**
 * Secrets with Powertools Parameters: fetched from Secrets Manager on first use and cached
 * for a few minutes, so a warm function makes no Secrets Manager call and a rotated secret is
 * picked up without a redeploy.
 */
import { readFile } from 'node:fs/promises';
import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import type { SecretSource } from '../config';
import { parseKeyring } from '../domain/signing';
import type { SigningKeyProvider, SigningKeyring } from '../domain/ports';

const SECRET_MAX_AGE_SECONDS = 300;

/** Reads a secret string: the configured value itself, or Secrets Manager through the Powertools cache. */
export function secretReader(source: SecretSource): () => Promise<string> {
  if (source.kind === 'value') return async () => source.ref;
  return async () => {
    const value = await getSecret<string>(source.ref, { maxAge: SECRET_MAX_AGE_SECONDS });
    if (typeof value !== 'string' || value === '') throw new Error('secret has no string value');
    return value;
  };
}

/** Signing keys from Secrets Manager (AWS) or a JSON file in the data directory (local runtime). */
export function signingKeyProvider(source: { secretId: string } | { file: string }): SigningKeyProvider {
  const read = 'file' in source ? cachedFileReader(source.file) : secretReader({ kind: 'secrets-manager', ref: source.secretId });
  let parsed: { raw: string; keyring: SigningKeyring } | undefined;
  return {
    async keyring() {
      const raw = await read();
      // Parse once per secret version, not per request.
      if (parsed?.raw !== raw) parsed = { raw, keyring: parseKeyring(raw) };
      return parsed.keyring;
    },
  };
}

/** The local runtime's key file, re-read at most once a second so edits apply without a restart. */
function cachedFileReader(path: string, maxAgeMs = 1_000): () => Promise<string> {
  let cached: { value: Promise<string>; readAt: number } | undefined;
  return () => {
    const now = Date.now();
    if (!cached || now - cached.readAt > maxAgeMs) {
      cached = { value: readFile(path, 'utf8'), readAt: now };
      cached.value.catch(() => (cached = undefined));
    }
    return cached.value;
  };
}
