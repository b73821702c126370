// `npm run build` (and `npm pack`): the client as ES modules and as CommonJS, each with its type
// declarations, from the same sources; a package.json in each output says which format it holds.
// Skipped when the output is newer than every source (the root package's build runs it too).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const FORMATS = [
  { config: 'tsconfig.esm.json', dir: 'esm', type: 'module' },
  { config: 'tsconfig.cjs.json', dir: 'cjs', type: 'commonjs' },
];
const stamps = FORMATS.map(({ dir }) => join(here, 'dist', dir, 'package.json'));

function upToDate() {
  if (!stamps.every((stamp) => existsSync(stamp))) return false;
  const inputs = readdirSync(here).filter((name) => /\.(ts|json|mjs)$/.test(name));
  const newestInput = Math.max(...inputs.map((name) => statSync(join(here, name)).mtimeMs));
  return stamps.every((stamp) => statSync(stamp).mtimeMs > newestInput);
}

if (upToDate() && !process.argv.includes('--force')) {
  console.log('zoom-token-vault-client: dist/ is up to date');
} else {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  rmSync(join(here, 'dist'), { recursive: true, force: true });
  for (const { config, dir, type } of FORMATS) {
    execFileSync(process.execPath, [tsc, '-p', join(here, config)], { stdio: 'inherit' });
    // Written last: it marks a complete build of this format.
    writeFileSync(join(here, 'dist', dir, 'package.json'), `${JSON.stringify({ type })}\n`);
  }
}
