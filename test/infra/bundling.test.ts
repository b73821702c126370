/**
 * The one infra test that bundles the functions for real (the others skip bundling): every
 * Lambda entry builds with the local esbuild (no Docker, no network) into a minified ESM bundle
 * of the handler, with its source map.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { ZoomTokenStack } from '../../lib/zoom-token-stack';
import { CDK_JSON_CONTEXT, TEST_ENV } from './cdk-context';

test('every function bundles with the local esbuild into minified ESM with a source map', () => {
  // Prepare
  const outdir = mkdtempSync(join(tmpdir(), 'zoom-token-vault-bundles-'));
  // CDK announces each bundle on stderr; the test's output stays quiet.
  const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    const app = new App({ context: { ...CDK_JSON_CONTEXT, zoomEventsRoute: 'true' }, outdir });
    new ZoomTokenStack(app, 'BundledVault', { env: TEST_ENV });

    // Act
    app.synth();
    const assetDirs = readdirSync(outdir)
      .filter((name) => name.startsWith('asset.'))
      .map((name) => join(outdir, name))
      .filter((dir) => existsSync(join(dir, 'index.mjs')));

    // Assess: seven functions (callback, bot tokens, admin, dispatcher, worker, health check, Zoom events)
    expect(assetDirs).toHaveLength(7);
    for (const dir of assetDirs) {
      const code = readFileSync(join(dir, 'index.mjs'), 'utf8');
      expect(code).toMatch(/export\s*\{[^}]*as handler\s*\}/);
      expect(code.split('\n').length).toBeLessThan(100);
      expect(existsSync(join(dir, 'index.mjs.map'))).toBe(true);
    }
  } finally {
    stderr.mockRestore();
    rmSync(outdir, { recursive: true, force: true });
  }
});
