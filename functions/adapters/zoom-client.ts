/**
 * Zoom's OAuth token endpoint, refresh grant only. Exactly one attempt per call: a refresh token
 * is single-use, so whether to try again is the caller's decision. Never throws for HTTP or
 * network failures; results carry no token or secret.
 */
import type { ZoomRefreshResult, ZoomTokenClient } from '../domain/ports';
import { fetchText, sanitize, TimeoutError, withTimeout, type HttpReply } from './http-retry';

export interface ZoomTokenClientConfig {
  /** e.g. https://zoom.us/oauth/token */
  tokenUrl: string;
  clientId: string;
  clientSecret: () => Promise<string> | string;
  /** Per-call timeout unless the call passes its own. Default 5 s. */
  timeoutMs?: number;
}

/** Zoom's numbered OAuth errors for a revoked token (4741) and a token owner who no longer exists (4735). */
const DEAD_GRANT_CODES = new Set(['invalid_grant', '4741', '4735']);

export function createZoomTokenClient(config: ZoomTokenClientConfig): ZoomTokenClient {
  return {
    async refresh(refreshToken, options) {
      const timeoutMs = options?.timeoutMs ?? config.timeoutMs ?? 5_000;
      let secret: string;
      try {
        secret = await config.clientSecret();
      } catch {
        // Nothing was sent, so the refresh token is intact and a later try is safe.
        return { kind: 'retryable', error: 'client_secret_unavailable' };
      }
      const init: RequestInit = {
        method: 'POST',
        headers: {
          Authorization: `Basic ${Buffer.from(`${config.clientId}:${secret}`).toString('base64')}`,
          'Content-Type': 'application/x-www-form-urlencoded',
          Accept: 'application/json',
        },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }).toString(),
      };
      let reply: HttpReply;
      try {
        reply = await withTimeout((signal) => fetchText(config.tokenUrl, init, signal), timeoutMs);
      } catch (error) {
        return { kind: 'retryable', error: error instanceof TimeoutError ? 'timeout' : 'network_error' };
      }
      return classify(reply, [refreshToken, secret]);
    },
  };
}

function classify(reply: HttpReply, secrets: string[]): ZoomRefreshResult {
  const { status } = reply;
  const json = parseObject(reply.body);
  if (status >= 200 && status < 300) {
    const expiresIn = Number(json?.expires_in);
    const { access_token: accessToken, refresh_token: newRefreshToken, scope } = json ?? {};
    if (isNonEmpty(accessToken) && isNonEmpty(newRefreshToken) && Number.isFinite(expiresIn) && expiresIn > 0) {
      return {
        kind: 'ok',
        tokens: { accessToken, refreshToken: newRefreshToken, ...(typeof scope === 'string' ? { scope } : {}) },
        expiresInSeconds: expiresIn,
      };
    }
    return { kind: 'retryable', status, error: 'invalid_response' };
  }
  const field = (key: string, maxLength = 100) => {
    const value = json?.[key];
    return typeof value === 'string' || typeof value === 'number' ? sanitize(String(value), secrets, maxLength) : undefined;
  };
  const error = field('error') ?? field('code');
  const reason = field('reason', 200) ?? field('message', 200);
  if (status === 408 || status === 429 || status >= 500) return { kind: 'retryable', status, error: error ?? `http_${status}` };
  if ((status === 400 || status === 401) && [field('error'), field('reason'), field('code')].some((c) => c && DEAD_GRANT_CODES.has(c))) {
    return { kind: 'grant_dead', error: error ?? 'invalid_grant', ...(reason ? { reason } : {}) };
  }
  // invalid_client, unauthorized_client, a bare 401, and anything unexpected (3xx, 404, other 4xx): an operator must look.
  return { kind: 'misconfigured', status, error: error ?? `http_${status}`, ...(reason ? { reason } : {}) };
}

function isNonEmpty(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
