/**
 * The data directory holds what opens every token (the KMS stand-in's key, the signing keys,
 * the admin token, dynalite's tables): on a shared host it must be the user's alone. Files are
 * written 0600 where this project writes them, and `npm start` sets the umask to 077 so that
 * dynalite's leveldb files are too; this makes what is already there private as well (a data
 * directory from before, or made by hand, with 0644 files).
 */
import { chmod, lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** Removes every group and other permission from `dir` and everything in it (symbolic links are left alone). */
export async function keepPrivate(dir: string): Promise<void> {
  const stats = await lstat(dir);
  if (stats.isSymbolicLink()) return;
  if ((stats.mode & 0o077) !== 0) await chmod(dir, stats.mode & 0o700);
  if (!stats.isDirectory()) return;
  for (const name of await readdir(dir)) await keepPrivate(join(dir, name));
}
