/**
 * The one seam every public token request passes through (the access-token callback and the
 * bot-token routes): who sent it and whom it is for. First the HMAC in the URL (see
 * domain/signing.ts), checked against the cached keyring and, when the URL names a key id that
 * keyring lacks, against one fresh read: a rotation's new key works at once in every container.
 * Then, when a Recall verification secret is configured, Recall's own request signature
 * (Standard Webhooks headers, domain/recall-signature.ts; a signature the cached secret does not
 * match is tried once more against a fresh read, as a URL's unknown key id is): a request with a valid URL but
 * without it is counted (RecallSignatureFailures) and logged (never the headers' values), and
 * refused in enforce mode; in report mode it is served as before.
 *
 * Every failure throws an InvalidSignatureError; the handlers answer them all alike.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { BotTokenKind } from '../contract';
import { InvalidSignatureError } from '../domain/errors';
import type { Clock, Log, SigningKeyProvider, SigningKeyring } from '../domain/ports';
import { mayBeStaleSecret, type RecallSignatureSettings, recallSignatureProblem } from '../domain/recall-signature';
import {
  type BotTokenSubject,
  type CallbackSubject,
  UnknownSigningKeyError,
  type UrlPurpose,
  verifyBotTokenSignature,
  verifyCallbackSignature,
} from '../domain/signing';
import type { ServiceDeps } from './composition';
import { countMetric, flushMetrics } from './middleware';

type SignedEvent = Pick<APIGatewayProxyEventV2, 'queryStringParameters' | 'headers'> &
  Partial<Pick<APIGatewayProxyEventV2, 'body' | 'isBase64Encoded'>>;

export interface SignedRequestVerifier {
  /** The callback's request: whom the URL is for. */
  (event: SignedEvent, purpose: 'callback'): Promise<CallbackSubject>;
  /** A bot-token request of `purpose`'s kind: whom, which meeting, until when (an expired URL is refused). */
  (event: SignedEvent, purpose: BotTokenKind): Promise<BotTokenSubject>;
}

export interface SignedRequestDeps extends Pick<ServiceDeps, 'metrics' | 'publishMetrics'> {
  signingKeys: SigningKeyProvider;
  clock: Clock;
  logger: Log;
  /** Recall's request signature; absent: not checked (no verification secret configured). */
  recallSignatures?: RecallSignatureSettings;
}

type Query = Record<string, string | undefined>;

/** The URL's own check for `purpose`, with one keyring. */
function verifyUrl(purpose: UrlPurpose, query: Query, keyring: SigningKeyring, now: number): CallbackSubject | BotTokenSubject {
  const common = { userId: query.user_id ?? '', keyId: query.kid ?? '', signature: query.sig ?? '' };
  if (purpose === 'callback') return verifyCallbackSignature({ ...common, registrationId: query.reg }, keyring);
  const params = { ...common, registrationId: query.reg ?? '', meetingId: query.meeting_id ?? '', expiresAt: query.exp ?? '' };
  return verifyBotTokenSignature(purpose, params, keyring, now);
}

/** What Recall signed: the body as sent (empty for its GETs). */
function bodyOf(event: SignedEvent): string {
  if (!event.body) return '';
  return event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
}

/** Checks Recall's signature of a request whose URL verified; throws in enforce mode. */
function recallSignatureCheck(deps: SignedRequestDeps, settings: RecallSignatureSettings) {
  return async (event: SignedEvent, purpose: UrlPurpose, userId: string): Promise<void> => {
    const headers = event.headers ?? {};
    const signed = { id: headers['webhook-id'], timestamp: headers['webhook-timestamp'], signature: headers['webhook-signature'] };
    const judge = async (fresh: boolean) => recallSignatureProblem(signed, bodyOf(event), await settings.keys({ fresh }), deps.clock());
    let problem = await judge(false);
    // A secret put or rotated since it was cached works at once, not five minutes later.
    if (mayBeStaleSecret(problem)) problem = await judge(true);
    if (problem === undefined) return;
    const refused = settings.mode === 'enforce';
    deps.logger.warn(refused ? 'refused: no valid Recall signature' : 'no valid Recall signature (report mode: served)', {
      userId,
      route: purpose,
      problem,
      mode: settings.mode,
    });
    // Published at once, before a handler adds a dimension (bot tokens): the alarm watches `service` alone.
    countMetric(deps.metrics, 'RecallSignatureFailures');
    flushMetrics(deps.metrics, deps.publishMetrics);
    if (refused) throw new InvalidSignatureError(`no valid Recall signature (${problem})`);
  };
}

export function makeSignedRequestVerifier(deps: SignedRequestDeps): SignedRequestVerifier {
  const checkRecallSignature = deps.recallSignatures && recallSignatureCheck(deps, deps.recallSignatures);

  async function verifiedUrl(query: Query, purpose: UrlPurpose) {
    try {
      return verifyUrl(purpose, query, await deps.signingKeys.keyring(), deps.clock());
    } catch (error) {
      if (!(error instanceof UnknownSigningKeyError)) throw error;
      return verifyUrl(purpose, query, await deps.signingKeys.keyring({ fresh: true }), deps.clock());
    }
  }

  async function verify(event: SignedEvent, purpose: UrlPurpose) {
    // The URL first: only requests it admits count as Recall-signature failures, so the metric
    // says what enforcing would refuse beyond today, not every scanner's guess.
    const subject = await verifiedUrl(event.queryStringParameters ?? {}, purpose);
    if (checkRecallSignature) await checkRecallSignature(event, purpose, subject.userId);
    return subject;
  }
  return verify as SignedRequestVerifier;
}
