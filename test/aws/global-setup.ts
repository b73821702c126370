/**
 * Jest global setup: the contract configurations synthesized once per run, before any test file
 * starts, bundles included (test/aws/synth.ts in a child process), so every worker reads the same
 * templates. Kept under node_modules/.cache, keyed by a hash of everything that shapes them: a
 * run on unchanged sources synthesizes nothing. Workers find the directory in CONTRACT_DIR_ENV.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/** Read by test/aws/contract-dir.ts in the workers (which inherit the environment). */
export const CONTRACT_DIR_ENV = 'ZOOM_TOKEN_VAULT_CONTRACT_DIR';

const ROOT = join(__dirname, '..', '..');
/** What the synthesized templates and bundles depend on. */
const INPUTS = [
  'lib',
  'functions',
  'bin',
  'scripts/build-handlers.ts',
  'test/aws/configurations.ts',
  'test/aws/synth.ts',
  'cdk.json',
  'package-lock.json',
];

function files(path: string): string[] {
  if (!existsSync(path)) return [];
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path)
    .sort()
    .flatMap((name) => files(join(path, name)));
}

function inputsHash(): string {
  const hash = createHash('sha256');
  for (const file of INPUTS.flatMap((input) => files(join(ROOT, input)))) {
    hash.update(relative(ROOT, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

export default async function globalSetup(): Promise<void> {
  const cache = join(ROOT, 'node_modules', '.cache', 'zoom-token-vault-aws-contract');
  const dir = join(cache, inputsHash());
  if (!existsSync(join(dir, 'complete'))) {
    const building = `${dir}.${process.pid}.tmp`;
    rmSync(building, { recursive: true, force: true });
    const synth = spawnSync(process.execPath, [require.resolve('tsx/cli'), join(ROOT, 'test', 'aws', 'synth.ts'), building], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    if (synth.status !== 0) throw new Error(`synthesizing the AWS contract configurations failed:\n${synth.stderr}${synth.stdout}`);
    mkdirSync(join(building, 'complete'));
    // Older hashes are of sources that changed since; a concurrent run may have finished first.
    for (const name of existsSync(cache) ? readdirSync(cache) : []) {
      if (!name.endsWith('.tmp') && join(cache, name) !== dir) rmSync(join(cache, name), { recursive: true, force: true });
    }
    if (existsSync(dir)) rmSync(building, { recursive: true, force: true });
    else renameSync(building, dir);
  }
  process.env[CONTRACT_DIR_ENV] = dir;
}
