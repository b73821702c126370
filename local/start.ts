/**
 * `npm start`: the whole service on this machine. Reads `.env` when present; see the README
 * for the variables. Ctrl-C stops it cleanly; data in DATA_DIR survives a restart.
 */
import { existsSync } from 'node:fs';
import { startLocalRuntime } from './runtime';

async function main(): Promise<void> {
  if (existsSync('.env')) process.loadEnvFile('.env');
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
