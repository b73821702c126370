import { ConfigError, integerEnv, requiredEnv, secretSourceEnv, urlEnv } from '../../functions/config';
import { botTokenDepsFromEnv, callbackDepsFromEnv } from '../../functions/handlers/composition';

describe('configuration from the environment', () => {
  it('names a missing variable', () => {
    expect(() => requiredEnv('TABLE_NAME', {})).toThrow(new ConfigError('Missing required environment variable TABLE_NAME'));
    expect(() => requiredEnv('TABLE_NAME', { TABLE_NAME: '  ' })).toThrow(/TABLE_NAME/);
    expect(requiredEnv('TABLE_NAME', { TABLE_NAME: ' t ' })).toBe('t');
  });

  it('checks integer ranges and keeps defaults', () => {
    expect(integerEnv('N', 7, { min: 1, max: 10 }, {})).toBe(7);
    expect(integerEnv('N', 7, { min: 1, max: 10 }, { N: '3' })).toBe(3);
    expect(() => integerEnv('N', 7, { min: 1, max: 10 }, { N: '11' })).toThrow(/N must be an integer from 1 to 10/);
    expect(() => integerEnv('N', 7, { min: 1, max: 10 }, { N: '2.5' })).toThrow(/N/);
  });

  it('accepts only http(s) URLs, without a trailing slash', () => {
    expect(urlEnv('U', 'https://a.test/', {})).toBe('https://a.test');
    expect(() => urlEnv('U', undefined, {})).toThrow(/Missing required environment variable U/);
    expect(() => urlEnv('U', undefined, { U: 'ftp://x' })).toThrow(/U must be an http\(s\) URL/);
  });

  it('prefers a Secrets Manager id over a plain value and names both when neither is set', () => {
    expect(secretSourceEnv('K', 'K_SECRET_ID', { K: 'v', K_SECRET_ID: 'arn:x' })).toEqual({ kind: 'secrets-manager', ref: 'arn:x' });
    expect(secretSourceEnv('K', 'K_SECRET_ID', { K: 'v' })).toEqual({ kind: 'value', ref: 'v' });
    expect(() => secretSourceEnv('K', 'K_SECRET_ID', {})).toThrow(
      'Missing required environment variable K_SECRET_ID (or K when running locally)',
    );
  });
});

describe("Recall's request signature settings (the public token functions' composition roots)", () => {
  const SECRET = `whsec_${Buffer.alloc(32, 3).toString('base64')}`;
  const BASE_ENV = {
    AWS_REGION: 'us-east-1',
    TABLE_NAME: 'table',
    KMS_KEY_ID: 'key',
    SIGNING_KEYS_SECRET_ID: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:keys-Ab12Cd',
    REFRESH_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/000000000000/queue',
  };
  const roots = { callback: callbackDepsFromEnv, 'bot-token': botTokenDepsFromEnv };

  it.each(Object.entries(roots))('%s: off without a secret; enforce by default with one; report when asked', async (_name, fromEnv) => {
    // Act
    const off = fromEnv(BASE_ENV);
    const local = fromEnv({ ...BASE_ENV, RECALL_VERIFICATION_SECRET: ` ${SECRET} ` });
    const inAws = fromEnv({
      ...BASE_ENV,
      RECALL_VERIFICATION_SECRET_SECRET_ID: 'arn:aws:secretsmanager:…',
      RECALL_SIGNATURE_MODE: 'report',
    });

    // Assess
    expect(off.recallSignatures).toBeUndefined();
    expect(local.recallSignatures?.mode).toBe('enforce');
    expect(await local.recallSignatures?.keys()).toEqual({ keys: [Buffer.alloc(32, 3)] });
    expect(inAws.recallSignatures?.mode).toBe('report');
  });

  it.each([
    ['a mode without a secret', { RECALL_SIGNATURE_MODE: 'report' }, /RECALL_SIGNATURE_MODE is set, but no RECALL_VERIFICATION_SECRET/],
    ['an unknown mode', { RECALL_VERIFICATION_SECRET: SECRET, RECALL_SIGNATURE_MODE: 'audit' }, /must be one of enforce, report/],
    ['a local value that is no whsec_ secret', { RECALL_VERIFICATION_SECRET: 'hunter2-secret' }, /whsec_/],
  ])('fails the start on %s, naming the variable and never the value', (_name, env, message) => {
    // Act
    const start = () => callbackDepsFromEnv({ ...BASE_ENV, ...env });

    // Assess
    expect(start).toThrow(ConfigError);
    expect(start).toThrow(message);
    try {
      start();
    } catch (error) {
      expect((error as Error).message).not.toContain('hunter2');
    }
  });
});
