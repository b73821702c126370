/**
 * Typed errors mirroring the admin API's answers (functions/handlers/http.ts): JSON
 * `{error, message, field?, upstream_status?, upstream_detail?}`. Messages are built from the
 * method, the route, the status and the service's own message (which never holds a token); never
 * from a request body or a header.
 */

export interface ErrorBody {
  error?: string;
  message?: string;
  field?: string;
  upstream_status?: number;
  upstream_detail?: string;
}

export interface VaultErrorInit {
  /** HTTP status; 0 when no answer came (network error, timeout). */
  status: number;
  /** The API's `error` code, e.g. `invalid_request`, `not_found`, `recall_error`; `network_error` when no answer came. */
  code: string;
  message: string;
  /** "METHOD /route" the error came from, with the user id (not a secret). */
  request?: string;
  cause?: unknown;
}

export class VaultError extends Error {
  readonly status: number;
  readonly code: string;
  readonly request?: string;

  constructor(init: VaultErrorInit) {
    super(init.request ? `${init.request}: ${init.message}` : init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = new.target.name;
    this.status = init.status;
    this.code = init.code;
    this.request = init.request;
  }
}

/** 400: the request was refused; `field` names what was wrong (`body`, `access_token`, `userId`, …). */
export class ValidationError extends VaultError {
  readonly field?: string;
  constructor(init: VaultErrorInit & { field?: string }) {
    super(init);
    this.field = init.field;
  }
}

/** 401/403: the bearer token or the SigV4 signature (IAM identity) was refused. */
export class AuthError extends VaultError {}

/** 404: no credential for this user. */
export class NotFoundError extends VaultError {}

/**
 * 409 `reauth_required` (the user's Zoom grant is dead) or `deauthorized` (the user removed the
 * app at Zoom): the user must go through Zoom's OAuth flow again.
 */
export class ReauthRequiredError extends VaultError {}

/** 409 `concurrent_update`: concurrent requests kept changing the same user; try again. */
export class ConflictError extends VaultError {}

/**
 * 409 `scope_missing` (bot-token URLs): the user's Zoom grant lacks the scope a kind needs; the
 * message names it. The user must authorize the app again with that scope.
 */
export class MissingScopeError extends VaultError {}

/** 413: the body was over the API's limit (16 KB). */
export class PayloadTooLargeError extends VaultError {}

/** 503 from the access-token route (`refresh_failed`, `refresh_in_progress`): no token right now; `reason` is the API's code. */
export class TokenUnavailableError extends VaultError {
  get reason(): string {
    return this.code;
  }
}

/** 502: an upstream (Recall, Zoom) failed after the service's retries; its status and words when it answered. */
export class UpstreamError extends VaultError {
  readonly upstreamStatus?: number;
  readonly upstreamDetail?: string;
  constructor(init: VaultErrorInit & { upstreamStatus?: number; upstreamDetail?: string }) {
    super(init);
    this.upstreamStatus = init.upstreamStatus;
    this.upstreamDetail = init.upstreamDetail;
  }
}

/** 502 `recall_error`: Recall failed; the tokens stay stored (`status: recall_failed`) and the same call again finishes the job. */
export class RecallError extends UpstreamError {}

/** No HTTP answer (connection refused or reset, DNS, timeout) after the client's retries. */
export class NetworkError extends VaultError {}

/** The error for an HTTP answer that is not a success. */
export function errorFromResponse(status: number, body: ErrorBody | undefined, request: string): VaultError {
  const code = typeof body?.error === 'string' ? body.error : defaultCode(status);
  const message = typeof body?.message === 'string' ? body.message : `HTTP ${status}`;
  const init: VaultErrorInit = { status, code, message: `${status} ${code}: ${message}`, request };
  if (status === 400) return new ValidationError({ ...init, field: typeof body?.field === 'string' ? body.field : undefined });
  if (status === 401 || status === 403) return new AuthError(init);
  if (status === 404) return new NotFoundError(init);
  if (status === 409 && (code === 'reauth_required' || code === 'deauthorized')) return new ReauthRequiredError(init);
  if (status === 409 && code === 'scope_missing') return new MissingScopeError(init);
  if (status === 409) return new ConflictError(init);
  if (status === 413) return new PayloadTooLargeError(init);
  if (status === 503 && body?.error !== undefined) return new TokenUnavailableError(init);
  if (status === 502 && body?.error !== undefined && /_error$/.test(code)) {
    const upstream = {
      ...init,
      upstreamStatus: typeof body.upstream_status === 'number' ? body.upstream_status : undefined,
      upstreamDetail: typeof body.upstream_detail === 'string' ? body.upstream_detail : undefined,
    };
    return code === 'recall_error' ? new RecallError(upstream) : new UpstreamError(upstream);
  }
  return new VaultError(init);
}

function defaultCode(status: number): string {
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  // The service's own 404 always names its code; a bare 404 is the gateway's: no such route.
  if (status === 404) return 'route_not_found';
  if (status === 413) return 'payload_too_large';
  if (status === 429) return 'too_many_requests';
  return status >= 500 ? 'server_error' : 'http_error';
}
