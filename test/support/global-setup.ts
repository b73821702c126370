/**
 * Before any test file: the Lambda bundles of the sources as they are, built once by the one
 * build (scripts/build-handlers.ts) for every test that synthesizes a stack or runs a bundle.
 */
import { ensureHandlerBundles } from '../../scripts/build-handlers';

export default function globalSetup(): void {
  ensureHandlerBundles();
}
