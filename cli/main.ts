/**
 * `zoom-token-vault` — the admin API from a shell, and the signing-key rotation.
 *
 *   zoom-token-vault status <userId>
 *   zoom-token-vault bot-urls <userId> --meeting <id> [--kinds obf,zak,join_token] [--valid-for <seconds>]
 *   zoom-token-vault list [--status <s>] [--limit <page size>]
 *   zoom-token-vault resync <userId> | --all [--concurrency 8]
 *   zoom-token-vault rotate-signing-key [--concurrency 8]
 *
 * Arguments are parsed by commander, progress is drawn by cli-progress. `runCli` takes its world
 * (output streams, environment, fetch, …) as arguments so tests run it in-process;
 * ./zoom-token-vault.js is the executable.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import {
  type BotTokenKind,
  NotFoundError,
  USER_STATUS_NAMES,
  type UserStatus,
  type UserStatusName,
  VaultError,
  type ZoomTokenVaultClient,
} from 'zoom-token-vault-client';
import { resolveTarget, UsageError, type ConnectionOptions, type StackOutputsLookup, type Target } from './connection';
import { forEachLimited } from './pool';
import { Progress, type ProgressSink } from './progress';
import { rotateSigningKey, RotationError, type RotationDeps, type RotationResult } from './rotation';

/** After the commands in --help: where the CLI talks to. */
const WHERE = `
Where (default: the local runtime at http://127.0.0.1:3000, token from DATA_DIR/admin-token):
  --url <base> --token <t>     an admin API with a bearer token (env ZOOM_TOKEN_VAULT_URL,
                               ZOOM_TOKEN_VAULT_ADMIN_TOKEN); keys in --data-dir (env DATA_DIR, ./.data)
  --stack <name> [--region r]  a deployed stack: URL from its ApiUrl output, SigV4 with the default
                               AWS credential chain, keys in its SigningKeysSecretArn secret
  --url <ApiUrl> --sigv4 --region <r> [--signing-keys-secret <arn>]
  --state-file <path>          rotation progress (default DATA_DIR/rotation-state.json locally,
                               ./zoom-token-vault-rotation.<stack>.json for a stack); a lock file
                               beside it keeps two rotations from running at once
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

/** The connection options, as commander names them (camelCase). */
interface GlobalOptions {
  url?: string;
  token?: string;
  stack?: string;
  region?: string;
  sigv4?: boolean;
  dataDir?: string;
  signingKeysSecret?: string;
  stateFile?: string;
}

const integer = (name: string, max: number) => (value: string) => {
  const number = Number(value);
  if (!/^[0-9]+$/.test(value) || !Number.isInteger(number) || number < 1 || number > max)
    throw new InvalidArgumentError(`--${name} must be an integer from 1 to ${max}`);
  return number;
};
const concurrencyOption = () =>
  new Option('--concurrency <n>', 'requests in flight (1–64)').argParser(integer('concurrency', 64)).default(8);

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const run = new CliRun(io, argv);
  const program = createProgram(io);
  addStatusCommand(program, run);
  addBotUrlsCommand(program, run);
  addListCommand(program, run);
  addResyncCommand(program, run);
  addRotateCommand(program, run);
  try {
    if (argv.length === 0) {
      program.outputHelp();
      return 2;
    }
    await program.parseAsync(argv, { from: 'user' });
    return run.exitCode;
  } catch (error) {
    return exitCodeOf(error, run.note);
  }
}

/** What the commands share: the output, the connection, and the exit code a command sets. */
class CliRun {
  exitCode = 0;

  constructor(
    readonly io: CliIo,
    readonly argv: readonly string[],
  ) {}

  readonly say = (line: string) => this.io.stdout.write(`${line}\n`);
  readonly note = (line: string) => this.io.stderr.write(`${line}\n`);

  /** The connection from the global options (given before or after the command). */
  target(command: Command): Promise<Target> {
    const options = command.optsWithGlobals<GlobalOptions>();
    const connection: ConnectionOptions = {
      url: options.url,
      token: options.token,
      stack: options.stack,
      region: options.region,
      sigv4: options.sigv4,
      'data-dir': options.dataDir,
      'signing-keys-secret': options.signingKeysSecret,
      'state-file': options.stateFile,
    };
    const { io } = this;
    return resolveTarget(connection, { env: io.env, cwd: io.cwd, fetch: io.fetch, stackOutputs: io.stackOutputs });
  }
}

/** The program with its global (connection) options; output goes to io, errors throw instead of exiting. */
function createProgram(io: CliIo): Command {
  return new Command('zoom-token-vault')
    .description('The zoom-token-vault admin API from a shell, and the signing-key rotation.')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => void io.stdout.write(text),
      writeErr: (text) => void io.stderr.write(text),
      outputError: (text, write) => write(`zoom-token-vault: ${text.replace(/^error: /, '').trimEnd()} (see --help)\n`),
    })
    .showSuggestionAfterError()
    .option('--url <base>', 'the admin API (env ZOOM_TOKEN_VAULT_URL)')
    .option('--token <token>', 'bearer token (env ZOOM_TOKEN_VAULT_ADMIN_TOKEN)')
    .option('--stack <name>', 'a deployed stack (its outputs give the URL and the keys)')
    .option('--region <region>', 'AWS region (env AWS_REGION)')
    .option('--sigv4', 'sign requests with SigV4 (with --url)')
    .option('--data-dir <dir>', "the local runtime's data directory (env DATA_DIR, ./.data)")
    .option('--signing-keys-secret <arn>', 'the signing-keys secret (with --sigv4)')
    .option('--state-file <path>', 'rotation progress')
    .addHelpText('after', WHERE);
}

function addStatusCommand(program: Command, run: CliRun): void {
  program
    .command('status')
    .description("a user's status (never a token)")
    .argument('<userId>')
    .action(async (userId: string, _options, command: Command) => {
      const { client } = await run.target(command);
      run.say(JSON.stringify(await client.get(userId), null, 2));
    });
}

const BOT_TOKEN_KIND_NAMES: readonly BotTokenKind[] = ['obf', 'zak', 'join_token'];

/** `--kinds obf,zak`: known kinds, each once. */
function botTokenKinds(value: string): BotTokenKind[] {
  const kinds = value.split(',').map((kind) => kind.trim());
  const unknown = kinds.filter((kind) => !(BOT_TOKEN_KIND_NAMES as readonly string[]).includes(kind));
  if (unknown.length || kinds.length === 0)
    throw new InvalidArgumentError(`--kinds takes ${BOT_TOKEN_KIND_NAMES.join(', ')}, comma-separated`);
  if (new Set(kinds).size !== kinds.length) throw new InvalidArgumentError('--kinds must not repeat a kind');
  return kinds as BotTokenKind[];
}

function addBotUrlsCommand(program: Command, run: CliRun): void {
  program
    .command('bot-urls')
    .description("signed bot-token URLs for one Zoom meeting: the `zoom` object of Recall's Create Bot request, and when it expires")
    .argument('<userId>')
    .requiredOption('--meeting <id>', 'the Zoom meeting number')
    .addOption(new Option('--kinds <kinds>', 'obf, zak, join_token, comma-separated').argParser(botTokenKinds).default(['obf'], 'obf'))
    .addOption(
      new Option('--valid-for <seconds>', 'how long the URLs work (60 to 604800; default a day)').argParser(integer('valid-for', 604_800)),
    )
    .action(async (userId: string, options: { meeting: string; kinds: BotTokenKind[]; validFor?: number }, command: Command) => {
      const { client } = await run.target(command);
      const urls = await client.botTokenUrls(userId, {
        meetingId: options.meeting,
        kinds: options.kinds,
        validForSeconds: options.validFor,
      });
      run.say(JSON.stringify({ zoom: urls.zoom, expires_at: urls.expiresAt }, null, 2));
    });
}

function addListCommand(program: Command, run: CliRun): void {
  program
    .command('list')
    .description('users, page after page: those in one state (--status), or every user')
    .addOption(new Option('--status <status>', 'only users in this state').choices(USER_STATUS_NAMES))
    .addOption(new Option('--limit <n>', 'page size').argParser(integer('limit', 100)))
    .option('--json', 'JSON lines instead of a table')
    .action(async (options: { status?: UserStatusName; limit?: number; json?: boolean }, command: Command) => {
      const { client } = await run.target(command);
      let count = 0;
      for await (const user of client.listAll({ status: options.status, limit: options.limit })) {
        count++;
        run.say(
          options.json
            ? JSON.stringify(user)
            : [user.user_id, user.status, user.recall_status, user.access_token_expires_at ?? '-'].join('\t'),
        );
      }
      run.note(`${count} users`);
    });
}

function addResyncCommand(program: Command, run: CliRun): void {
  program
    .command('resync')
    .description("re-create the user's Recall credential if needed (token-free); --all: every user")
    .argument('[userId]')
    .option('--all', 'every user (those whose grant is dead are skipped)')
    .addOption(concurrencyOption())
    .action(async (userId: string | undefined, options: { all?: boolean; concurrency: number }, command: Command) => {
      if (Boolean(options.all) === (userId !== undefined)) throw new UsageError('resync takes one user id, or --all');
      const { client } = await run.target(command);
      if (userId !== undefined) {
        run.say(JSON.stringify(await client.resync(userId), null, 2));
        return;
      }
      await resyncAll(client, options.concurrency, run);
    });
}

/** `resync --all`: every user whose grant is alive, with a progress bar; exit code 1 if any failed. */
async function resyncAll(client: ZoomTokenVaultClient, concurrency: number, run: CliRun): Promise<void> {
  const users: UserStatus[] = [];
  for await (const user of client.listAll()) users.push(user);
  const todo = users.filter((user) => user.status !== 'reauth_required' && user.status !== 'deauthorized');
  const progress = new Progress('re-sync', todo.length, run.io.stderr);
  const failed: string[] = [];
  try {
    await forEachLimited(todo, concurrency, async (user) => {
      try {
        await client.resync(user.user_id);
      } catch (error) {
        if (!(error instanceof VaultError)) throw error;
        failed.push(`${user.user_id}: ${error.status} ${error.code}`);
      }
      progress.tick();
    });
  } finally {
    progress.close();
  }
  progress.finish(
    `${todo.length - failed.length} re-synced, ${failed.length} failed, ${users.length - todo.length} skipped (reauth_required)`,
  );
  for (const line of failed) run.note(`failed: ${line}`);
  run.exitCode = failed.length ? 1 : 0;
}

function addRotateCommand(program: Command, run: CliRun): void {
  program
    .command('rotate-signing-key')
    .description(
      'add a new callback-signing key, make it active, re-sync every user, remove the old key; resumable: run it again after an interruption',
    )
    .addOption(concurrencyOption())
    .option('--skip-failed', 'remove the old key even if users Recall refused to re-sync still hold a credential calling it')
    .action(async (options: { concurrency: number; skipFailed?: boolean }, command: Command) => {
      const resolved = await run.target(command);
      const client = resolved.client;
      const result = await rotateSigningKey({
        keys: resolved.keyStore(),
        state: resolved.stateStore(),
        users: () => client.listAll(),
        resync: (userId) => client.resync(userId),
        status: (userId) => client.get(userId).catch((error) => (error instanceof NotFoundError ? undefined : Promise.reject(error))),
        skipFailed: options.skipFailed,
        concurrency: options.concurrency,
        log: run.note,
        progress: run.io.stderr,
        ...run.io.rotation,
      });
      for (const line of rotationReport(result, rerun(run.argv))) run.note(line);
      run.say(JSON.stringify(result));
      run.exitCode = result.outcome === 'done' ? 0 : 1;
    });
}

/** The command line as given, with --skip-failed, for the next step; a bearer token is not repeated. */
function rerun(argv: readonly string[]): string {
  const shown = argv.map((arg, at) => (argv[at - 1] === '--token' ? '<token>' : arg.replace(/^--token=.*/, '--token=<token>')));
  return ['zoom-token-vault', ...shown.filter((arg) => arg !== '--skip-failed'), '--skip-failed'].join(' ');
}

/** What the rotation did not move, user by user, and what to do about it. */
function rotationReport(result: RotationResult, withSkipFailed: string): string[] {
  const { oldKid, newKid } = result;
  const lines = [
    ...result.withoutCredential.map(
      (user) =>
        `no credential ${user.userId} (${user.status}): nothing at Recall used ${oldKid}; its next PUT or resync signs with ${newKid}`,
    ),
    ...result.skipped.map(
      (user) =>
        `skipped ${user.userId} (${user.status}): ` +
        (user.credentialId
          ? `its credential at Recall (${user.credentialId}) calls a ${oldKid} URL, which serves no token (the grant is dead) and is refused once ${oldKid} is removed; `
          : '') +
        `the PUT after the user re-authorizes registers it with ${newKid}`,
    ),
    ...result.failed.map(
      (failure) =>
        `failed ${failure.userId}: ${failure.status} ${failure.code}; ` +
        (failure.holdsCredential
          ? `its credential at Recall${failure.credentialId ? ` (${failure.credentialId})` : ''} still calls a ${oldKid} URL` +
            (result.outcome === 'done'
              ? `, refused from now on: \`zoom-token-vault resync ${failure.userId}\` once the cause is fixed`
              : '')
          : `no credential is left at Recall: \`zoom-token-vault resync ${failure.userId}\` once Recall accepts it`),
    ),
  ];
  if (result.outcome === 'incomplete')
    lines.push(
      `next: fix what Recall refused (\`zoom-token-vault status <user>\` shows recall_last_error) and run the same command again ` +
        `(only the users left are retried), or remove ${oldKid} now with: ${withSkipFailed}`,
    );
  return lines;
}

/** 2 for a usage error, 0 for help, 1 for anything that went wrong; says why on stderr. */
function exitCodeOf(error: unknown, note: (line: string) => void): number {
  if (error instanceof CommanderError) {
    // Help asked for: 0. A usage error (commander already said what): 2.
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return 0;
    if (error.code === 'commander.help') return error.exitCode === 0 ? 0 : 2;
    return 2;
  }
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
