/**
 * The one build of the Lambda bundles: every entry in functions/lambda/*.ts, in every variant
 * (contract BUNDLE_VARIANTS: without and with the Tracer), with the contract's esbuild options,
 * into `<outdir>/<variant>/<entry>/index.mjs` (and its source map), plus `manifest.json`.
 *
 * Who calls it: the construct at synth in this repository (lib/handler-bundles.ts, through
 * `ensureHandlerBundles`: built once per state of the sources, shared by every process), the
 * tests (jest's global setup, the same call), `npm run bench` (sizes and the cold start), and
 * `npm pack` (prepack: `tsx scripts/build-handlers.ts dist/handlers`), so the installed package
 * ships them prebuilt and its users need neither esbuild nor Docker.
 *
 * A new Lambda entry is a new file in functions/lambda/: nothing to add here.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { buildSync, type Metafile, version as esbuildVersion } from 'esbuild';
import { BUNDLE_VARIANTS, BUNDLING, type BundleVariant, TRACER_BUNDLED } from '../functions/contract';

const ROOT = resolve(__dirname, '..');
const ENTRIES_DIR = join(ROOT, 'functions', 'lambda');
/** Bundles of the sources as they are, one directory per state of the sources (see ensureHandlerBundles). */
const CACHE_DIR = join(ROOT, '.build', 'handlers');
/** Besides functions/: what else shapes a bundle. */
const BUILD_INPUTS = ['package-lock.json', 'tsconfig.json', 'scripts/build-handlers.ts'];

export interface BuiltBundle {
  entry: string;
  variant: BundleVariant;
  /** The directory a Lambda function's code is made from (index.mjs, index.mjs.map). */
  dir: string;
  bytes: number;
  mapBytes: number;
  /** Input files and the bytes each adds to the bundle. */
  inputs: Record<string, number>;
}

export interface Manifest {
  /** Hash of everything the bundles were built from. */
  inputs: string;
  esbuild: string;
  entries: string[];
  variants: BundleVariant[];
}

/** The Lambda entries: functions/lambda/*.ts, by name ('callback', 'admin', …). */
export function handlerEntries(): string[] {
  return readdirSync(ENTRIES_DIR)
    .filter((name) => name.endsWith('.ts'))
    .map((name) => name.slice(0, -'.ts'.length))
    .sort();
}

/** Builds every entry in every variant into `outdir` (replaced whole), and writes its manifest. */
export function buildHandlers(outdir: string): BuiltBundle[] {
  const entries = handlerEntries();
  const target = resolve(outdir);
  rmSync(target, { recursive: true, force: true });
  const bundles = (Object.keys(BUNDLE_VARIANTS) as BundleVariant[]).flatMap((variant) => buildVariant(entries, variant, target));
  const manifest: Manifest = {
    inputs: inputsHash(),
    esbuild: esbuildVersion,
    entries,
    variants: Object.keys(BUNDLE_VARIANTS) as BundleVariant[],
  };
  writeFileSync(join(target, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return bundles;
}

/** One esbuild run for every entry of one variant. */
function buildVariant(entries: string[], variant: BundleVariant, outdir: string): BuiltBundle[] {
  return buildEntries(Object.fromEntries(entries.map((entry) => [entry, join(ENTRIES_DIR, `${entry}.ts`)])), variant, outdir);
}

/**
 * Bundles `entries` (name → source file) of one variant into `<outdir>/<variant>/<name>/index.mjs`,
 * with the contract's options: the one place those options become esbuild's. `npm run bench`
 * builds its bare baseline handler through here too, so it is measured as the functions are built.
 */
export function buildEntries(entries: Record<string, string>, variant: BundleVariant, outdir: string): BuiltBundle[] {
  const result = buildSync({
    entryPoints: Object.fromEntries(Object.entries(entries).map(([entry, source]) => [`${entry}/index`, source])),
    outdir: join(outdir, variant),
    outExtension: { '.js': '.mjs' },
    absWorkingDir: ROOT,
    bundle: true,
    format: BUNDLING.format,
    platform: BUNDLING.platform,
    target: BUNDLING.target,
    minify: BUNDLING.minify,
    keepNames: BUNDLING.keepNames,
    sourcemap: BUNDLING.sourceMap,
    sourcesContent: BUNDLING.sourcesContent,
    mainFields: [...BUNDLING.mainFields],
    banner: { js: BUNDLING.banner },
    define: { [TRACER_BUNDLED]: JSON.stringify(String(BUNDLE_VARIANTS[variant].tracer)) },
    // The AWS SDK is bundled too (not left to the runtime): the deployed code runs the SDK the tests ran.
    external: [],
    metafile: true,
    logLevel: 'warning',
  });
  return Object.keys(entries).map((entry) => describe(result.metafile, outdir, entry, variant));
}

function describe(metafile: Metafile, outdir: string, entry: string, variant: BundleVariant): BuiltBundle {
  const dir = join(outdir, variant, entry);
  const key = relative(ROOT, join(dir, 'index.mjs')).split('\\').join('/');
  const output = metafile.outputs[key];
  if (!output) throw new Error(`esbuild reported no output ${key}`);
  return {
    entry,
    variant,
    dir,
    bytes: output.bytes,
    mapBytes: statSync(join(dir, 'index.mjs.map')).size,
    inputs: Object.fromEntries(Object.entries(output.inputs).map(([path, info]) => [path, info.bytesInOutput])),
  };
}

/** Hash of the sources under functions/ and the other build inputs (paths and contents). */
export function inputsHash(): string {
  const hash = createHash('sha256');
  const files = [...filesUnder(join(ROOT, 'functions')), ...BUILD_INPUTS.map((path) => join(ROOT, path))];
  for (const file of files.sort()) {
    hash.update(relative(ROOT, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  return hash.update(esbuildVersion).digest('hex').slice(0, 16);
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((item) =>
    item.isDirectory() ? filesUnder(join(dir, item.name)) : [join(dir, item.name)],
  );
}

/** The inputs' hash, taken once per process: a process builds for the sources as it first found them. */
let hashOfThisProcess: string | undefined;

/**
 * The bundles of the sources as they are now: `.build/handlers/<hash of the inputs>`, built when
 * missing. Built into a directory of its own and renamed into place, so concurrent processes
 * (jest's workers, a synth beside a test run) never see a half-written one; the first rename
 * wins and the others drop their copy.
 */
export function ensureHandlerBundles(): string {
  hashOfThisProcess ??= inputsHash();
  const dir = join(CACHE_DIR, hashOfThisProcess);
  if (existsSync(join(dir, 'manifest.json'))) return dir;
  mkdirSync(CACHE_DIR, { recursive: true });
  const building = join(CACHE_DIR, `.building-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    buildHandlers(building);
    renameSync(building, dir);
  } catch (error) {
    if (!existsSync(join(dir, 'manifest.json'))) throw error;
  } finally {
    rmSync(building, { recursive: true, force: true });
  }
  pruneCache(hashOfThisProcess);
  return dir;
}

/** Bundles of earlier states of the sources: the three newest stay (another checkout state may be in use). */
function pruneCache(current: string): void {
  const others = readdirSync(CACHE_DIR)
    .filter((name) => name !== current && !name.startsWith('.'))
    .map((name) => ({ name, at: statSync(join(CACHE_DIR, name)).mtimeMs }))
    .sort((a, b) => b.at - a.at);
  for (const { name } of others.slice(2)) rmSync(join(CACHE_DIR, name), { recursive: true, force: true });
}

/** `tsx scripts/build-handlers.ts [outdir]`: builds into outdir (default: the cache) and prints the sizes. */
if (require.main === module) {
  const outdir = process.argv[2];
  const started = Date.now();
  if (outdir) {
    const bundles = buildHandlers(outdir);
    for (const bundle of bundles) console.log(`${relative(process.cwd(), bundle.dir)}/index.mjs ${(bundle.bytes / 1024).toFixed(0)} KiB`);
  } else {
    console.log(ensureHandlerBundles());
  }
  console.log(`built in ${Date.now() - started} ms`);
}
