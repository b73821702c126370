/**
 * Recall's own signature on the requests it sends (Standard Webhooks), token callbacks included,
 * once the customer creates a workspace verification secret in Recall's dashboard:
 *
 *   webhook-id: <message id>   webhook-timestamp: <Unix seconds>
 *   webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")> [v1,<…> …]
 *
 * The body is empty for a GET. A secret is written `whsec_<base64>`; the key is the decoded
 * base64 part. While Recall rotates its secret, several signatures may come, and the vault may
 * hold several secrets (old and new): any v1 signature matching any key verifies.
 *
 * A few lines of node:crypto rather than the `standardwebhooks` package: that one reads the
 * time from Date.now (no injected clock), takes one secret per instance, and computes SHA-256 in
 * JavaScript (~12 KB more in the callback's bundle).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { RecallSignatureMode } from '../contract';
import { TIMING } from './timing';

/** The three headers as the request carried them (undefined when absent). */
export interface RecallSignatureHeaders {
  id?: string;
  timestamp?: string;
  signature?: string;
}

/**
 * The configured secrets, parsed: the keys, or why there are none. `placeholder`: no `whsec_`
 * value at all (the stack's generated placeholder, or nothing put yet); `malformed`: a value
 * that is not `whsec_` and canonical base64 of at least 16 bytes.
 */
export type RecallVerificationKeys = { keys: readonly Uint8Array[] } | { unusable: 'placeholder' | 'malformed' };

/**
 * Why a request carries no valid Recall signature (logged and counted; never a header's value):
 * `missing` (none of the headers: Recall does not sign, or the caller is not Recall),
 * `malformed`, `stale` (timestamp more than 5 minutes off), `mismatch` (no signature matches a
 * configured secret), `secret_placeholder` / `secret_malformed` (nothing to check against).
 */
export type RecallSignatureProblem = 'missing' | 'malformed' | 'stale' | 'mismatch' | 'secret_placeholder' | 'secret_malformed';

/** The check's setting and its keys (read through the port, cached by the adapter). */
export interface RecallSignatureSettings {
  mode: RecallSignatureMode;
  /** The cached keys; `fresh`: read again now (rate-limited), for a signature they do not match. */
  keys(options?: { fresh?: boolean }): Promise<RecallVerificationKeys>;
}

/** Problems a fresher read of the secret may solve: a value put or rotated since it was cached. */
export function mayBeStaleSecret(problem: RecallSignatureProblem | undefined): boolean {
  return problem === 'mismatch' || problem === 'secret_placeholder' || problem === 'secret_malformed';
}

const SECRET_PATTERN = /^whsec_([A-Za-z0-9+/]+={0,2})$/;
/** Visible ASCII, no spaces: what an id can be; bounded so a request cannot make us hash megabytes. */
const ID_PATTERN = /^[\x21-\x7e]{1,256}$/;
/** Unix seconds, one spelling per instant. */
const TIMESTAMP_PATTERN = /^[1-9][0-9]{0,11}$/;
/** 32 bytes of HMAC-SHA256 in standard, padded base64. */
const V1_SIGNATURE_PATTERN = /^v1,([A-Za-z0-9+/]{43}=)$/;
/** Longer headers are refused unread: a rotation carries two or three signatures. */
const MAX_SIGNATURE_HEADER_LENGTH = 1024;
const MIN_KEY_BYTES = 16;

/** Parses the setting: one or more `whsec_<base64>` values separated by whitespace. */
export function parseRecallVerificationSecrets(value: string): RecallVerificationKeys {
  const values = value.split(/\s+/).filter((entry) => entry !== '');
  if (!values.some((entry) => entry.startsWith('whsec_'))) return { unusable: 'placeholder' };
  const keys: Uint8Array[] = [];
  for (const entry of values) {
    const encoded = SECRET_PATTERN.exec(entry)?.[1];
    const key = encoded === undefined ? undefined : Buffer.from(encoded, 'base64');
    // Canonical only: a truncated or mistyped value fails here, not silently on every request.
    if (!key || key.length < MIN_KEY_BYTES || key.toString('base64').replace(/=+$/, '') !== encoded!.replace(/=+$/, '')) {
      return { unusable: 'malformed' };
    }
    keys.push(key);
  }
  return { keys };
}

/** The v1 signatures of the header, decoded; undefined when it holds none well-formed. */
function v1Signatures(header: string): Buffer[] | undefined {
  if (header.length > MAX_SIGNATURE_HEADER_LENGTH) return undefined;
  // Other versions (v1a: asymmetric) are skipped, as Standard Webhooks says.
  const given = header
    .split(' ')
    .map((entry) => V1_SIGNATURE_PATTERN.exec(entry)?.[1])
    .filter((encoded): encoded is string => encoded !== undefined)
    .map((encoded) => Buffer.from(encoded, 'base64'));
  return given.length > 0 ? given : undefined;
}

/**
 * Whether a request carries Recall's valid signature over `body` at `now` (ms): undefined when
 * it does, else why not. The timestamp may be off by 5 minutes either way; signatures are
 * compared in constant time.
 */
export function recallSignatureProblem(
  headers: RecallSignatureHeaders,
  body: string,
  secrets: RecallVerificationKeys,
  now: number,
): RecallSignatureProblem | undefined {
  if ('unusable' in secrets) return secrets.unusable === 'placeholder' ? 'secret_placeholder' : 'secret_malformed';
  const { id, timestamp, signature } = headers;
  if (id === undefined && timestamp === undefined && signature === undefined) return 'missing';
  if (id === undefined || timestamp === undefined || signature === undefined) return 'malformed';
  if (!ID_PATTERN.test(id) || !TIMESTAMP_PATTERN.test(timestamp)) return 'malformed';
  const given = v1Signatures(signature);
  if (!given) return 'malformed';
  if (Math.abs(now - Number(timestamp) * 1000) > TIMING.recallSignatureToleranceMs) return 'stale';
  const signed = `${id}.${timestamp}.${body}`;
  for (const key of secrets.keys) {
    const expected = createHmac('sha256', key).update(signed).digest();
    if (given.some((candidate) => timingSafeEqual(candidate, expected))) return undefined;
  }
  return 'mismatch';
}
