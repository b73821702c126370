/**
 * Configuration from the environment, read once per container. A missing or malformed
 * variable fails the cold start with a message naming it, instead of a vague error later.
 */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export type Env = Record<string, string | undefined>;

export function requiredEnv(name: string, env: Env = process.env): string {
  const value = env[name];
  if (value === undefined || value.trim() === '') throw new ConfigError(`Missing required environment variable ${name}`);
  return value.trim();
}

export function optionalEnv(name: string, fallback: string, env: Env = process.env): string {
  const value = env[name];
  return value === undefined || value.trim() === '' ? fallback : value.trim();
}

export function integerEnv(name: string, fallback: number, range: { min: number; max: number }, env: Env = process.env): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < range.min || value > range.max) {
    throw new ConfigError(`Environment variable ${name} must be an integer from ${range.min} to ${range.max}, got "${raw}"`);
  }
  return value;
}

export function urlEnv(name: string, fallback: string | undefined, env: Env = process.env): string {
  const raw = fallback === undefined ? requiredEnv(name, env) : optionalEnv(name, fallback, env);
  try {
    const url = new URL(raw);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('not http(s)');
  } catch {
    throw new ConfigError(`Environment variable ${name} must be an http(s) URL, got "${raw}"`);
  }
  return raw.replace(/\/+$/, '');
}

/**
 * A secret value: `valueVariable` holds it directly (the local runtime), or `secretIdVariable`
 * names a Secrets Manager secret (AWS). Checked at cold start; fetched lazily and cached.
 */
export interface SecretSource {
  kind: 'value' | 'secrets-manager';
  /** The value itself, or the secret id. */
  ref: string;
}

export function secretSourceEnv(valueVariable: string, secretIdVariable: string, env: Env = process.env): SecretSource {
  const secretId = env[secretIdVariable]?.trim();
  if (secretId) return { kind: 'secrets-manager', ref: secretId };
  const value = env[valueVariable];
  if (value?.trim()) return { kind: 'value', ref: value.trim() };
  throw new ConfigError(`Missing required environment variable ${secretIdVariable} (or ${valueVariable} when running locally)`);
}
