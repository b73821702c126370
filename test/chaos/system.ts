/**
 * The ONE place the chaos harness touches the domain's function signatures. Everything else in
 * test/chaos speaks in the terms below: ports in, an invocation's start, plain results out.
 *
 * Each function plays one handler invocation the way functions/handlers/* wires it today.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConflictError, NotFoundError } from '../../functions/domain/errors';
import { CALLBACK_PATH } from '../../functions/contract';
import { dispatchDueUsers } from '../../functions/domain/dispatch';
import type {
  Clock,
  EventPublisher,
  Log,
  RecallClient,
  RefreshQueue,
  SigningKeyProvider,
  TokenCipher,
  TokenStore,
  ZoomTokenClient,
} from '../../functions/domain/ports';
import { refreshRequestedUser } from '../../functions/domain/refresh-work';
import { deleteUser, registerUser, syncRecallCredential, type RegistrationDeps } from '../../functions/domain/registration';
import { serveAccessToken } from '../../functions/domain/serve-token';
import { type CallbackSubject, verifyCallbackSignature } from '../../functions/domain/signing';
import { TIMING } from '../../functions/domain/timing';
import type { TokenPair } from '../../functions/domain/token-record';
import { deauthorizeZoomUser } from '../../functions/domain/zoom-deauthorization';

/** What one process (Lambda container) has: its own adapters. */
export interface Ports {
  store: TokenStore;
  cipher: TokenCipher;
  zoom: ZoomTokenClient;
  recall: RecallClient;
  signingKeys: SigningKeyProvider;
  clock: Clock;
  logger: Log;
}

export interface RegistrationConfig {
  /** The callback route's URL (no query). */
  callbackUrl: string;
  oauthAppId: string;
}

/**
 * Function timeouts of the invocations the harness plays (ms). A run may shorten the worker's
 * (the reduced run in npm test: a Zoom that never answers then costs seconds, not a minute, and
 * the late answers of the scenarios still fit in it).
 */
export const INVOCATION_MS = {
  callback: TIMING.callbackTimeoutMs,
  admin: TIMING.adminTimeoutMs,
  dispatch: 30_000,
  worker: TIMING.workerTimeoutMs,
  /** Zoom's events (the stack gives the function the admin's timeout). */
  events: TIMING.adminTimeoutMs,
};

/** The refresh window (ms): a token expiring within it is due. */
export const REFRESH_WINDOW_MS = 900_000;
/** One SQS batch per worker invocation. */
export const WORKER_BATCH = 10;

export type CallbackResult = { ok: true; accessToken: string } | { ok: false; error: string };

/**
 * The token callback (functions/handlers/callback.ts), after its signature check. A refresh it
 * asks for goes to `requestRefresh`, the harness's queue: a worker invocation in another process.
 */
export async function callback(
  ports: Ports,
  subject: CallbackSubject,
  startedAt: number,
  requestRefresh: (userId: string) => void,
): Promise<CallbackResult> {
  const refreshQueue: RefreshQueue = {
    enqueue: async (requests) => {
      for (const request of requests) requestRefresh(request.userId);
    },
  };
  try {
    const token = await serveAccessToken(
      subject.userId,
      { ...ports, refreshQueue },
      {
        deadline: startedAt + TIMING.answerBudgetMs,
        registrationId: subject.registrationId,
      },
    );
    return { ok: true, accessToken: token.accessToken };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
  }
}

/** One dispatcher invocation (functions/handlers/dispatcher.ts): the due users, most urgent first. */
export async function dispatch(ports: Ports, startedAt: number): Promise<string[]> {
  const handedOut: string[] = [];
  const refreshQueue: RefreshQueue = { enqueue: async (requests) => void handedOut.push(...requests.map((request) => request.userId)) };
  await dispatchDueUsers(
    { ...ports, refreshQueue },
    { windowMs: REFRESH_WINDOW_MS, deadline: startedAt + INVOCATION_MS.dispatch - 10_000, maxUsers: Number.MAX_SAFE_INTEGER },
  );
  return handedOut;
}

export interface WorkResult {
  /** Outcome kinds, one per user. */
  outcomes: string[];
  /** Users whose message would go back to the queue (batch item failures). */
  retry: string[];
}

/** One refresh-worker invocation (functions/handlers/refresh-worker.ts) over a batch of users; `onOutcome` hears each user's outcome. */
export async function work(
  ports: Ports,
  userIds: string[],
  startedAt: number,
  timeoutMs: number,
  onOutcome?: (userId: string, kind: string) => void,
): Promise<WorkResult> {
  const deadline = startedAt + timeoutMs - TIMING.endReserveMs;
  const result: WorkResult = { outcomes: [], retry: [] };
  await Promise.all(
    userIds.map(async (userId) => {
      try {
        const outcome = await refreshRequestedUser(userId, { ...ports, deadline }, { windowMs: REFRESH_WINDOW_MS });
        result.outcomes.push(outcome.kind);
        onOutcome?.(userId, outcome.kind);
        if (outcome.kind === 'retryable' || outcome.kind === 'answer_lost') result.retry.push(userId);
      } catch {
        result.outcomes.push('error');
        onOutcome?.(userId, 'error');
        result.retry.push(userId);
      }
    }),
  );
  return result;
}

function registrationDeps(ports: Ports, config: RegistrationConfig): RegistrationDeps {
  return { ...ports, callbackUrl: config.callbackUrl, oauthAppId: config.oauthAppId };
}

/** The admin PUT of a user's tokens (a new grant, or a replayed PUT); its lifecycle events go to `events`. */
export async function putTokens(
  ports: Ports,
  config: RegistrationConfig,
  userId: string,
  put: { tokens: TokenPair; accessTokenExpiresAt: number },
  events?: EventPublisher,
): Promise<{ created: boolean }> {
  const { created } = await registerUser(userId, put, { ...registrationDeps(ports, config), ...(events ? { events } : {}) });
  return { created };
}

/** The admin DELETE. */
export async function removeUser(ports: Ports, userId: string): Promise<void> {
  await deleteUser(userId, { store: ports.store, recall: ports.recall });
}

/** One Zoom events invocation (functions/handlers/zoom-events.ts) for a verified app_deauthorized; the users deauthorized. */
export async function deauthorize(ports: Ports, event: { zoomUserId: string; deauthorizedAt: number }): Promise<number> {
  const done = await deauthorizeZoomUser(event, { store: ports.store, recall: ports.recall, clock: ports.clock, logger: ports.logger });
  return done.length;
}

/** The admin re-sync of the Recall credential. */
export async function resyncRecall(ports: Ports, config: RegistrationConfig, userId: string): Promise<void> {
  await syncRecallCredential(userId, registrationDeps(ports, config));
}

export function isNotFound(error: unknown): boolean {
  return error instanceof NotFoundError;
}

/**
 * The callback's HTTP face, for Recall (the fake) to call during registration: verifies the signed
 * URL and hands the user to `serve` (which plays a callback invocation in some process).
 */
export async function startCallbackServer(
  signingKeys: SigningKeyProvider,
  serve: (subject: CallbackSubject) => Promise<CallbackResult>,
): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://callback');
      if (url.pathname !== CALLBACK_PATH) {
        res.writeHead(404).end();
        return;
      }
      let subject: CallbackSubject;
      try {
        subject = verifyCallbackSignature(
          {
            userId: url.searchParams.get('user_id') ?? '',
            registrationId: url.searchParams.get('reg') ?? undefined,
            keyId: url.searchParams.get('kid') ?? '',
            signature: url.searchParams.get('sig') ?? '',
          },
          await signingKeys.keyring(),
        );
      } catch {
        res.writeHead(403).end();
        return;
      }
      const result = await serve(subject);
      if (!result.ok) {
        res.writeHead(503, { 'content-type': 'text/plain' }).end('unavailable');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(result.accessToken);
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A conditional write lost (the store's ConflictError). */
export function isConflict(error: unknown): boolean {
  return error instanceof ConflictError;
}
