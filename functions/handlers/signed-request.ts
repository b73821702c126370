/**
 * The one seam every public token request passes through (the access-token callback and the
 * bot-token routes): who sent it and whom it is for. Today that is the HMAC in the URL (see
 * domain/signing.ts), checked against the cached keyring and, when the URL names a key id that
 * keyring lacks, against one fresh read: a rotation's new key works at once in every container.
 * A check of Recall's own request signature (Standard Webhooks headers) belongs here too, in
 * `verify` below, so it covers every token route at once.
 *
 * Every failure throws an InvalidSignatureError; the handlers answer them all alike.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { BotTokenKind } from '../contract';
import type { Clock, SigningKeyProvider, SigningKeyring } from '../domain/ports';
import {
  type BotTokenSubject,
  type CallbackSubject,
  UnknownSigningKeyError,
  type UrlPurpose,
  verifyBotTokenSignature,
  verifyCallbackSignature,
} from '../domain/signing';

export interface SignedRequestVerifier {
  /** The callback's request: whom the URL is for. */
  (event: Pick<APIGatewayProxyEventV2, 'queryStringParameters' | 'headers'>, purpose: 'callback'): Promise<CallbackSubject>;
  /** A bot-token request of `purpose`'s kind: whom, which meeting, until when (an expired URL is refused). */
  (event: Pick<APIGatewayProxyEventV2, 'queryStringParameters' | 'headers'>, purpose: BotTokenKind): Promise<BotTokenSubject>;
}

type Query = Record<string, string | undefined>;

/** The URL's own check for `purpose`, with one keyring. */
function verifyUrl(purpose: UrlPurpose, query: Query, keyring: SigningKeyring, now: number): CallbackSubject | BotTokenSubject {
  const common = { userId: query.user_id ?? '', keyId: query.kid ?? '', signature: query.sig ?? '' };
  if (purpose === 'callback') return verifyCallbackSignature({ ...common, registrationId: query.reg }, keyring);
  const params = { ...common, registrationId: query.reg ?? '', meetingId: query.meeting_id ?? '', expiresAt: query.exp ?? '' };
  return verifyBotTokenSignature(purpose, params, keyring, now);
}

export function makeSignedRequestVerifier(deps: { signingKeys: SigningKeyProvider; clock: Clock }): SignedRequestVerifier {
  async function verify(event: Pick<APIGatewayProxyEventV2, 'queryStringParameters'>, purpose: UrlPurpose) {
    const query: Query = event.queryStringParameters ?? {};
    try {
      return verifyUrl(purpose, query, await deps.signingKeys.keyring(), deps.clock());
    } catch (error) {
      if (!(error instanceof UnknownSigningKeyError)) throw error;
      return verifyUrl(purpose, query, await deps.signingKeys.keyring({ fresh: true }), deps.clock());
    }
  }
  return verify as SignedRequestVerifier;
}
