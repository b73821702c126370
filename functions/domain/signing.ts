/**
 * Signed callback URLs. Each user's URL carries the user id, the signing key id and
 * sig = base64url(HMAC-SHA256(key, "zoom-token-callback:v1:<kid>:<user_id>")).
 * The key id lets a new key sign new URLs while URLs signed with an older key keep working
 * until that key is removed from the keyring.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { InvalidSignatureError } from './errors';
import type { SigningKeyring } from './ports';

/** Safe user ids: they travel in URLs and DynamoDB keys unescaped. ':' never occurs, so the signed string is unambiguous. */
export const USER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const KEY_ID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;
/** 32 bytes of HMAC-SHA256 in unpadded base64url. */
const SIGNATURE_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export function isValidUserId(userId: string): boolean {
  return USER_ID_PATTERN.test(userId);
}

function signature(key: Uint8Array, keyId: string, userId: string): Buffer {
  return createHmac('sha256', key).update(`zoom-token-callback:v1:${keyId}:${userId}`).digest();
}

/** The callback URL for a user (`callbackUrl`: the route's URL, no query), signed with the keyring's active key. */
export function signCallbackUrl(callbackUrl: string, userId: string, keyring: SigningKeyring): URL {
  // Callers validate user ids first; these are programming or configuration errors.
  if (!isValidUserId(userId)) throw new Error('user id outside the safe pattern');
  const key = keyring.key(keyring.activeKeyId);
  if (!key) throw new Error('active signing key missing from the keyring');
  const url = new URL(callbackUrl);
  url.searchParams.set('user_id', userId);
  url.searchParams.set('kid', keyring.activeKeyId);
  url.searchParams.set('sig', signature(key, keyring.activeKeyId, userId).toString('base64url'));
  return url;
}

export interface CallbackParameters {
  userId: string;
  keyId: string;
  signature: string;
}

/**
 * Verifies a callback's parameters in constant time and returns the user id.
 * Every failure throws the same InvalidSignatureError, so answers reveal nothing.
 */
export function verifyCallbackSignature(params: CallbackParameters, keyring: SigningKeyring): string {
  const { userId, keyId, signature: given } = params;
  if (!USER_ID_PATTERN.test(userId) || !KEY_ID_PATTERN.test(keyId) || !SIGNATURE_PATTERN.test(given)) {
    throw new InvalidSignatureError('malformed callback parameters');
  }
  const key = keyring.key(keyId);
  if (!key) throw new InvalidSignatureError('unknown or retired signing key');
  const expected = signature(key, keyId, userId);
  const actual = Buffer.from(given, 'base64url');
  // Lengths are equal by the pattern check; timingSafeEqual still needs equal lengths.
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
    throw new InvalidSignatureError('signature mismatch');
  }
  return userId;
}

/** Parses the signing-key secret: {"active": "<kid>", "<kid>": "<key material>", ...}. */
export function parseKeyring(secretString: string): SigningKeyring {
  let parsed: unknown;
  try {
    parsed = JSON.parse(secretString);
  } catch {
    throw new Error('signing key secret is not JSON');
  }
  if (!parsed || typeof parsed !== 'object') throw new Error('signing key secret is not a JSON object');
  const { active, ...rest } = parsed as Record<string, unknown>;
  const keys = new Map<string, Uint8Array>();
  for (const [kid, material] of Object.entries(rest)) {
    if (!KEY_ID_PATTERN.test(kid)) throw new Error(`signing key id "${kid}" is outside ${KEY_ID_PATTERN}`);
    if (typeof material !== 'string' || material.length < 32) {
      throw new Error(`signing key "${kid}" must be a string of at least 32 characters`);
    }
    keys.set(kid, Buffer.from(material, 'utf8'));
  }
  if (typeof active !== 'string' || !keys.has(active)) {
    throw new Error('signing key secret must name its "active" key id, and hold that key');
  }
  return { activeKeyId: active, key: (kid) => keys.get(kid) };
}
