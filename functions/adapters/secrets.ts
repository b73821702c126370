/**
 * Secrets with Powertools Parameters: fetched from Secrets Manager on first use and cached
 * for a few minutes, so a warm function makes no Secrets Manager call and a rotated secret is
 * picked up without a redeploy.
 */
import { readFile } from 'node:fs/promises';
import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import type { SecretSource } from '../config';
import { TIMING } from '../domain/timing';
import { parseKeyring } from '../domain/signing';
import { parseRecallVerificationSecrets, type RecallVerificationKeys } from '../domain/recall-signature';
import type { SigningKeyProvider, SigningKeyring } from '../domain/ports';

/** How long a secret is cached (Powertools takes seconds). */
const SECRET_MAX_AGE_SECONDS = TIMING.secretMaxAgeMs / 1000;

type SecretRead = (options?: { forceFetch?: boolean }) => Promise<string>;

/** Reads a secret string: the configured value itself, or Secrets Manager through the Powertools cache. */
export function secretReader(source: SecretSource): SecretRead {
  if (source.kind === 'value') return async () => source.ref;
  return async (options) => {
    const value = await getSecret<string>(source.ref, { maxAge: SECRET_MAX_AGE_SECONDS, forceFetch: options?.forceFetch ?? false });
    if (typeof value !== 'string' || value === '') throw new Error('secret has no string value');
    return value;
  };
}

/**
 * Signing keys from Secrets Manager (AWS) or a JSON file in the data directory (local runtime).
 * A fresh read is granted at most once per `keyringRefreshMinIntervalMs`: a flood of URLs with
 * made-up key ids must not turn into a flood of Secrets Manager calls.
 */
export function signingKeyProvider(source: { secretId: string } | { file: string }, clock: () => number = Date.now): SigningKeyProvider {
  const read = 'file' in source ? cachedFileReader(source.file) : secretReader({ kind: 'secrets-manager', ref: source.secretId });
  let parsed: { raw: string; keyring: SigningKeyring } | undefined;
  let lastForcedAt = Number.NEGATIVE_INFINITY;
  return {
    async keyring(options) {
      const force = options?.fresh === true && clock() - lastForcedAt >= TIMING.keyringRefreshMinIntervalMs;
      if (force) lastForcedAt = clock();
      const raw = await read({ forceFetch: force });
      // Parse once per secret version, not per request.
      if (parsed?.raw !== raw) parsed = { raw, keyring: parseKeyring(raw) };
      return parsed.keyring;
    },
  };
}

/**
 * Recall's verification secret(s): the value itself (local runtime) or Secrets Manager through
 * the cache, parsed once per value read. A placeholder or a malformed value is a result, not an
 * error: the check then counts every request, and refuses them in enforce mode. A fresh read
 * (for a signature no cached secret matches: a value just put, a rotation) is granted at most
 * once per `keyringRefreshMinIntervalMs`, as for the signing keys.
 */
export function recallVerificationKeyReader(
  source: SecretSource,
  clock: () => number = Date.now,
): (options?: { fresh?: boolean }) => Promise<RecallVerificationKeys> {
  const read = secretReader(source);
  let parsed: { raw: string; keys: RecallVerificationKeys } | undefined;
  let lastForcedAt = Number.NEGATIVE_INFINITY;
  return async (options) => {
    const force = options?.fresh === true && clock() - lastForcedAt >= TIMING.keyringRefreshMinIntervalMs;
    if (force) lastForcedAt = clock();
    const raw = await read({ forceFetch: force });
    if (parsed?.raw !== raw) parsed = { raw, keys: parseRecallVerificationSecrets(raw) };
    return parsed.keys;
  };
}

/** The local runtime's key file, re-read at most once a second (or when forced) so edits apply without a restart. */
function cachedFileReader(path: string, maxAgeMs = 1_000): SecretRead {
  let cached: { value: Promise<string>; readAt: number } | undefined;
  return (options) => {
    const now = Date.now();
    if (!cached || options?.forceFetch || now - cached.readAt > maxAgeMs) {
      cached = { value: readFile(path, 'utf8'), readAt: now };
      cached.value.catch(() => (cached = undefined));
    }
    return cached.value;
  };
}
