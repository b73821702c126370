import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { BundleVariant } from '../functions/contract';

/**
 * The installed package's bundles, built by `npm pack` (scripts/build-handlers.ts) into
 * dist/handlers beside the compiled lib/: a CDK app that installs the package synthesizes with
 * them, with no esbuild and no Docker.
 */
const PACKAGED = join(__dirname, '..', 'handlers');

/** The directory of one function's prebuilt bundle (index.mjs and its source map): its Lambda code. */
export function handlerBundleDir(entry: string, variant: BundleVariant): string {
  const root = existsSync(join(PACKAGED, 'manifest.json')) ? PACKAGED : builtFromSources();
  const dir = join(root, variant, entry);
  if (!existsSync(join(dir, 'index.mjs'))) throw new Error(`There is no ${variant} bundle of the Lambda entry "${entry}" in ${root}`);
  return dir;
}

/**
 * In this repository: the bundles of the sources as they are, built on demand by the one build
 * (scripts/build-handlers.ts), which is loaded only here: the package ships neither it nor esbuild.
 */
function builtFromSources(): string {
  const build = require('../scripts/build-handlers') as { ensureHandlerBundles(): string };
  return build.ensureHandlerBundles();
}
