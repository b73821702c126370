/**
 * `npm run build` (run by `npm pack` as prepack): what the packed `zoom-token-vault` package
 * ships, in dist/:
 * - lib/, functions/, cli/: the construct, the stack and the CLI as CommonJS with declarations
 *   (tsconfig.build.json), so neither a CDK app nor `npx zoom-token-vault` needs tsx;
 * - handlers/: the Lambda bundles, prebuilt by the one build (scripts/build-handlers.ts), so a
 *   CDK app synthesizes with no esbuild and no Docker.
 * The client package (client/) is built first: the CLI's declarations import its types.
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildHandlers } from './build-handlers';

const ROOT = join(__dirname, '..');
const run = (command: string, args: string[]) => execFileSync(command, args, { cwd: ROOT, stdio: 'inherit' });

const started = Date.now();
run(process.execPath, [join(ROOT, 'client', 'build.mjs')]);
rmSync(join(ROOT, 'dist'), { recursive: true, force: true });
run(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json')]);
const bundles = buildHandlers(join(ROOT, 'dist', 'handlers'));
console.log(`built dist/ (${bundles.length} Lambda bundles) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
