/**
 * The HTTP API's routes as API Gateway route keys ("METHOD /path"): one list for the stack
 * (lib/zoom-token-stack.ts), the local runtime and the admin handler's dispatch.
 */
import { CALLBACK_PATH } from '../domain/signing';

export const CALLBACK_ROUTE_KEY = `GET ${CALLBACK_PATH}`;

export const ADMIN_ROUTE_KEYS = [
  'PUT /users/{userId}/zoom-credential',
  'GET /users/{userId}/zoom-credential',
  'DELETE /users/{userId}/zoom-credential',
  'GET /users/{userId}/zoom-credential/access-token',
  'POST /users/{userId}/zoom-credential/recall-sync',
] as const;

export type AdminRouteKey = (typeof ADMIN_ROUTE_KEYS)[number];

export function splitRouteKey(routeKey: string): { method: string; path: string } {
  const [method, path] = routeKey.split(' ');
  return { method, path };
}
