/**
 * The package's entry (`import { ZoomTokenVault } from 'zoom-token-vault'`): the construct, the
 * stack around it, their settings, and the names a CDK app may need. The Lambda code ships
 * prebuilt (dist/handlers): synth needs no esbuild and no Docker.
 */
export { ZoomTokenVault, resolveVaultSettings, VaultLifecycle } from './zoom-token-vault';
export type { ZoomTokenVaultProps, VaultOptions, VaultSettings } from './zoom-token-vault';
export type { CallbackWafOptions } from './settings';
export { ZoomTokenStack, RECALL_REGIONS } from './zoom-token-stack';
export type { ZoomTokenStackProps, RecallRegion } from './zoom-token-stack';
export { TokenFunction } from './token-function';
export type { TokenFunctionProps } from './token-function';
export { ADMIN_ROUTE_KEYS, CALLBACK_PATH, EVENT_DETAIL_TYPES, EVENT_SOURCE, METRIC, METRICS_NAMESPACE } from '../functions/contract';
export type { AdminRouteKey } from '../functions/contract';
