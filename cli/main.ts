/**
 * `zoom-token-vault` — the admin API from a shell, and the signing-key rotation.
 *
 *   zoom-token-vault status <userId>
 *   zoom-token-vault list [--status <s>] [--limit <page size>]
 *   zoom-token-vault resync <userId> | --all [--concurrency 8]
 *   zoom-token-vault rotate-signing-key [--concurrency 8]
 *
 * `runCli` takes its world (output streams, environment, fetch, …) as arguments so tests run it
 * in-process; ./zoom-token-vault.js is the executable.
 */
import { parseArgs } from 'node:util';
import type { UserStatus } from '../client/client';
import { VaultError } from '../client/errors';
import { resolveTarget, UsageError, type StackOutputsLookup } from './connection';
import { forEachLimited } from './pool';
import { Progress, type ProgressSink } from './progress';
import { rotateSigningKey, RotationError, type RotationDeps } from './rotation';

export const HELP = `Usage: zoom-token-vault <command> [options]

Commands:
  status <userId>              a user's status (never a token)
  list [--status <s>]          every user, page after page (--limit: page size); --json for JSON lines
  resync <userId> | --all      re-create the user's Recall credential if needed (token-free);
                               --all: every user, --concurrency at a time (default 8)
  rotate-signing-key           add a new callback-signing key, make it active, re-sync every user,
                               remove the old key. Resumable: run it again after an interruption.

Where (default: the local runtime at http://127.0.0.1:3000, token from DATA_DIR/admin-token):
  --url <base> --token <t>     an admin API with a bearer token (env ZOOM_TOKEN_VAULT_URL,
                               ZOOM_TOKEN_VAULT_ADMIN_TOKEN); keys in --data-dir (env DATA_DIR, ./.data)
  --stack <name> [--region r]  a deployed stack: URL from its ApiUrl output, SigV4 with the default
                               AWS credential chain, keys in its SigningKeysSecretArn secret
  --url <ApiUrl> --sigv4 --region <r> [--signing-keys-secret <arn>]
  --state-file <path>          rotation progress (default DATA_DIR/rotation-state.json locally,
                               ./zoom-token-vault-rotation.<stack>.json for a stack)
  -h, --help
`;

export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: ProgressSink;
  env: Record<string, string | undefined>;
  cwd: string;
  fetch?: typeof fetch;
  stackOutputs?: StackOutputsLookup;
  /** Rotation test seams (hooks, sleep, propagation time). */
  rotation?: Pick<RotationDeps, 'hooks' | 'sleep' | 'propagationMs' | 'clock'>;
}

const OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  stack: { type: 'string' },
  region: { type: 'string' },
  sigv4: { type: 'boolean' },
  'data-dir': { type: 'string' },
  'signing-keys-secret': { type: 'string' },
  'state-file': { type: 'string' },
  status: { type: 'string' },
  limit: { type: 'string' },
  all: { type: 'boolean' },
  concurrency: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function positiveInteger(value: string | undefined, name: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1 || number > max) throw new UsageError(`--${name} must be an integer from 1 to ${max}`);
  return number;
}

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const say = (line: string) => io.stdout.write(line + '\n');
  const note = (line: string) => io.stderr.write(line + '\n');
  try {
    let parsed;
    try {
      parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const { values, positionals } = parsed;
    const [command, ...rest] = positionals;
    if (values.help || command === undefined || command === 'help') {
      io.stdout.write(HELP);
      return command === undefined && !values.help ? 2 : 0;
    }
    const expectArgs = (count: number, what: string) => {
      if (rest.length !== count) throw new UsageError(`${command} takes ${what}`);
    };
    const target = () => resolveTarget(values, { env: io.env, cwd: io.cwd, fetch: io.fetch, stackOutputs: io.stackOutputs });

    switch (command) {
      case 'status': {
        expectArgs(1, 'one user id');
        const { client } = await target();
        say(JSON.stringify(await client.get(rest[0]), null, 2));
        return 0;
      }
      case 'list': {
        expectArgs(0, 'no arguments');
        const { client } = await target();
        const limit = values.limit === undefined ? undefined : positiveInteger(values.limit, 'limit', 100, 1000);
        let count = 0;
        for await (const user of client.listAll({ status: values.status, limit })) {
          count++;
          say(values.json ? JSON.stringify(user) : [user.user_id, user.status, user.recall_status, user.access_token_expires_at ?? '-'].join('\t'));
        }
        note(`${count} users`);
        return 0;
      }
      case 'resync': {
        const concurrency = positiveInteger(values.concurrency, 'concurrency', 8, 64);
        const { client } = await target();
        if (!values.all) {
          expectArgs(1, 'one user id, or --all');
          say(JSON.stringify(await client.resync(rest[0]), null, 2));
          return 0;
        }
        expectArgs(0, 'no user id with --all');
        const users: UserStatus[] = [];
        for await (const user of client.listAll()) users.push(user);
        const todo = users.filter((user) => user.status !== 'reauth_required' && user.status !== 'deauthorized');
        const progress = new Progress('re-sync', todo.length, io.stderr);
        const failed: string[] = [];
        await forEachLimited(todo, concurrency, async (user) => {
          try {
            await client.resync(user.user_id);
          } catch (error) {
            if (!(error instanceof VaultError)) throw error;
            failed.push(`${user.user_id}: ${error.status} ${error.code}`);
          }
          progress.tick();
        });
        progress.finish(`${todo.length - failed.length} re-synced, ${failed.length} failed, ${users.length - todo.length} skipped (reauth_required)`);
        for (const line of failed) note(`failed: ${line}`);
        return failed.length ? 1 : 0;
      }
      case 'rotate-signing-key': {
        expectArgs(0, 'no arguments');
        const concurrency = positiveInteger(values.concurrency, 'concurrency', 8, 64);
        const resolved = await target();
        const client = resolved.client;
        const result = await rotateSigningKey({
          keys: resolved.keyStore(),
          state: resolved.stateStore(),
          users: () => client.listAll(),
          resync: (userId) => client.resync(userId),
          concurrency,
          log: note,
          progress: io.stderr,
          ...io.rotation,
        });
        for (const skipped of result.skipped) note(`skipped ${skipped.userId}: ${skipped.status} (its next registration signs with ${result.newKid})`);
        for (const failed of result.failed) note(`failed ${failed.userId}: ${failed.status} ${failed.code}`);
        say(JSON.stringify(result));
        return result.outcome === 'done' ? 0 : 1;
      }
      default:
        throw new UsageError(`unknown command ${command}`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      note(`zoom-token-vault: ${error.message} (see --help)`);
      return 2;
    }
    if (error instanceof VaultError || error instanceof RotationError) {
      note(`zoom-token-vault: ${error.message}`);
      return 1;
    }
    note(`zoom-token-vault: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
    return 1;
  }
}
