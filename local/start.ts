/**
 * `npm start`: the whole service on this machine. Reads `.env` when present; see docs/configuration.md
 * for the variables. Ctrl-C stops it cleanly; data in DATA_DIR survives a restart.
 */
import { existsSync } from 'node:fs';
import { startLocalRuntime } from './runtime';

async function main(): Promise<void> {
  // Everything the runtime and dynalite create is the user's alone (local/private-dir.ts).
  process.umask(0o077);
  if (existsSync('.env')) process.loadEnvFile('.env');
  // The AWS SDK warns that its 2027 releases need Node 22: nothing a user of npm start can act on here.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const runtime = await startLocalRuntime({ verbose: true });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping…`);
    runtime.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((error: unknown) => {
  console.error(`could not start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
