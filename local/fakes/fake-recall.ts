/**
 * A fake of Recall.ai's Zoom OAuth credential API (customer-managed OAuth), on loopback, with node:http.
 *
 * Follows the documented behaviour (see /work/shared/reference/recall-and-zoom.md):
 * - `Authorization: Token <apiKey>`, else 401 `{"detail":"Invalid token."}`.
 * - `POST /api/v2/zoom-oauth-credentials/` calls the callback URL (HTTP GET, `callbackTimeoutMs`) during the
 *   request and answers 400 unless it gets 200, `text/plain`, a body that is exactly a Zoom access token
 *   `verifyAccessToken` knows, valid for at least 120 s more. One credential per (oauth_app, Zoom user).
 * - `Idempotency-Key` on POST: completed duplicate within an hour → cached response; running duplicate → 409.
 * - `GET .../?oauth_app=&user_id=&status=&cursor=` cursor-paginated `{next, previous, results}`;
 *   `GET .../{id}/`, `DELETE .../{id}/` → 204, unknown → 404 `{"detail":"Not found."}`.
 * - With `verificationSecret` (a workspace verification secret), every callback GET carries Recall's Standard
 *   Webhooks headers: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of
 *   "id.timestamp.">` (empty body), one signature per secret given (as during a rotation at Recall).
 * Guesses where the docs are silent: list order (oldest first), `meeting_sync_status` value, error wordings.
 *
 * Fake-only route: `POST /fake/call` (API key as above, form or JSON body `url=<URL>`) GETs the URL as Recall
 * does, signed when a verification secret is set, and answers what it got (status, content type, body): how
 * to fetch a token "as Recall" when the service enforces Recall's signature. 502 when no answer came.
 *
 * Optional `stateFile`: credentials (with their list order) and completed idempotency results still within
 * their hour are loaded from it at start and rewritten (atomically, mode 0600) after every change, so the
 * fake survives a restart of the local runtime. The request log and injected failures stay in memory.
 *
 * Never logs tokens or keys (it logs nothing at all).
 */
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { listen, readBody, readStateFile, sendJson, stateFileError, writeStateFile } from './http-util';

export interface FakeRecallOptions {
  port?: number;
  host?: string;
  /** Default 'test-recall-key'. */
  apiKey?: string;
  verifyAccessToken: (token: string) => { zoomUserId: string; expiresAt: number } | undefined;
  /** How long Recall waits for the token callback. Default 5000 (Recall's documented 5 s). */
  callbackTimeoutMs?: number;
  /** List page size. Default 2, so that clients exercise pagination. */
  pageSize?: number;
  /**
   * Optional workspace verification secret(s), `whsec_<base64>`, several separated by spaces: when set,
   * callback GETs carry Standard Webhooks signature headers, one v1 signature per secret.
   */
  verificationSecret?: string;
  /**
   * Optional JSON file holding the fake's state (credentials, idempotency results): loaded at start when it
   * exists (an unusable file makes start reject), rewritten after each change. Without it, memory only.
   */
  stateFile?: string;
  /** "Now" in ms for token validity and idempotency windows. Default Date.now. */
  clock?: () => number;
}

export interface FakeRecallCredential {
  id: string;
  oauth_app: string;
  user_id: string;
  account_id: null;
  access_token_callback_url: string;
  created_at: string;
  status: 'healthy' | 'unhealthy';
  meeting_sync_status: string;
}

export interface FetchTokenResult {
  status: number; // 0 when no HTTP answer came (timeout, connection refused)
  body: string;
  contentType?: string;
  /** Why Recall would reject this answer; undefined when it is acceptable. */
  problem?: string;
}

export type RecallFailure = { status: 429; retryAfterSeconds: number } | { status: 500 | 502 | 503 | 409 } | 'hang';

export interface FakeRecall {
  url: string;
  /** Snapshot of stored credentials, oldest first. */
  credentials(): FakeRecallCredential[];
  /** Makes Recall call a credential's callback like it does before a bot joins; updates its status. */
  fetchToken(credentialId: string): Promise<FetchTokenResult>;
  /** GETs any URL as Recall does (signed when a verification secret is set), unjudged: a bot-token URL, say. */
  call(url: string): Promise<{ status: number; body: string; contentType?: string }>;
  /** The next `count` API requests fail as told, before authentication and any processing. */
  failNext(count: number, how: RecallFailure): void;
  /** Sets a credential's health as Recall would after its token calls failed (or recovered); throws for an unknown id. */
  setStatus(credentialId: string, status: 'healthy' | 'unhealthy'): void;
  requests(): Array<{ method: string; path: string; idempotencyKey?: string }>;
  close(): Promise<void>;
}

export const DEFAULT_FAKE_RECALL_API_KEY = 'test-recall-key';
export const RECALL_MINIMUM_TOKEN_VALIDITY_MS = 120_000;
const COLLECTION = '/api/v2/zoom-oauth-credentials/';
const ITEM = /^\/api\/v2\/zoom-oauth-credentials\/([^/]+)\/?$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const IDEMPOTENCY_TTL_MS = 60 * 60 * 1000;
const FAKE_CALL_PATH = '/fake/call';

type Reply = { status: number; body?: unknown };
type Idempotent = { running: true } | ({ running: false; at: number } & Reply);
type StoredCredential = FakeRecallCredential & { seq: number };

/** What `stateFile` holds. Idempotency entries are completed ones only (a running request died with the process). */
interface FakeRecallState {
  version: 1;
  nextSeq: number;
  credentials: StoredCredential[];
  idempotency: Array<{ key: string; at: number; status: number; body?: unknown }>;
}

function loadState(file: string): FakeRecallState | undefined {
  const raw = readStateFile(file);
  if (raw === undefined) return undefined;
  const state = raw as Partial<FakeRecallState> | null;
  const bad = (why: string) => stateFileError(file, why);
  if (!state || typeof state !== 'object' || state.version !== 1) throw bad('not a fake Recall state (version 1)');
  if (!Number.isSafeInteger(state.nextSeq)) throw bad('invalid nextSeq');
  const isString = (value: unknown) => typeof value === 'string';
  if (
    !Array.isArray(state.credentials) ||
    !state.credentials.every(
      (c) =>
        c &&
        [c.id, c.oauth_app, c.user_id, c.access_token_callback_url, c.created_at, c.meeting_sync_status].every(isString) &&
        (c.status === 'healthy' || c.status === 'unhealthy') &&
        Number.isSafeInteger(c.seq),
    )
  ) {
    throw bad('invalid credentials');
  }
  if (
    !Array.isArray(state.idempotency) ||
    !state.idempotency.every((e) => e && isString(e.key) && Number.isFinite(e.at) && Number.isInteger(e.status))
  ) {
    throw bad('invalid idempotency');
  }
  return state as FakeRecallState;
}

export async function startFakeRecall(options: FakeRecallOptions): Promise<FakeRecall> {
  const now = options.clock ?? Date.now;
  const state = new RecallState(options.stateFile, now);
  const closing = new AbortController();
  // Every callback in flight listens for the close (and stops listening when done): many at once is no leak.
  setMaxListeners(0, closing.signal);
  const caller = new TokenCallbackCaller(options, now, closing.signal);
  const routes = new RecallRoutes(options, state, caller, now);
  const server = await listen(
    (req, res) => routes.handle(req, res),
    options.host ?? '127.0.0.1',
    options.port ?? 0,
    () => closing.abort(),
  );
  routes.baseUrl = server.url;

  return {
    url: server.url,
    credentials: () => [...state.credentials.values()].map(publicView),
    fetchToken: (credentialId) => fetchToken(state, caller, credentialId),
    call: async (url) => {
      const { problem: _problem, ...answer } = await caller.get(url);
      return answer;
    },
    failNext: (count, how) => routes.failNext(count, how),
    setStatus: (credentialId, status) => state.setStatus(credentialId, status),
    requests: () => routes.requests(),
    close: () => server.close(),
  };
}

/**
 * The credentials (Map order = seq order = list order) and the idempotency results; rewritten to
 * `stateFile` (when configured) after every change.
 */
class RecallState {
  readonly credentials = new Map<string, StoredCredential>();
  readonly idempotency = new Map<string, Idempotent>();
  private nextSeq = 1;

  constructor(
    private readonly stateFile: string | undefined,
    private readonly now: () => number,
  ) {
    const saved = stateFile === undefined ? undefined : loadState(stateFile);
    if (saved) this.restore(saved);
  }

  /** The next list position: credentials are listed oldest first. */
  takeSeq(): number {
    return this.nextSeq++;
  }

  credential(credentialId: string): StoredCredential {
    const credential = this.credentials.get(credentialId);
    if (!credential) throw new Error(`fake Recall: no credential ${credentialId}`);
    return credential;
  }

  setStatus(credentialId: string, status: 'healthy' | 'unhealthy'): void {
    const credential = this.credential(credentialId);
    if (credential.status === status) return;
    credential.status = status;
    this.persist();
  }

  /** Rewrites the state file (when configured) after a change; stale idempotency results are left out. */
  persist(): void {
    if (this.stateFile === undefined) return;
    const at = this.now();
    const completed: FakeRecallState['idempotency'] = [];
    for (const [key, entry] of this.idempotency) {
      if (!entry.running && at - entry.at < IDEMPOTENCY_TTL_MS) {
        completed.push({ key, at: entry.at, status: entry.status, body: entry.body });
      }
    }
    const state: FakeRecallState = {
      version: 1,
      nextSeq: this.nextSeq,
      credentials: [...this.credentials.values()],
      idempotency: completed,
    };
    writeStateFile(this.stateFile, state);
  }

  private restore(saved: FakeRecallState): void {
    for (const credential of [...saved.credentials].sort((a, b) => a.seq - b.seq)) {
      this.credentials.set(credential.id, { ...credential, account_id: null });
      this.nextSeq = Math.max(this.nextSeq, credential.seq + 1);
    }
    this.nextSeq = Math.max(this.nextSeq, saved.nextSeq);
    for (const { key, at, status, body } of saved.idempotency) {
      if (this.now() - at < IDEMPOTENCY_TTL_MS) this.idempotency.set(key, { running: false, at, status, body });
    }
  }
}

/** Makes Recall call a credential's callback like it does before a bot joins; updates its status. */
async function fetchToken(state: RecallState, caller: TokenCallbackCaller, credentialId: string): Promise<FetchTokenResult> {
  const credential = state.credential(credentialId);
  const { zoomUserId, ...result } = await caller.call(credential.access_token_callback_url);
  const status = result.problem || zoomUserId !== credential.user_id ? 'unhealthy' : 'healthy';
  if (credential.status !== status) {
    credential.status = status;
    if (state.credentials.get(credentialId) === credential) state.persist(); // unless deleted while the callback ran
  }
  if (!result.problem && zoomUserId !== credential.user_id) {
    result.problem = 'The access token callback returned a token for a different Zoom user.';
  }
  return result;
}

/** Calls an access token callback the way Recall does, and judges the answer by Recall's rules. */
class TokenCallbackCaller {
  private readonly timeoutMs: number;

  constructor(
    private readonly options: FakeRecallOptions,
    private readonly now: () => number,
    private readonly closing: AbortSignal,
  ) {
    this.timeoutMs = options.callbackTimeoutMs ?? 5000;
  }

  /** GETs the callback like Recall does and judges the answer. */
  async call(url: string): Promise<FetchTokenResult & { zoomUserId?: string }> {
    const answer = await this.get(url);
    return answer.problem ? answer : this.judge(answer);
  }

  /** GETs a URL like Recall does (signed when a verification secret is set); `problem` when no answer came. */
  async get(url: string): Promise<FetchTokenResult> {
    let response: Response;
    let body: string;
    // A controller and a timer of our own, not AbortSignal.any([AbortSignal.timeout(…), …]): on
    // Node 20 a garbage-collected timeout signal can leave the composite never aborting.
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new DOMException('timed out', 'TimeoutError')), this.timeoutMs);
    const onClose = () => controller.abort(this.closing.reason);
    this.closing.addEventListener('abort', onClose, { once: true });
    try {
      response = await fetch(url, {
        method: 'GET',
        headers: { 'user-agent': 'fake-recall', ...this.signatureHeaders() },
        redirect: 'manual',
        signal: controller.signal,
      });
      body = await response.text();
    } catch (error) {
      // Duck-typed: under jest the error may come from another realm, so instanceof is unreliable.
      const name = (error as { name?: unknown } | undefined)?.name;
      const timedOut = name === 'TimeoutError' || name === 'AbortError';
      const problem = timedOut
        ? `The access token callback did not answer within ${this.timeoutMs} ms.`
        : 'The access token callback could not be reached.';
      return { status: 0, body: '', problem };
    } finally {
      clearTimeout(timer);
      this.closing.removeEventListener('abort', onClose);
    }
    return { status: response.status, body, contentType: response.headers.get('content-type') ?? undefined };
  }

  private judge(result: FetchTokenResult): FetchTokenResult & { zoomUserId?: string } {
    const { body, contentType } = result;
    if (result.status !== 200) {
      return { ...result, problem: `The access token callback answered HTTP ${result.status}, expected 200.` };
    }
    if (!contentType || !/^text\/plain\s*(;|$)/i.test(contentType)) {
      return { ...result, problem: 'The access token callback must answer with Content-Type text/plain.' };
    }
    const token = this.options.verifyAccessToken(body);
    if (!token) return { ...result, problem: 'The access token callback did not return a valid Zoom access token.' };
    if (token.expiresAt - this.now() < RECALL_MINIMUM_TOKEN_VALIDITY_MS) {
      return { ...result, problem: 'The access token returned by the callback expires in less than 120 seconds.' };
    }
    return { ...result, zoomUserId: token.zoomUserId };
  }

  /** Standard Webhooks headers for a GET (empty body), when a verification secret is configured. */
  private signatureHeaders(): Record<string, string> {
    const secret = this.options.verificationSecret?.trim();
    return secret ? recallSignatureHeaders(secret, this.now()) : {};
  }
}

/**
 * The headers Recall signs a request with at `nowMs` (Standard Webhooks): a new message id, the time in
 * Unix seconds, and one `v1,` signature per `whsec_` secret in `verificationSecret` (space-separated).
 */
export function recallSignatureHeaders(verificationSecret: string, nowMs: number, body = ''): Record<string, string> {
  const id = `msg_${randomBytes(12).toString('hex')}`;
  const timestamp = String(Math.floor(nowMs / 1000));
  const signatures = verificationSecret
    .split(/\s+/)
    .filter((secret) => secret !== '')
    .map((secret) => {
      const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
      return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
    });
  return { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signatures.join(' ') };
}

/** The credential API's routes, with the request log and the injected failures. */
class RecallRoutes {
  /** The server's own URL, for the list's next/previous links; set once it listens. */
  baseUrl = '';
  private readonly apiKey: Buffer;
  private readonly pageSize: number;
  private readonly failures: RecallFailure[] = [];
  private readonly log: Array<{ method: string; path: string; idempotencyKey?: string }> = [];

  constructor(
    options: FakeRecallOptions,
    private readonly state: RecallState,
    private readonly caller: TokenCallbackCaller,
    private readonly now: () => number,
  ) {
    this.apiKey = Buffer.from(options.apiKey ?? DEFAULT_FAKE_RECALL_API_KEY);
    this.pageSize = options.pageSize ?? 2;
  }

  failNext(count: number, how: RecallFailure): void {
    for (let i = 0; i < count; i++) this.failures.push(how);
  }

  requests(): Array<{ method: string; path: string; idempotencyKey?: string }> {
    return this.log.map((entry) => ({ ...entry }));
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    // Not Recall's API: neither logged among its requests nor subject to injected failures.
    if (req.url === FAKE_CALL_PATH && method === 'POST') return this.handleFakeCall(req, res);
    const idempotencyKey = headerValue(req.headers['idempotency-key']);
    this.log.push({ method, path: req.url ?? '/', ...(idempotencyKey !== undefined ? { idempotencyKey } : {}) });

    const failure = this.failures.shift();
    if (failure === 'hang') return; // never answered; close() destroys the socket
    if (failure) return sendFailure(res, failure);
    if (!this.authenticated(req.headers.authorization)) return sendJson(res, 401, { detail: 'Invalid token.' });

    const url = new URL(req.url ?? '/', 'http://fake-recall');
    const itemId = ITEM.exec(url.pathname)?.[1];
    const isCollection = url.pathname === COLLECTION || url.pathname === COLLECTION.slice(0, -1);

    if (isCollection && method === 'POST') return this.handleCreate(req, res, idempotencyKey);
    if (isCollection && method === 'GET') return reply(res, this.list(url.searchParams));
    if (itemId !== undefined && (method === 'GET' || method === 'DELETE')) return this.handleItem(res, method, itemId);
    if (isCollection || itemId !== undefined) {
      return sendJson(res, 405, { detail: `Method "${method}" not allowed.` });
    }
    sendJson(res, 404, { detail: 'Not found.' });
  }

  /** `POST /fake/call`: GETs the URL in the body as Recall does and answers what it got. */
  private async handleFakeCall(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.authenticated(req.headers.authorization)) return sendJson(res, 401, { detail: 'Invalid token.' });
    const parsed = parseCreateBody(await readBody(req), req.headers['content-type']);
    const url = 'fields' in parsed ? parsed.fields.url : undefined;
    if (typeof url !== 'string' || !isHttpUrl(url)) return sendJson(res, 400, { url: ['Enter a valid URL.'] });
    const answer = await this.caller.get(url);
    if (answer.problem) return sendJson(res, 502, { detail: answer.problem });
    res.writeHead(answer.status, { 'content-type': answer.contentType ?? 'text/plain', 'cache-control': 'no-store' }).end(answer.body);
  }

  private authenticated(header: string | undefined): boolean {
    const match = /^Token\s+(\S+)$/.exec(header ?? '');
    if (!match) return false;
    const given = Buffer.from(match[1]);
    return given.length === this.apiKey.length && timingSafeEqual(given, this.apiKey);
  }

  /** POST with an Idempotency-Key: a completed duplicate within the hour gets the same answer, a running one 409. */
  private async handleCreate(req: IncomingMessage, res: ServerResponse, idempotencyKey: string | undefined): Promise<void> {
    const raw = await readBody(req);
    const { state } = this;
    if (idempotencyKey === undefined) {
      const result = await this.create(raw, req.headers['content-type']);
      if (result.status === 201) state.persist();
      return reply(res, result);
    }
    const previous = state.idempotency.get(idempotencyKey);
    if (previous?.running) {
      return sendJson(res, 409, { detail: 'A request with this Idempotency-Key is still being processed.' });
    }
    if (previous && this.now() - previous.at < IDEMPOTENCY_TTL_MS) return reply(res, previous);
    state.idempotency.set(idempotencyKey, { running: true });
    try {
      const result = await this.create(raw, req.headers['content-type']);
      state.idempotency.set(idempotencyKey, { running: false, ...result, at: this.now() });
      state.persist();
      return reply(res, result);
    } catch (error) {
      state.idempotency.delete(idempotencyKey);
      throw error;
    }
  }

  /** Validates the fields, calls the callback, and stores a credential for the Zoom user its token names. */
  private async create(raw: string, contentType: string | undefined): Promise<Reply> {
    const parsed = parseCreateBody(raw, contentType);
    if ('error' in parsed) return parsed.error;
    const fields = parsed.fields;
    const errors = createFieldErrors(fields);
    if (Object.keys(errors).length > 0) return { status: 400, body: errors };
    const callbackUrl = fields.access_token_callback_url as string;

    const checked = await this.caller.call(callbackUrl);
    if (checked.problem || !checked.zoomUserId) return { status: 400, body: { detail: checked.problem } };
    const app = (fields.oauth_app as string).toLowerCase();
    for (const existing of this.state.credentials.values()) {
      if (existing.oauth_app === app && existing.user_id === checked.zoomUserId) {
        return {
          status: 400,
          body: { detail: 'A credential for this Zoom user already exists.', conflicting_zoom_user_id: checked.zoomUserId },
        };
      }
    }
    const credential = {
      id: randomUUID(),
      oauth_app: app,
      user_id: checked.zoomUserId,
      account_id: null,
      access_token_callback_url: callbackUrl,
      created_at: new Date().toISOString(),
      status: 'healthy' as const,
      meeting_sync_status: 'pending',
      seq: this.state.takeSeq(),
    };
    this.state.credentials.set(credential.id, credential);
    return { status: 201, body: publicView(credential) };
  }

  private list(query: URLSearchParams): Reply {
    const filters = (['oauth_app', 'user_id', 'status'] as const).filter((name) => query.get(name));
    const matching = [...this.state.credentials.values()].filter((c) =>
      filters.every((name) => String(c[name]).toLowerCase() === query.get(name)!.toLowerCase()),
    );
    const { pageSize } = this;
    let page: typeof matching;
    const cursor = query.get('cursor');
    if (cursor) {
      const match = /^([ab]):(\d+)$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
      if (!match) return { status: 404, body: { detail: 'Invalid cursor' } };
      const seq = Number(match[2]);
      page =
        match[1] === 'a' ? matching.filter((c) => c.seq > seq).slice(0, pageSize) : matching.filter((c) => c.seq < seq).slice(-pageSize);
    } else {
      page = matching.slice(0, pageSize);
    }
    const link = (kind: 'a' | 'b', seq: number) => {
      const params = new URLSearchParams(query);
      params.set('cursor', Buffer.from(`${kind}:${seq}`).toString('base64url'));
      return `${this.baseUrl}${COLLECTION}?${params}`;
    };
    const first = page[0];
    const last = page[page.length - 1];
    return {
      status: 200,
      body: {
        next: last && matching.some((c) => c.seq > last.seq) ? link('a', last.seq) : null,
        previous: first && matching.some((c) => c.seq < first.seq) ? link('b', first.seq) : null,
        results: page.map(publicView),
      },
    };
  }

  private handleItem(res: ServerResponse, method: 'GET' | 'DELETE', itemId: string): void {
    const credential = this.state.credentials.get(itemId);
    if (!credential) sendJson(res, 404, { detail: 'Not found.' });
    else if (method === 'GET') sendJson(res, 200, publicView(credential));
    else {
      this.state.credentials.delete(itemId);
      this.state.persist();
      sendJson(res, 204, undefined);
    }
  }
}

function sendFailure(res: ServerResponse, failure: Exclude<RecallFailure, 'hang'>): void {
  const headers: Record<string, string> = {};
  let detail = 'Fake failure.';
  if (failure.status === 429) {
    headers['retry-after'] = String(failure.retryAfterSeconds);
    detail = `Request was throttled. Expected available in ${failure.retryAfterSeconds} seconds.`;
  }
  sendJson(res, failure.status, { detail }, headers);
}

function parseCreateBody(raw: string, contentType = ''): { fields: Record<string, unknown> } | { error: Reply } {
  if (/application\/x-www-form-urlencoded/i.test(contentType)) {
    return { fields: Object.fromEntries(new URLSearchParams(raw)) };
  }
  let parsed: unknown;
  try {
    parsed = raw.trim() === '' ? {} : JSON.parse(raw);
  } catch {
    return { error: { status: 400, body: { detail: 'JSON parse error - Expecting value.' } } };
  }
  if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return { fields: parsed as Record<string, unknown> };
  return { error: { status: 400, body: { non_field_errors: ['Invalid data. Expected a dictionary.'] } } };
}

/** Django REST framework's field errors for a create; empty when the fields are usable. */
function createFieldErrors(fields: Record<string, unknown>): Record<string, string[]> {
  const errors: Record<string, string[]> = {};
  const oauthApp = fields.oauth_app;
  const callbackUrl = fields.access_token_callback_url;
  if (oauthApp === undefined || oauthApp === null || oauthApp === '') errors.oauth_app = ['This field is required.'];
  else if (typeof oauthApp !== 'string' || !UUID.test(oauthApp)) errors.oauth_app = ['Must be a valid UUID.'];
  if (callbackUrl === undefined || callbackUrl === null || callbackUrl === '') {
    errors.access_token_callback_url = ['This field is required.'];
  } else if (typeof callbackUrl !== 'string' || !isHttpUrl(callbackUrl)) {
    errors.access_token_callback_url = ['Enter a valid URL.'];
  }
  return errors;
}

function publicView({ seq: _seq, ...credential }: StoredCredential): FakeRecallCredential {
  return { ...credential };
}

function reply(res: ServerResponse, result: Reply): void {
  sendJson(res, result.status, result.body);
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}
