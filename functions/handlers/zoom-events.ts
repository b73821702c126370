/**
 * POST /zoom/events — Zoom's event notifications for the app (public; Zoom's own signature is
 * the authentication):
 * - every request must carry `x-zm-signature: v0=<hex HMAC-SHA256(secret token,
 *   "v0:{x-zm-request-timestamp}:{raw body}")>`, compared in constant time, and a timestamp
 *   within 5 minutes of now: else 401 and nothing happens;
 * - `endpoint.url_validation` (Zoom's challenge when the URL is set, and every 72 h) is
 *   answered `{"plainToken", "encryptedToken": hex HMAC-SHA256(secret token, plainToken)}`. Only
 *   when signed: unsigned, the endpoint would compute HMACs of any text with the secret token,
 *   which is exactly what a forged signature is;
 * - `app_deauthorized` deletes the Zoom user's tokens and Recall credential (domain/zoom-deauthorization.ts),
 *   for grants registered before its `deauthorization_time` (required: 400 without it);
 * - anything else, or a Zoom user we do not know: 200, ignored.
 * Zoom's input never gets a 5xx (Zoom retries non-2xx answers, to no avail for bad input): 400
 * malformed, 401 unauthenticated or stale, 413 over 64 KB. A 500 means our storage or Recall
 * failed: Zoom's retry then comes back to finish the job.
 */
import { createHmac } from 'node:crypto';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { TIMING } from '../contract';
import { sameSecret } from '../domain/signing';
import { deauthorizeZoomUser } from '../domain/zoom-deauthorization';
import type { ZoomEventsDeps } from './composition';
import { describe, json, type HttpResult } from './http';
import { countMetric, withObservability } from './middleware';

/** Zoom's notifications are a few KB; anything far larger is not one. */
export const MAX_ZOOM_EVENT_BYTES = 64 * 1024;
/** How far a request's timestamp may be from now, either way. */
export const ZOOM_TIMESTAMP_TOLERANCE_MS = 5 * 60_000;

type Invocation = Pick<Context, 'getRemainingTimeInMillis'>;

/** `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body}` with the secret token. */
export function zoomSignature(secretToken: string, timestamp: string, rawBody: Buffer | string): string {
  return `v0=${createHmac('sha256', secretToken).update(`v0:${timestamp}:`).update(rawBody).digest('hex')}`;
}

/** Zoom's timestamp in ms: epoch seconds (what Zoom sends) or milliseconds. */
function timestampMs(raw: string): number | undefined {
  if (!/^\d{1,16}$/.test(raw)) return undefined;
  const value = Number(raw);
  return value >= 1e12 ? value : value * 1000;
}

const refused = (status: number, error: string, message: string): HttpResult => json(status, { error, message });

function stringField(value: unknown, key: string): string | undefined {
  const field = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
  return typeof field === 'string' && field.length > 0 && field.length <= 512 ? field : undefined;
}

type Verified = { ok: true; raw: Buffer; secretToken: string } | { ok: false; answer: HttpResult };

/** The raw body, once its size, Zoom's signature and the timestamp are checked. */
async function verify(event: APIGatewayProxyEventV2, deps: ZoomEventsDeps): Promise<Verified> {
  const { logger, clock } = deps;
  const raw = event.body === undefined ? Buffer.alloc(0) : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
  if (raw.length > MAX_ZOOM_EVENT_BYTES)
    return { ok: false, answer: refused(413, 'payload_too_large', `body over ${MAX_ZOOM_EVENT_BYTES} bytes`) };
  const signature = event.headers?.['x-zm-signature'] ?? '';
  const timestamp = event.headers?.['x-zm-request-timestamp'] ?? '';
  let secretToken: string;
  try {
    secretToken = await deps.secretToken();
  } catch (error) {
    logger.error('Zoom webhook secret token unavailable', describe(error));
    return { ok: false, answer: refused(500, 'internal_error', 'internal error') };
  }
  if (!signature || !timestamp || !sameSecret(signature, zoomSignature(secretToken, timestamp, raw))) {
    logger.warn('Zoom event refused: bad signature');
    return { ok: false, answer: refused(401, 'invalid_signature', 'signature does not verify') };
  }
  const sentAt = timestampMs(timestamp);
  if (sentAt === undefined || Math.abs(clock() - sentAt) > ZOOM_TIMESTAMP_TOLERANCE_MS) {
    logger.warn('Zoom event refused: stale or unreadable timestamp');
    return { ok: false, answer: refused(401, 'stale_timestamp', 'request timestamp is more than 5 minutes from now') };
  }
  return { ok: true, raw, secretToken };
}

/** app_deauthorized: the Zoom user's tokens and Recall credential removed. */
async function deauthorize(payload: unknown, context: Invocation, deps: ZoomEventsDeps): Promise<HttpResult> {
  const { logger, metrics, clock } = deps;
  const zoomUserId = stringField(payload, 'user_id');
  if (!zoomUserId) return refused(400, 'invalid_request', 'payload.user_id is required');
  const clientId = stringField(payload, 'client_id');
  if (deps.zoomClientId && clientId && clientId !== deps.zoomClientId) {
    logger.warn('Zoom deauthorization for another client id ignored');
    return json(200, { received: true });
  }
  // When the user removed the app: only grants registered before it are ended (a late or
  // replayed delivery must not end the grant of a user who authorized again since).
  const at = Date.parse(stringField(payload, 'deauthorization_time') ?? '');
  if (!Number.isFinite(at)) return refused(400, 'invalid_request', 'payload.deauthorization_time must be an ISO 8601 date-time');
  const accountId = stringField(payload, 'account_id');
  try {
    const deadline = clock() + context.getRemainingTimeInMillis() - TIMING.adminRecallReserveMs;
    const done = await deauthorizeZoomUser(
      { zoomUserId, ...(accountId ? { zoomAccountId: accountId } : {}), deauthorizedAt: at },
      { ...deps, recall: deps.recallUntil(() => deadline) },
    );
    if (done.length) countMetric(metrics, 'ZoomDeauthorized', done.length);
    logger.info('Zoom deauthorization handled', { usersDeauthorized: done.length });
    return json(200, { received: true });
  } catch (error) {
    logger.error('Zoom deauthorization failed; Zoom will retry', describe(error));
    return refused(500, 'internal_error', 'internal error');
  }
}

export function makeZoomEventsHandler(deps: ZoomEventsDeps) {
  const { logger } = deps;

  async function answerZoom(event: APIGatewayProxyEventV2, context: Invocation): Promise<HttpResult> {
    const verified = await verify(event, deps);
    if (!verified.ok) return verified.answer;
    let body: unknown;
    try {
      body = JSON.parse(verified.raw.toString('utf8'));
    } catch {
      return refused(400, 'invalid_request', 'body is not JSON');
    }
    const kind = stringField(body, 'event');
    const payload = body !== null && typeof body === 'object' ? (body as Record<string, unknown>).payload : undefined;
    if (!kind) return refused(400, 'invalid_request', 'event is required');
    if (kind === 'endpoint.url_validation') {
      const plainToken = stringField(payload, 'plainToken');
      if (!plainToken) return refused(400, 'invalid_request', 'payload.plainToken is required');
      return json(200, { plainToken, encryptedToken: createHmac('sha256', verified.secretToken).update(plainToken).digest('hex') });
    }
    if (kind === 'app_deauthorized') return deauthorize(payload, context, deps);
    logger.info('Zoom event ignored', { zoomEvent: kind.slice(0, 64) });
    return json(200, { received: true });
  }

  return withObservability(answerZoom, deps);
}
