/**
 * Signed URLs: one scheme, with a purpose per kind of URL, so no signature can be replayed
 * across kinds. Every URL carries the user id, the registration id, the signing key id and
 * sig = base64url(HMAC-SHA256(key, <signed string>)), where the signed string starts with its
 * purpose:
 *
 *   callback (the access token):  "zoom-token-callback:v2:<kid>:<user_id>:<reg>"
 *   bot tokens (obf, zak, join_token), which also name the meeting and the URL's expiry
 *   (Unix seconds): "zoom-bot-token:v1:<kind>:<kid>:<user_id>:<reg>:<meeting_id>:<exp>"
 *
 * The key id lets a new key sign new URLs while URLs signed with an older key keep working
 * until that key is removed from the keyring. The registration id ties a URL to one
 * registration: once the user is deleted, a new registration under the same user id gets a new
 * one, and the old URL never opens again.
 *
 * Callback URLs issued before registration ids existed (v1: no `reg`, the string without it)
 * still verify, for records from that time only (their registration id reads as
 * LEGACY_REGISTRATION_ID). Every field is checked against a pattern that admits one spelling
 * only and never a ':', so each signed string names exactly one URL.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { BotTokenKind } from '../contract';
import { InvalidSignatureError } from './errors';
import type { SigningKeyring } from './ports';
import { LEGACY_REGISTRATION_ID } from './token-record';

/** Safe user ids: they travel in URLs and DynamoDB keys unescaped. ':' never occurs, so the signed string is unambiguous. */
export const USER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const KEY_ID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;
/**
 * 32 bytes of HMAC-SHA256 in unpadded, canonical base64url: 43 characters carry 258 bits, so
 * the last one's two spare bits must be zero. Without that, four strings decode to the same
 * bytes and each URL would have four valid signatures.
 */
const SIGNATURE_PATTERN = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;
/** Registration ids: random UUIDs (the legacy marker also fits). */
const REGISTRATION_ID_PATTERN = /^[A-Za-z0-9-]{1,64}$/;
/** A Zoom meeting number: 9 to 12 digits, no leading zero (one spelling per number). */
export const MEETING_ID_PATTERN = /^[1-9][0-9]{8,11}$/;
/** A bot-token URL's expiry, Unix seconds, no leading zero. */
const EXPIRY_PATTERN = /^[1-9][0-9]{0,11}$/;

export function isValidUserId(userId: string): boolean {
  return USER_ID_PATTERN.test(userId);
}

/** What a signed URL is for: the access-token callback, or one kind of bot token. */
export type UrlPurpose = 'callback' | BotTokenKind;

/** Who a callback URL is for: the user and the registration it was issued to. */
export interface CallbackSubject {
  userId: string;
  registrationId: string;
}

/** Who and what a bot-token URL is for, and until when. */
export interface BotTokenSubject extends CallbackSubject {
  /** The Zoom meeting number. */
  meetingId: string;
  /** When the URL stops working, Unix seconds. */
  expiresAtSeconds: number;
}

/** The signed string of a URL: its purpose first, so a signature for one purpose is none for another. */
function signedString(purpose: UrlPurpose, keyId: string, subject: CallbackSubject | BotTokenSubject): string {
  const { userId, registrationId } = subject;
  if (purpose === 'callback') {
    return registrationId === LEGACY_REGISTRATION_ID
      ? `zoom-token-callback:v1:${keyId}:${userId}`
      : `zoom-token-callback:v2:${keyId}:${userId}:${registrationId}`;
  }
  const { meetingId, expiresAtSeconds } = subject as BotTokenSubject;
  return `zoom-bot-token:v1:${purpose}:${keyId}:${userId}:${registrationId}:${meetingId}:${expiresAtSeconds}`;
}

function signature(key: Uint8Array, purpose: UrlPurpose, keyId: string, subject: CallbackSubject | BotTokenSubject): Buffer {
  return createHmac('sha256', key)
    .update(signedString(purpose, keyId, subject))
    .digest();
}

/** The active key and its id; throws for a subject outside the safe patterns (a caller's bug). */
function signingKey(subject: CallbackSubject, keyring: SigningKeyring): { keyId: string; key: Uint8Array } {
  // Callers validate user ids first; these are programming or configuration errors.
  if (!isValidUserId(subject.userId)) throw new Error('user id outside the safe pattern');
  if (!REGISTRATION_ID_PATTERN.test(subject.registrationId)) throw new Error('registration id outside the safe pattern');
  const key = keyring.key(keyring.activeKeyId);
  if (!key) throw new Error('active signing key missing from the keyring');
  return { keyId: keyring.activeKeyId, key };
}

/** `given` against the HMAC of `expected`'s string, in constant time; throws InvalidSignatureError. */
function checkSignature(given: string, expected: Buffer): void {
  const actual = Buffer.from(given, 'base64url');
  // Lengths are equal by the pattern check; timingSafeEqual still needs equal lengths.
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
    throw new InvalidSignatureError('signature mismatch');
  }
}

/** The key a URL names: UnknownSigningKeyError when this keyring lacks it (a fresher one may hold it). */
function namedKey(keyId: string, keyring: SigningKeyring): Uint8Array {
  const key = keyring.key(keyId);
  if (!key) throw new UnknownSigningKeyError('unknown or retired signing key');
  return key;
}

/** The callback URL for a user's registration (`callbackUrl`: the route's URL, no query), signed with the keyring's active key. */
export function signCallbackUrl(callbackUrl: string, subject: CallbackSubject, keyring: SigningKeyring): URL {
  const { userId, registrationId } = subject;
  const { keyId, key } = signingKey(subject, keyring);
  const url = new URL(callbackUrl);
  url.searchParams.set('user_id', userId);
  if (registrationId !== LEGACY_REGISTRATION_ID) url.searchParams.set('reg', registrationId);
  url.searchParams.set('kid', keyId);
  url.searchParams.set('sig', signature(key, 'callback', keyId, { userId, registrationId }).toString('base64url'));
  return url;
}

/** A bot-token URL (`routeUrl`: the kind's route, no query) for one meeting, until `expiresAtSeconds`, signed with the active key. */
export function signBotTokenUrl(routeUrl: string, kind: BotTokenKind, subject: BotTokenSubject, keyring: SigningKeyring): URL {
  const { userId, registrationId, meetingId, expiresAtSeconds } = subject;
  if (!MEETING_ID_PATTERN.test(meetingId)) throw new Error('meeting id outside the safe pattern');
  if (!EXPIRY_PATTERN.test(String(expiresAtSeconds))) throw new Error('expiry outside the safe pattern');
  const { keyId, key } = signingKey(subject, keyring);
  const url = new URL(routeUrl);
  url.searchParams.set('user_id', userId);
  url.searchParams.set('reg', registrationId);
  url.searchParams.set('meeting_id', meetingId);
  url.searchParams.set('exp', String(expiresAtSeconds));
  url.searchParams.set('kid', keyId);
  url.searchParams.set('sig', signature(key, kind, keyId, { userId, registrationId, meetingId, expiresAtSeconds }).toString('base64url'));
  return url;
}

export interface CallbackParameters {
  userId: string;
  /** Absent in URLs issued before registration ids (v1). */
  registrationId?: string;
  keyId: string;
  signature: string;
}

/** Thrown for a well-formed URL naming a key id this keyring does not hold: a fresher keyring may. */
export class UnknownSigningKeyError extends InvalidSignatureError {}

/**
 * Verifies a callback's parameters in constant time and returns whom the URL is for. Every
 * failure throws an InvalidSignatureError, and all are answered alike, so answers reveal nothing.
 */
export function verifyCallbackSignature(params: CallbackParameters, keyring: SigningKeyring): CallbackSubject {
  const { userId, keyId, signature: given } = params;
  const registrationId = params.registrationId ?? LEGACY_REGISTRATION_ID;
  if (
    !USER_ID_PATTERN.test(userId) ||
    !KEY_ID_PATTERN.test(keyId) ||
    !SIGNATURE_PATTERN.test(given) ||
    !REGISTRATION_ID_PATTERN.test(registrationId)
  ) {
    throw new InvalidSignatureError('malformed callback parameters');
  }
  // A v2 URL never names the legacy marker: that would let a v2-shaped URL stand for a v1 one.
  if (params.registrationId === LEGACY_REGISTRATION_ID) throw new InvalidSignatureError('malformed callback parameters');
  checkSignature(given, signature(namedKey(keyId, keyring), 'callback', keyId, { userId, registrationId }));
  return { userId, registrationId };
}

export interface BotTokenParameters {
  userId: string;
  registrationId: string;
  meetingId: string;
  /** The `exp` parameter as given (Unix seconds). */
  expiresAt: string;
  keyId: string;
  signature: string;
}

/**
 * Verifies a bot-token URL of `kind` in constant time, then its expiry (`now`, ms), and returns
 * whom and what it is for. Every failure, an expired URL included, throws an
 * InvalidSignatureError: all are answered alike.
 */
export function verifyBotTokenSignature(
  kind: BotTokenKind,
  params: BotTokenParameters,
  keyring: SigningKeyring,
  now: number,
): BotTokenSubject {
  const { userId, registrationId, meetingId, expiresAt, keyId, signature: given } = params;
  if (
    !USER_ID_PATTERN.test(userId) ||
    !REGISTRATION_ID_PATTERN.test(registrationId) ||
    !MEETING_ID_PATTERN.test(meetingId) ||
    !EXPIRY_PATTERN.test(expiresAt) ||
    !KEY_ID_PATTERN.test(keyId) ||
    !SIGNATURE_PATTERN.test(given)
  ) {
    throw new InvalidSignatureError('malformed bot-token parameters');
  }
  const subject: BotTokenSubject = { userId, registrationId, meetingId, expiresAtSeconds: Number(expiresAt) };
  checkSignature(given, signature(namedKey(keyId, keyring), kind, keyId, subject));
  if (subject.expiresAtSeconds * 1000 <= now) throw new InvalidSignatureError('expired bot-token URL');
  return subject;
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

/**
 * Whether two secrets (a bearer token, a webhook signature) are equal, in constant time: both
 * are hashed first, so their lengths match and nothing about where they differ leaks.
 */
export function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(createHash('sha256').update(given).digest(), createHash('sha256').update(expected).digest());
}
