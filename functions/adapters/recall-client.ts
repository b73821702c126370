/**
 * Recall.ai's Zoom OAuth credential API (customer-managed OAuth). Retries 429 (Retry-After),
 * 408/409/5xx, network errors and timeouts; other 4xx fail at once. Errors never carry the API
 * key, a callback URL's query string (it holds the HMAC signature), the tokens a create names
 * to redact, or anything shaped like a Zoom access token (a JWT).
 */
import type { RecallClient, RecallCredential } from '../domain/ports';
import { RecallConflictError, UpstreamError } from '../domain/errors';
import { describeFailure, fetchText, requestWithRetry, sanitize, type HttpOutcome, type HttpReply, type RetryOptions } from './http-retry';

export interface RecallClientConfig extends Partial<Omit<RetryOptions, 'deadline'>> {
  /** e.g. https://us-east-1.recall.ai, with or without a trailing slash (a path prefix is kept). */
  baseUrl: string;
  apiKey: () => Promise<string> | string;
  /** Time one client call may take, retries and all pages included. Default 25 s. */
  budgetMs?: number;
  /** Optional hard stop (ms since the epoch) read at the start of each call, e.g. from the Lambda context. */
  deadline?: () => number | undefined;
}

const CREDENTIALS_PATH = '/api/v2/zoom-oauth-credentials/';
const RETRYABLE_STATUSES = new Set([408, 409, 429, 500, 502, 503, 504]);
const MAX_PAGES = 100;

const isRetryable = (outcome: HttpOutcome) => !('reply' in outcome) || RETRYABLE_STATUSES.has(outcome.reply.status);

/** A plain object of bound methods, so callers may wrap or spread it. */
export function createRecallClient(config: RecallClientConfig): RecallClient {
  const client = new HttpRecallClient(config);
  return {
    createZoomOAuthCredential: (input) => client.createZoomOAuthCredential(input),
    listZoomOAuthCredentials: (filter, options) => client.listZoomOAuthCredentials(filter, options),
    getZoomOAuthCredential: (id) => client.getZoomOAuthCredential(id),
    deleteZoomOAuthCredential: (id) => client.deleteZoomOAuthCredential(id),
  };
}

type CallOptions = { body?: unknown; headers?: Record<string, string>; accepted?: number[]; secrets?: string[] };

class HttpRecallClient implements RecallClient {
  private readonly base: string;
  private readonly origin: string;
  private readonly retryOptions: Partial<Omit<RetryOptions, 'deadline'>>;

  constructor(private readonly config: RecallClientConfig) {
    const { baseUrl, apiKey: _apiKey, budgetMs: _budgetMs, deadline: _deadline, ...retryOptions } = config;
    this.base = baseUrl.replace(/\/+$/, '');
    this.origin = new URL(this.base).origin;
    this.retryOptions = retryOptions;
  }

  async createZoomOAuthCredential({
    oauthAppId,
    callbackUrl,
    idempotencyKey,
    redact = [],
  }: Parameters<RecallClient['createZoomOAuthCredential']>[0]) {
    const url = this.endpoint();
    const reply = await this.call('POST', url, this.callDeadline(), {
      body: { oauth_app: oauthAppId, access_token_callback_url: callbackUrl },
      headers: { 'Idempotency-Key': idempotencyKey },
      secrets: [callbackUrl, ...redact],
    });
    return toCredential(parseJson(reply.body), `Recall POST ${url.pathname}`);
  }

  async listZoomOAuthCredentials(
    { oauthAppId, zoomUserId, status }: Parameters<RecallClient['listZoomOAuthCredentials']>[0],
    options: Parameters<RecallClient['listZoomOAuthCredentials']>[1] = {},
  ) {
    const deadline = this.callDeadline();
    const now = this.retryOptions.now ?? Date.now;
    const sleep = this.retryOptions.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
    let lastPageAt: number | undefined;
    let url: URL | undefined = this.endpoint();
    url.searchParams.set('oauth_app', oauthAppId);
    if (zoomUserId !== undefined) url.searchParams.set('user_id', zoomUserId);
    if (status !== undefined) url.searchParams.set('status', status);
    const label = `Recall GET ${url.pathname}`;
    const credentials: RecallCredential[] = [];
    for (let page = 1; url; page++) {
      if (page > MAX_PAGES) throw new UpstreamError('recall', `${label}: more than ${MAX_PAGES} pages`);
      // Paced: Recall's list endpoint allows 60 requests a minute per workspace.
      const wait = lastPageAt === undefined ? 0 : lastPageAt + (options.pageIntervalMs ?? 0) - now();
      if (wait > 0) {
        if (now() + wait >= deadline) throw new UpstreamError('recall', `${label}: out of time after ${page - 1} pages`);
        await sleep(wait);
      }
      lastPageAt = now();
      const reply = await this.call('GET', url, deadline);
      const json = parseJson(reply.body) as { results?: unknown; next?: unknown } | undefined;
      if (!json || !Array.isArray(json.results)) throw new UpstreamError('recall', `${label}: unexpected response`, reply.status);
      credentials.push(...json.results.map((item) => toCredential(item, label)));
      url = typeof json.next === 'string' && json.next ? this.nextPage(json.next, url, label) : undefined;
    }
    return credentials;
  }

  async getZoomOAuthCredential(id: string) {
    const url = this.endpoint(`${encodeURIComponent(id)}/`);
    const reply = await this.call('GET', url, this.callDeadline(), { accepted: [404] });
    return reply.status === 404 ? undefined : toCredential(parseJson(reply.body), `Recall GET ${url.pathname}`);
  }

  async deleteZoomOAuthCredential(id: string) {
    await this.call('DELETE', this.endpoint(`${encodeURIComponent(id)}/`), this.callDeadline(), { accepted: [404] });
  }

  private endpoint(suffix = ''): URL {
    return new URL(this.base + CREDENTIALS_PATH + suffix);
  }

  /** Deadline for one public call: the budget, or the caller's hard stop if sooner. */
  private callDeadline(): number {
    const now = (this.retryOptions.now ?? Date.now)();
    return Math.min(now + (this.config.budgetMs ?? 25_000), this.config.deadline?.() ?? Infinity);
  }

  /** One request with retries; returns a 2xx (or an `accepted`) reply, throws UpstreamError otherwise. */
  private async call(method: string, url: URL, deadline: number, opts: CallOptions = {}): Promise<HttpReply> {
    const key = await this.config.apiKey();
    const headers: Record<string, string> = { Authorization: `Token ${key}`, Accept: 'application/json', ...opts.headers };
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const result = await requestWithRetry((signal) => fetchText(url, { method, headers, body }, signal), {
      ...this.retryOptions,
      deadline,
      isRetryable,
    });
    const label = `Recall ${method} ${url.pathname}`;
    const tries = result.attempts > 1 ? ` after ${result.attempts} attempts` : '';
    if (!('reply' in result)) throw new UpstreamError('recall', `${label} failed${tries}: ${describeFailure(result)}`);
    const { reply } = result;
    if ((reply.status >= 200 && reply.status < 300) || opts.accepted?.includes(reply.status)) return reply;
    throw failureOf(reply, `${label} failed${tries}`, [key, ...(opts.secrets ?? [])]);
  }

  /** The next page's URL; only on Recall's own origin, so the API key never goes elsewhere. */
  private nextPage(next: string, current: URL, label: string): URL {
    let url: URL;
    try {
      url = new URL(next, current);
    } catch {
      throw new UpstreamError('recall', `${label}: unparsable next page URL`);
    }
    if (url.origin !== this.origin) {
      throw new UpstreamError('recall', `${label}: next page is on another origin; not followed`, undefined, url.origin);
    }
    return url;
  }
}

/** Recall's answer as an error: its conflict answer, or an UpstreamError with its (sanitized) detail. */
function failureOf(reply: HttpReply, message: string, secrets: string[]): Error {
  const json = parseJson(reply.body);
  const detail = sanitize(errorDetail(json, reply.body), secrets);
  const conflictUser = stringField(json, 'conflicting_zoom_user_id');
  const conflictAccount = stringField(json, 'conflicting_zoom_account_id');
  if (reply.status === 400 && (conflictUser || conflictAccount)) return new RecallConflictError(conflictUser, conflictAccount, detail);
  return new UpstreamError('recall', `${message}: HTTP ${reply.status}`, reply.status, detail);
}

function toCredential(value: unknown, label: string): RecallCredential {
  const id = stringField(value, 'id');
  if (!id) throw new UpstreamError('recall', `${label}: credential without an id in the response`);
  const credential: RecallCredential = { id };
  const status = stringField(value, 'status');
  const zoomUserId = stringField(value, 'user_id');
  const zoomAccountId = stringField(value, 'account_id');
  const callbackUrl = stringField(value, 'access_token_callback_url');
  if (status !== undefined) credential.status = status;
  if (zoomUserId !== undefined) credential.zoomUserId = zoomUserId;
  if (zoomAccountId !== undefined) credential.zoomAccountId = zoomAccountId;
  if (callbackUrl !== undefined) credential.callbackUrl = callbackUrl;
  return credential;
}

/** Recall's `detail`, else a compact rendering of a field-error body, else the raw text. */
function errorDetail(json: unknown, raw: string): string {
  const detail = stringField(json, 'detail');
  if (detail !== undefined) return detail;
  return json !== undefined ? JSON.stringify(json) : raw.trim();
}

function stringField(value: unknown, key: string): string | undefined {
  const field = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
  return typeof field === 'string' ? field : typeof field === 'number' ? String(field) : undefined;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
