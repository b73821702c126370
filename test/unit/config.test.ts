import { ConfigError, integerEnv, requiredEnv, secretSourceEnv, urlEnv } from '../../functions/config';

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
