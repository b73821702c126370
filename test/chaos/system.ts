/**
 * The ONE place the chaos harness touches the domain's function signatures (refresh internals are
 * changing: handler factories, a Zoom wait bounded by the invocation deadline, lease keep-alive, a
 * 'lost_in_flight' outcome). Everything else in test/chaos speaks in the terms below: ports in,
 * an invocation's start and end, plain results out. Adapt this file when the domain changes.
 *
 * Each function plays one handler invocation the way functions/handlers/* wires it today.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConflictError, NotFoundError } from '../../functions/domain/errors';
import type { Clock, Log, RecallClient, SigningKeyProvider, TokenCipher, TokenStore, ZoomTokenClient } from '../../functions/domain/ports';
import type { RefreshDeps } from '../../functions/domain/refresh';
import { deleteUser, registerUser, syncRecallCredential, type RegistrationDeps } from '../../functions/domain/registration';
import { serveAccessToken } from '../../functions/domain/serve-token';
import { CALLBACK_PATH, verifyCallbackSignature } from '../../functions/domain/signing';
import { sweepDueUsers } from '../../functions/domain/sweep';
import { TIMING } from '../../functions/domain/timing';
import type { TokenPair } from '../../functions/domain/token-record';

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
  publicBaseUrl: string;
  oauthAppId: string;
}

/** Function timeouts of the invocations the harness plays (ms). The sweep's is shortened for the harness. */
export const INVOCATION_MS = {
  callback: TIMING.callbackTimeoutMs,
  admin: TIMING.adminTimeoutMs,
  /** The refresher may run up to 300 s; the harness gives it 30 s reserve + 20 s of sweeping. */
  sweep: TIMING.sweepReserveMs + 20_000,
} as const;

/** The refresher's due window (ms) and its concurrency. */
export const SWEEP_WINDOW_MS = 900_000;
export const SWEEP_CONCURRENCY = 16;

/** How long before expiry the callback refreshes inline (the serve margin). */
export const SERVE_MARGIN_MS = TIMING.serveMarginMs;

function refreshDeps(ports: Ports, invocationEnd: number): RefreshDeps {
  return {
    store: ports.store,
    cipher: ports.cipher,
    zoom: ports.zoom,
    clock: ports.clock,
    logger: ports.logger,
    saveUntil: invocationEnd - TIMING.endReserveMs,
  };
}

export type CallbackResult = { ok: true; accessToken: string } | { ok: false; error: string };

/** The token callback (functions/handlers/callback.ts), after its signature check. */
export async function callback(ports: Ports, userId: string, startedAt: number): Promise<CallbackResult> {
  try {
    const token = await serveAccessToken(userId, refreshDeps(ports, startedAt + INVOCATION_MS.callback), {
      deadline: startedAt + TIMING.answerBudgetMs,
    });
    return { ok: true, accessToken: token.accessToken };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
  }
}

export interface SweepResult {
  due: number;
  refreshed: number;
  errors: number;
  /** Counts by outcome, as the domain reports them. */
  detail: Record<string, number>;
}

/** One refresher invocation (functions/handlers/refresher.ts). */
export async function sweep(ports: Ports, startedAt: number): Promise<SweepResult> {
  const end = startedAt + INVOCATION_MS.sweep;
  const summary = await sweepDueUsers(refreshDeps(ports, end), {
    windowMs: SWEEP_WINDOW_MS,
    concurrency: SWEEP_CONCURRENCY,
    deadline: end - TIMING.sweepReserveMs,
  });
  const { due, refreshed, errors, durationMs: _durationMs, ...rest } = summary;
  return { due, refreshed, errors, detail: rest as unknown as Record<string, number> };
}

function registrationDeps(ports: Ports, config: RegistrationConfig): RegistrationDeps {
  return { ...ports, publicBaseUrl: config.publicBaseUrl, oauthAppId: config.oauthAppId };
}

/** The admin PUT of a user's tokens (a new grant, or a replayed PUT). */
export async function putTokens(
  ports: Ports,
  config: RegistrationConfig,
  userId: string,
  tokens: TokenPair,
  accessTokenExpiresAt: number,
): Promise<void> {
  await registerUser(userId, { tokens, accessTokenExpiresAt }, registrationDeps(ports, config));
}

/** The admin DELETE. */
export async function removeUser(ports: Ports, userId: string): Promise<void> {
  await deleteUser(userId, { store: ports.store, recall: ports.recall });
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
  serve: (userId: string) => Promise<CallbackResult>,
): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://callback');
      if (url.pathname !== CALLBACK_PATH) {
        res.writeHead(404).end();
        return;
      }
      let userId: string;
      try {
        userId = verifyCallbackSignature(
          { userId: url.searchParams.get('user_id') ?? '', keyId: url.searchParams.get('kid') ?? '', signature: url.searchParams.get('sig') ?? '' },
          await signingKeys.keyring(),
        );
      } catch {
        res.writeHead(403).end();
        return;
      }
      const result = await serve(userId);
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
