/**
 * Small helpers shared by the fakes: body reading, JSON answers, a server that
 * really closes (hanging requests included) so test runners can exit, and optional
 * JSON state files so the fakes can survive a restart of the local runtime.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, dirname, join } from 'node:path';

export const MAX_BODY_BYTES = 64 * 1024;

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new Error('request body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (body === undefined) {
    res.writeHead(status, headers).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers }).end(text);
}

export interface ListeningServer {
  url: string;
  close(): Promise<void>;
}

/**
 * Starts a node:http server on host:port (port 0 = any free one). `close()` stops accepting,
 * destroys every open socket (keep-alive and deliberately hung requests) and resolves when done.
 */
export async function listen(
  handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
  host: string,
  port: number,
  onClose?: () => void,
): Promise<ListeningServer> {
  const server: Server = createServer((req, res) => {
    handler(req, res).catch(() => {
      // Never echo the error: it could carry request data. A bare 500 is enough for a fake.
      if (!res.headersSent) sendJson(res, 500, { detail: 'Internal fake error.' });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${address.port}`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        onClose?.();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

/** The error thrown when a fake's state file exists but cannot be used. Names the file, never its content. */
export function stateFileError(file: string, why: string): Error {
  return new Error(`fake state file ${file} is unusable: ${why}. Fix or delete it (deleting resets the fake).`);
}

/**
 * Reads a fake's JSON state file. Returns undefined when the file does not exist; throws an
 * error naming the file when it cannot be read or is not JSON (never silently resets).
 */
export function readStateFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw stateFileError(file, `cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw stateFileError(file, 'not valid JSON');
  }
}

/**
 * Writes a fake's JSON state atomically: a temp file (mode 0600) in the same directory, then rename.
 * Creates the directory (mode 0700) if needed. Synchronous, so the state is on disk before the
 * fake answers the request that changed it.
 */
export function writeStateFile(file: string, state: unknown): void {
  const directory = dirname(file);
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  const temp = join(directory, `.${basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    writeFileSync(temp, JSON.stringify(state), { mode: 0o600, flag: 'wx' });
    renameSync(temp, file);
  } catch (error) {
    try {
      unlinkSync(temp);
    } catch {
      // already renamed or never created
    }
    throw error;
  }
}
