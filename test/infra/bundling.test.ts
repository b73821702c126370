/**
 * The Lambda bundles: one build (scripts/build-handlers.ts) of every entry in functions/lambda,
 * minified ESM with a source map, in two variants. The stack deploys exactly those bytes, the
 * variant without the Powertools Tracer unless `tracing` is on, and that variant holds no trace
 * of the Tracer or the X-Ray SDK.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { App } from 'aws-cdk-lib';
import { BUNDLE_VARIANTS, type BundleVariant } from '../../functions/contract';
import { ZoomTokenStack } from '../../lib/zoom-token-stack';
import { ensureHandlerBundles, handlerEntries } from '../../scripts/build-handlers';
import { CDK_JSON_CONTEXT, TEST_ENV } from './cdk-context';

const TRACER_MARKS = ['@aws-lambda-powertools/tracer', 'aws-xray-sdk', 'cls-hooked'];

/** The Tracer's marks in a bundle: its text, and the files its source map names. */
function tracerMarks(dir: string): string[] {
  const code = readFileSync(join(dir, 'index.mjs'), 'utf8');
  const sources: string[] = JSON.parse(readFileSync(join(dir, 'index.mjs.map'), 'utf8')).sources;
  return TRACER_MARKS.filter((mark) => code.includes(mark) || sources.some((source) => source.includes(mark)));
}

/** The asset directory of every Lambda function of a stack synthesized into `outdir`, by logical id. */
function synthFunctionAssets(outdir: string, context: Record<string, unknown> = {}): Record<string, string> {
  // Asset metadata (the asset's directory on each function) as the CDK CLI asks for it.
  const app = new App({
    context: { ...CDK_JSON_CONTEXT, 'aws:cdk:enable-asset-metadata': true, zoomEventsRoute: 'true', ...context },
    outdir,
  });
  new ZoomTokenStack(app, 'BundledVault', { env: TEST_ENV });
  const template = app.synth().getStackByName('BundledVault').template;
  const functions = Object.entries(template.Resources as Record<string, any>).filter(([, r]) => r.Type === 'AWS::Lambda::Function');
  return Object.fromEntries(functions.map(([id, resource]) => [id, join(outdir, resource.Metadata['aws:asset:path'])]));
}

describe('the one build of the handler bundles', () => {
  const root = ensureHandlerBundles();

  it('builds every entry of functions/lambda in both variants: minified ESM exporting `handler`, with a source map', () => {
    // Act
    const manifest = JSON.parse(readFileSync(join(root, 'manifest.json'), 'utf8'));

    // Assess
    expect(manifest.entries).toEqual(handlerEntries());
    expect(manifest.entries).toEqual(expect.arrayContaining(['admin', 'callback', 'dispatcher', 'recall-health', 'refresh-worker']));
    for (const variant of Object.keys(BUNDLE_VARIANTS) as BundleVariant[]) {
      for (const entry of handlerEntries()) {
        const code = readFileSync(join(root, variant, entry, 'index.mjs'), 'utf8');
        expect(code).toMatch(/export\s*\{[^}]*as handler\s*\}/);
        expect(code.split('\n').length).toBeLessThan(100);
        expect(existsSync(join(root, variant, entry, 'index.mjs.map'))).toBe(true);
      }
    }
  });

  it.each(handlerEntries())('%s without tracing holds none of the Tracer or the X-Ray SDK; with tracing, both', (entry) => {
    // Act
    const plain = tracerMarks(join(root, 'plain', entry));
    const traced = tracerMarks(join(root, 'traced', entry));

    // Assess
    expect(plain).toEqual([]);
    expect(traced).toEqual(TRACER_MARKS);
  });

  it('a bundle without the Tracer refuses to start with tracing on, naming the setting; the traced one loads it', async () => {
    // Prepare: only the tracing flag set; past the Tracer, the cold start fails on the first missing variable.
    const importing = (variant: BundleVariant) =>
      `await import(${JSON.stringify(join(root, variant, 'dispatcher', 'index.mjs'))}).then(() => console.log('started'), (e) => console.log(e.message));`;
    const run = async (variant: BundleVariant) =>
      (
        await promisify(execFile)(process.execPath, ['--input-type=module', '-e', importing(variant)], {
          env: { PATH: process.env.PATH, POWERTOOLS_TRACE_ENABLED: 'true', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
        })
      ).stdout.trim();

    // Act
    const [plain, traced] = await Promise.all([run('plain'), run('traced')]);

    // Assess
    expect(plain).toContain('this bundle was built without the Powertools Tracer: the `tracing` setting');
    expect(traced).toBe('Missing required environment variable TABLE_NAME');
  });
});

describe('the stack deploys the prebuilt bundles', () => {
  let outdir: string;
  beforeEach(() => {
    outdir = mkdtempSync(join(tmpdir(), 'zoom-token-vault-bundles-'));
  });
  afterEach(() => rmSync(outdir, { recursive: true, force: true }));

  it.each([
    ['off', 'plain', {}],
    ['on', 'traced', { tracing: 'true' }],
  ])('with tracing %s, every function runs the %s bundle of its entry, byte for byte', (_tracing, variant, context) => {
    // Prepare
    const root = ensureHandlerBundles();
    const built = new Map(
      handlerEntries().map((entry) => [readFileSync(join(root, variant as string, entry, 'index.mjs'), 'utf8'), entry]),
    );

    // Act
    const assets = synthFunctionAssets(outdir, context);

    // Assess: every function (callback, admin, dispatcher, worker, health check, Zoom events, …) runs a built bundle, each its own entry.
    const deployed = Object.values(assets).map((dir) => built.get(readFileSync(join(dir, 'index.mjs'), 'utf8')));
    expect(deployed.filter((entry) => entry === undefined)).toEqual([]);
    expect(new Set(deployed).size).toBe(deployed.length);
    expect(deployed).toEqual(expect.arrayContaining(['admin', 'callback', 'dispatcher', 'recall-health', 'refresh-worker', 'zoom-events']));
    for (const dir of Object.values(assets)) expect(readdirSync(dir).sort()).toEqual(['index.mjs', 'index.mjs.map']);
  });
});
