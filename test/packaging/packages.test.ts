/**
 * The packages as their users get them: `npm pack` (which builds them: prepack), then an install
 * of the two tarballs into an empty project outside the repository, from the npm cache (CI's
 * `npm ci` filled it; --prefer-offline asks the registry only for what the cache lacks), and the
 * three uses: the client from .mjs (the README's snippet, as written), .cjs and .ts (type-checked,
 * top-level await), the construct synthesized in a CDK app with no esbuild and no Docker, and the
 * CLI as compiled JavaScript. The project installs neither esbuild, tsx nor typescript: the
 * type check and the .ts run borrow the repository's, as an editor would.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { LocalRuntime } from '../../local/runtime';
import { adminCall, startTestRuntime } from '../support/test-runtime';

const ROOT = join(__dirname, '..', '..');
const run = promisify(execFile);
let work: string;
let project: string;
let runtime: LocalRuntime;
/** The uses run side by side, each a few child processes (a type check, a synth): generous on a loaded machine. */
const USE_TIMEOUT_MS = 180_000;

/** npm's own settings for the run that started jest (local prefix, workspace…) must not steer the npm runs here. */
function npmEnv(): NodeJS.ProcessEnv {
  const kept = ['npm_config_cache', 'npm_config_userconfig', 'npm_config_globalconfig', 'npm_config_cafile', 'npm_config_registry'];
  return Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name) || kept.includes(name.toLowerCase())),
  ) as NodeJS.ProcessEnv;
}

const npm = (args: string[], cwd: string) => run('npm', args, { cwd, env: npmEnv(), maxBuffer: 64 * 1024 * 1024 });

/** In the installed project, with nothing but node on the PATH (no Docker, no npx, no global tools). */
const node = (args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, args, {
    cwd: project,
    env: { PATH: dirname(process.execPath), HOME: work, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
  });

/** The README's client snippet, pointed at this test's runtime (its own ports) instead of npm start's. */
function readmeSnippet(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const snippet = /<!-- client snippet: [^>]*-->\s*```js\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!snippet) throw new Error('README.md has no client snippet');
  return snippet.replaceAll('http://127.0.0.1:3002', runtime.fakeZoom!.url).replaceAll('http://127.0.0.1:3000', runtime.url);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'zoom-token-vault-packages-'));
  project = join(work, 'project');
  const packs = join(work, 'packs');
  mkdirSync(packs);
  mkdirSync(project);
  await npm(['pack', '--workspaces', '--include-workspace-root', '--pack-destination', packs], ROOT);
  const tarballs = readdirSync(packs).map((name) => join(packs, name));
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'adopter', private: true, type: 'module' }));
  const peers = ['aws-cdk-lib', 'constructs'].map((name) => `${name}@${require(`${name}/package.json`).version}`);
  await npm(['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', ...tarballs, ...peers], project);
  runtime = await startTestRuntime();
  // A user for the uses below (the README snippet registers its own): they run side by side.
  const registered = await adminCall(runtime, 'PUT', '/users/bob/zoom-credential', runtime.fakeZoom!.authorize('zoom-bob'));
  if (registered.status !== 201) throw new Error(`registering bob: ${registered.status}`);
}, 300_000);

afterAll(async () => {
  await runtime?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('the project holds the packages and their dependencies, and no esbuild, tsx or typescript', () => {
  // Act
  const installed = (name: string) => existsSync(join(project, 'node_modules', name, 'package.json'));

  // Assess
  expect(['zoom-token-vault', 'zoom-token-vault-client', 'aws-cdk-lib', 'constructs', 'commander'].filter(installed)).toHaveLength(5);
  expect(['esbuild', 'tsx', 'typescript', '@aws-lambda-powertools/tracer', 'zod'].filter(installed)).toEqual([]);
  expect(existsSync(join(project, 'node_modules', 'zoom-token-vault', 'cli', 'main.ts'))).toBe(false);
});

test.concurrent(
  'the client from an .mjs file: the README snippet, as written, registers a user against the local runtime',
  async () => {
    // Prepare
    writeFileSync(join(project, 'try-vault.mjs'), readmeSnippet());

    // Act
    const { stdout } = await node(['try-vault.mjs'], { VAULT_ADMIN_TOKEN: runtime.adminToken });

    // Assess
    expect(stdout).toMatch(/^registered alice active\naccess token valid until \d{4}-\d\d-\d\dT/);
    expect(runtime.fakeRecall!.credentials().some((credential) => credential.user_id === 'zoom-alice')).toBe(true);
  },
  USE_TIMEOUT_MS,
);

test.concurrent(
  'the client from a .cjs file (require)',
  async () => {
    // Prepare
    const script = `
    const { ZoomTokenVaultClient, NotFoundError } = require('zoom-token-vault-client');
    const vault = new ZoomTokenVaultClient({ baseUrl: process.env.VAULT_API_URL, auth: { kind: 'bearer', token: process.env.VAULT_ADMIN_TOKEN } });
    vault.get('nobody').catch((error) => {
      console.log(error instanceof NotFoundError, error.status, error.code);
    });`;
    writeFileSync(join(project, 'lookup.cjs'), script);

    // Act
    const { stdout } = await node(['lookup.cjs'], { VAULT_API_URL: runtime.url, VAULT_ADMIN_TOKEN: runtime.adminToken });

    // Assess
    expect(stdout.trim()).toBe('true 404 not_found');
  },
  USE_TIMEOUT_MS,
);

test.concurrent(
  'the client and the construct from TypeScript (ESM with top-level await, and CommonJS): type-checked, and the client run',
  async () => {
    // Prepare
    const client = `
    import { ZoomTokenVaultClient, type UserStatus, type UserStatusName } from 'zoom-token-vault-client';
    const vault = new ZoomTokenVaultClient({ baseUrl: process.env.VAULT_API_URL!, auth: { kind: 'bearer', token: process.env.VAULT_ADMIN_TOKEN! } });
    const state: UserStatusName = 'active';
    const users: UserStatus[] = [];
    for await (const user of vault.listAll({ status: state })) users.push(user);
    console.log(users.map((user) => user.user_id).join(','));`;
    const app = `
    import { App, Stack } from 'aws-cdk-lib';
    import { type AdminRouteKey, resolveVaultSettings, ZoomTokenVault } from 'zoom-token-vault';
    const stack = new Stack(new App(), 'Typed');
    const vault = new ZoomTokenVault(stack, 'ZoomTokens', { settings: resolveVaultSettings(stack, { zoomClientId: 'abc' }) });
    const route: AdminRouteKey = 'PUT /users/{userId}/zoom-credential';
    export const arn: string = vault.adminRouteArns[route];`;
    writeFileSync(join(project, 'list.ts'), client);
    writeFileSync(join(project, 'app.ts'), app);
    // CommonJS TypeScript gets the CommonJS build's declarations.
    const commonJs = `
    import { NotFoundError, ZoomTokenVaultClient } from 'zoom-token-vault-client';
    export const lookup = (vault: ZoomTokenVaultClient, userId: string) => vault.get(userId).catch((error: unknown) => error instanceof NotFoundError);`;
    writeFileSync(join(project, 'lookup.cts'), commonJs);
    const compilerOptions = {
      target: 'es2022',
      module: 'nodenext',
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: ['node'],
      typeRoots: [join(ROOT, 'node_modules', '@types')],
    };
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['list.ts', 'app.ts', 'lookup.cts'] }));

    // Act
    const typeCheck = await node([require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json']).then(
      () => '',
      (error: { stdout: string }) => error.stdout,
    );
    const { stdout } = await node([join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), 'list.ts'], {
      VAULT_API_URL: runtime.url,
      VAULT_ADMIN_TOKEN: runtime.adminToken,
    });

    // Assess
    expect(typeCheck).toBe('');
    expect(stdout.trim().split(',')).toContain('bob');
  },
  USE_TIMEOUT_MS,
);

test.concurrent(
  'the construct synthesizes in a CDK app from its prebuilt bundles, with no esbuild and no Docker',
  async () => {
    // Prepare
    const app = `
    import { App, Stack } from 'aws-cdk-lib';
    import { ZoomTokenStack, ZoomTokenVault, resolveVaultSettings } from 'zoom-token-vault';
    const env = { account: '111111111111', region: 'eu-west-1' };
    const app = new App({ outdir: 'cdk.out' });
    const mine = new Stack(app, 'Mine', { env });
    new ZoomTokenVault(mine, 'ZoomTokens', { settings: resolveVaultSettings(mine, { zoomClientId: 'abc', tracing: true }) });
    new ZoomTokenStack(app, 'Vault', { env });
    for (const stack of app.synth().stacks) {
      const code = Object.values(stack.template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function').map((r) => r.Properties.Code);
      console.log(stack.stackName, code.length, code.every((c) => c.S3Key.endsWith('.zip')));
    }`;
    writeFileSync(join(project, 'app.mjs'), app);

    // Act
    const { stdout } = await node(['app.mjs'], { CDK_DOCKER: join(work, 'no-docker') });

    // Assess: the functions (five by default) of both stacks from S3 assets, each a prebuilt bundle
    const stacks = stdout
      .trim()
      .split('\n')
      .map((line) => line.split(' '));
    expect(stacks.map(([name, , zipped]) => [name, zipped])).toEqual([
      ['Mine', 'true'],
      ['Vault', 'true'],
    ]);
    for (const [, functions] of stacks) expect(Number(functions)).toBeGreaterThanOrEqual(5);
    const assets = readdirSync(join(project, 'cdk.out')).filter((name) => name.startsWith('asset.'));
    expect(assets.length).toBeGreaterThanOrEqual(10);
    for (const asset of assets) expect(readdirSync(join(project, 'cdk.out', asset)).sort()).toEqual(['index.mjs', 'index.mjs.map']);
  },
  USE_TIMEOUT_MS,
);

test.concurrent(
  'the CLI runs from the installed package as compiled JavaScript',
  async () => {
    // Prepare
    const cli = join(project, 'node_modules', '.bin', 'zoom-token-vault');

    // Act
    const help = await node([cli, '--help']);
    const status = await node([cli, 'status', 'bob', '--url', runtime.url, '--token', runtime.adminToken]);

    // Assess
    expect(help.stdout).toContain('rotate-signing-key');
    expect(JSON.parse(status.stdout)).toMatchObject({ user_id: 'bob', status: 'active', recall_status: 'registered' });
  },
  USE_TIMEOUT_MS,
);
