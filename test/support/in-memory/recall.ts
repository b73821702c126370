/**
 * Recall.ai's Zoom OAuth credential API in memory, for the domain's RecallClient port: one
 * credential per (OAuth app, Zoom user); a second create for the same Zoom user throws
 * RecallConflictError naming that user, as the real client does for Recall's 400. A completed
 * create replays its answer for the same idempotency key. Records every call; `gate` is awaited
 * before each call (throw from it, or use `failNext`, to make a call fail).
 */
import { randomUUID } from 'node:crypto';
import { RecallConflictError, UpstreamError } from '../../../functions/domain/errors';
import type { RecallClient, RecallCredential } from '../../../functions/domain/ports';

export type RecallMethod = 'create' | 'list' | 'get' | 'delete';

export interface RecallCall {
  method: RecallMethod;
  /** The credential id (get, delete), or the callback URL (create). */
  target?: string;
  idempotencyKey?: string;
  zoomUserId?: string;
}

interface StoredCredential extends RecallCredential {
  oauthAppId: string;
}

export interface ScriptedRecallOptions {
  /**
   * Which Zoom user a callback URL's token belongs to: Recall calls the URL and asks Zoom. By
   * default the URL's `user_id` through `zoomUserOf` (initially `zoom-<user_id>`). May throw,
   * as Recall's 400 for a callback that did not answer a usable token.
   */
  resolveZoomUser?: (callbackUrl: string) => Promise<string>;
}

export function recallUnavailable(status = 503): UpstreamError {
  return new UpstreamError('recall', 'Recall request failed', status, 'Service Unavailable');
}

export class ScriptedRecall implements RecallClient {
  private readonly credentials = new Map<string, StoredCredential>();
  private readonly idempotent = new Map<string, RecallCredential>();
  private readonly failures: Record<RecallMethod, Array<() => Error>> = { create: [], list: [], get: [], delete: [] };
  /** Zoom user per vault user id, for the default `resolveZoomUser`. */
  readonly zoomUsers = new Map<string, string>();
  readonly calls: RecallCall[] = [];
  gate?: (call: RecallCall) => Promise<void>;

  constructor(private readonly options: ScriptedRecallOptions = {}) {}

  zoomUserOf(userId: string): string {
    return this.zoomUsers.get(userId) ?? `zoom-${userId}`;
  }

  /** The next `count` calls of `method` throw `makeError()` (a 503 UpstreamError by default). */
  failNext(method: RecallMethod, count = 1, makeError: () => Error = () => recallUnavailable()): void {
    for (let i = 0; i < count; i++) this.failures[method].push(makeError);
  }

  /** Stored credentials, oldest first (copies). */
  list(): RecallCredential[] {
    return [...this.credentials.values()].map(({ oauthAppId: _app, ...credential }) => ({ ...credential }));
  }

  count(method: RecallMethod): number {
    return this.calls.filter((call) => call.method === method).length;
  }

  async createZoomOAuthCredential(input: { oauthAppId: string; callbackUrl: string; idempotencyKey: string }): Promise<RecallCredential> {
    await this.enter({ method: 'create', target: input.callbackUrl, idempotencyKey: input.idempotencyKey });
    const replay = this.idempotent.get(input.idempotencyKey);
    if (replay) return { ...replay };
    const zoomUserId = await this.resolve(input.callbackUrl);
    for (const existing of this.credentials.values()) {
      if (existing.oauthAppId === input.oauthAppId && existing.zoomUserId === zoomUserId) {
        throw new RecallConflictError(zoomUserId, undefined, 'A credential for this Zoom user already exists.');
      }
    }
    const credential: StoredCredential = {
      id: randomUUID(),
      status: 'healthy',
      zoomUserId,
      callbackUrl: input.callbackUrl,
      oauthAppId: input.oauthAppId,
    };
    this.credentials.set(credential.id, credential);
    const { oauthAppId: _app, ...answer } = credential;
    this.idempotent.set(input.idempotencyKey, answer);
    return { ...answer };
  }

  async listZoomOAuthCredentials(filter: { oauthAppId: string; zoomUserId?: string }): Promise<RecallCredential[]> {
    await this.enter({ method: 'list', zoomUserId: filter.zoomUserId });
    return [...this.credentials.values()]
      .filter((credential) => credential.oauthAppId === filter.oauthAppId)
      .filter((credential) => filter.zoomUserId === undefined || credential.zoomUserId === filter.zoomUserId)
      .map(({ oauthAppId: _app, ...credential }) => ({ ...credential }));
  }

  async getZoomOAuthCredential(id: string): Promise<RecallCredential | undefined> {
    await this.enter({ method: 'get', target: id });
    const credential = this.credentials.get(id);
    if (!credential) return undefined;
    const { oauthAppId: _app, ...answer } = credential;
    return { ...answer };
  }

  async deleteZoomOAuthCredential(id: string): Promise<void> {
    await this.enter({ method: 'delete', target: id });
    this.credentials.delete(id);
  }

  private async enter(call: RecallCall): Promise<void> {
    this.calls.push(call);
    await this.gate?.({ ...call });
    const failure = this.failures[call.method].shift();
    if (failure) throw failure();
  }

  private async resolve(callbackUrl: string): Promise<string> {
    if (this.options.resolveZoomUser) return this.options.resolveZoomUser(callbackUrl);
    const userId = new URL(callbackUrl).searchParams.get('user_id');
    if (!userId) throw new UpstreamError('recall', 'Recall request failed', 400, 'callback URL answered no token');
    return this.zoomUserOf(userId);
  }
}
