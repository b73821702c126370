/**
 * `npm start` as a user meets it, on a data directory that already existed with files anyone
 * could read: its start-up ends with one line saying it is ready and what to run next, no
 * warning the user can do nothing about (the AWS SDK's Node version notice) is shown, and after
 * a registration every file and directory in the data directory (dynalite's leveldb files
 * included) is readable by the user alone.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
let dataDir: string;
let child: ChildProcess | undefined;

afterEach(() => {
  child?.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

/** Every path under `dir` (itself included) with its permission bits. */
function modes(dir: string): Array<[string, number]> {
  const own: [string, number] = [dir, lstatSync(dir).mode & 0o777];
  if (!lstatSync(dir).isDirectory()) return [own];
  return [own, ...readdirSync(dir).flatMap((name) => modes(join(dir, name)))];
}

/** Resolves with the output so far once a line of stdout matches. */
function waitForLine(process: ChildProcess, output: { stdout: string }, pattern: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => (pattern.test(output.stdout) ? resolve() : undefined);
    process.stdout!.on('data', check);
    process.once('exit', (code) => reject(new Error(`npm start exited (${code}) before ${pattern}: ${output.stdout}`)));
  });
}

test('npm start: a ready line last, no SDK warning, and a data directory only its user can read', async () => {
  // Prepare: a data directory made beforehand, world-readable, with a file in it.
  dataDir = mkdtempSync(join(tmpdir(), 'zoom-token-vault-start-'));
  chmodSync(dataDir, 0o755);
  mkdirSync(join(dataDir, 'notes'), { mode: 0o755 });
  writeFileSync(join(dataDir, 'notes', 'old.txt'), 'from before', { mode: 0o644 });
  const [command, ...args] = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts.start as string).split(' ');
  expect(command).toBe('tsx');
  const { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: _quietForJest, ...env } = process.env;
  const output = { stdout: '', stderr: '' };

  // Act: start, wait for the ready line, register a user (dynalite writes), stop.
  child = spawn(process.execPath, [join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), ...args], {
    cwd: ROOT,
    env: {
      ...env,
      PORT: '0',
      DATA_DIR: dataDir,
      REFRESH_INTERVAL_SECONDS: '0',
      RECALL_HEALTH_INTERVAL_SECONDS: '0',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
    },
  });
  child.stdout!.on('data', (chunk) => (output.stdout += chunk));
  child.stderr!.on('data', (chunk) => (output.stderr += chunk));
  await waitForLine(child, output, /^Ready\..*\n/m);
  const url = /listening on (\S+)/.exec(output.stdout)![1];
  const zoomUrl = /Zoom: +FAKE at (\S+)/.exec(output.stdout)![1];
  const grant = await (await fetch(`${zoomUrl}/fake/authorize?zoom_user_id=zoom-private`, { method: 'POST' })).json();
  const registered = await fetch(`${url}/users/private/zoom-credential`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${readFileSync(join(dataDir, 'admin-token'), 'utf8').trim()}`, 'content-type': 'application/json' },
    body: JSON.stringify(grant),
  });
  const exited = new Promise((resolve) => child!.once('exit', resolve));
  child.kill('SIGINT');
  const code = await exited;

  // Assess: the start-up's last line says ready and names the next command; nothing on stderr
  const startup = output.stdout
    .slice(0, output.stdout.indexOf('\n', output.stdout.indexOf('Ready.')) + 1)
    .trimEnd()
    .split('\n');
  expect(startup.at(-1)).toMatch(/^Ready\. Next, .*npx zoom-token-vault list --url http:\/\/127\.0\.0\.1:\d+ --data-dir /);
  expect(startup.at(-2)).toMatch(/^ {2}Recall: +FAKE/);
  expect(output.stderr).not.toMatch(/NodeVersionSupportWarning|Warning/);
  expect(registered.status).toBe(201);
  expect(code).toBe(0);
  const all = modes(dataDir);
  expect(all.map(([path]) => path.slice(dataDir.length))).toEqual(
    expect.arrayContaining(['', '/dynamodb', '/dynamodb/CURRENT', '/admin-token', '/kms-keys.json', '/notes/old.txt']),
  );
  expect(all.filter(([, mode]) => (mode & 0o077) !== 0)).toEqual([]);
}, 60_000);
