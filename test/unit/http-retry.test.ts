import {
  backoffDelay,
  describeFailure,
  parseRetryAfter,
  requestWithRetry,
  sanitize,
  TimeoutError,
  withTimeout,
  type HttpOutcome,
  type HttpReply,
} from '../../functions/adapters/http-retry';

const reply = (status: number, headers: Record<string, string> = {}, body = ''): HttpReply => ({
  status,
  headers: new Headers(headers),
  body,
});

const retryOn5xxAnd429 = (o: HttpOutcome) => !('reply' in o) || o.reply.status === 429 || o.reply.status >= 500;

/** A fake clock whose sleep records the delay and moves time on. */
function fakeTime(start = 1_000_000) {
  const clock = { t: start, delays: [] as number[] };
  return {
    clock,
    now: () => clock.t,
    sleep: async (ms: number) => {
      clock.delays.push(ms);
      clock.t += ms;
    },
  };
}

/** A send that answers from a script, one entry per call (the last repeats); Error entries throw. */
function scripted(...answers: (HttpReply | Error)[]) {
  const calls: AbortSignal[] = [];
  const send = async (signal: AbortSignal) => {
    calls.push(signal);
    const answer = answers[Math.min(calls.length - 1, answers.length - 1)];
    if (answer instanceof Error) throw answer;
    return answer;
  };
  return { send, calls };
}

describe('parseRetryAfter', () => {
  it('reads delta-seconds, HTTP dates, and rejects garbage', () => {
    // Prepare
    const now = Date.parse('2025-06-01T12:00:00Z');

    // Act / Assess
    expect(parseRetryAfter('3', now)).toBe(3000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('Sun, 01 Jun 2025 12:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Sun, 01 Jun 2025 11:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });
});

describe('backoffDelay', () => {
  it('grows exponentially, is capped, and scales by the jitter draw', () => {
    // Prepare
    const o = { baseDelayMs: 100, maxDelayMs: 1000, random: () => 0.5 };

    // Act
    const delays = [1, 2, 3, 4, 5].map((n) => backoffDelay(n, o));

    // Assess
    expect(delays).toEqual([50, 100, 200, 400, 500]);
    expect(backoffDelay(3, { ...o, random: () => 0 })).toBe(0);
  });
});

describe('withTimeout', () => {
  it('rejects with TimeoutError and aborts the signal when fn ignores it', async () => {
    // Prepare
    let seen: AbortSignal | undefined;

    // Act
    const result = withTimeout((signal) => {
      seen = signal;
      return new Promise<never>(() => undefined);
    }, 30);

    // Assess
    await expect(result).rejects.toBeInstanceOf(TimeoutError);
    await expect(result).rejects.toMatchObject({ timeoutMs: 30 });
    expect(seen?.aborted).toBe(true);
  });

  it('returns the value when fn is in time', async () => {
    // Act
    const value = await withTimeout(async () => 42, 1000);

    // Assess
    expect(value).toBe(42);
  });
});

describe('requestWithRetry', () => {
  it('returns the first non-retryable answer without sleeping', async () => {
    // Prepare
    const time = fakeTime();
    const { send, calls } = scripted(reply(400, {}, 'bad'));

    // Act
    const result = await requestWithRetry(send, { ...time, isRetryable: retryOn5xxAnd429 });

    // Assess
    expect(result).toMatchObject({ attempts: 1, reply: { status: 400, body: 'bad' } });
    expect(calls).toHaveLength(1);
    expect(time.clock.delays).toEqual([]);
  });

  it('backs off with full jitter between retryable answers until success', async () => {
    // Prepare
    const time = fakeTime();
    const { send, calls } = scripted(reply(503), reply(502), reply(200, {}, 'ok'));

    // Act
    const result = await requestWithRetry(send, {
      ...time,
      random: () => 0.5,
      baseDelayMs: 100,
      maxDelayMs: 1000,
      maxAttempts: 5,
      isRetryable: retryOn5xxAnd429,
    });

    // Assess
    expect(result).toMatchObject({ attempts: 3, reply: { status: 200, body: 'ok' } });
    expect(calls).toHaveLength(3);
    expect(time.clock.delays).toEqual([50, 100]);
  });

  it('waits Retry-After on 429, capped by maxRetryAfterMs', async () => {
    // Prepare
    const time = fakeTime();
    const { send } = scripted(reply(429, { 'Retry-After': '2' }), reply(429, { 'Retry-After': '60' }), reply(204));

    // Act
    const result = await requestWithRetry(send, {
      ...time,
      maxAttempts: 3,
      maxRetryAfterMs: 5000,
      isRetryable: retryOn5xxAnd429,
    });

    // Assess
    expect(result).toMatchObject({ attempts: 3, reply: { status: 204 } });
    expect(time.clock.delays).toEqual([2000, 5000]);
  });

  it('returns the last retryable answer when attempts run out', async () => {
    // Prepare
    const time = fakeTime();
    const { send, calls } = scripted(reply(503, {}, 'down'));

    // Act
    const result = await requestWithRetry(send, { ...time, maxAttempts: 3, random: () => 0, isRetryable: retryOn5xxAnd429 });

    // Assess
    expect(result).toMatchObject({ attempts: 3, reply: { status: 503, body: 'down' } });
    expect(calls).toHaveLength(3);
    expect(time.clock.delays).toEqual([0, 0]);
  });

  it('retries thrown network errors and reports the last one', async () => {
    // Prepare
    const time = fakeTime();
    const failure = Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    const { send, calls } = scripted(failure);

    // Act
    const result = await requestWithRetry(send, { ...time, maxAttempts: 2, isRetryable: retryOn5xxAnd429 });

    // Assess
    expect(calls).toHaveLength(2);
    expect(result).toMatchObject({ attempts: 2, error: failure, timedOut: false });
    expect(describeFailure(result)).toBe('network error (ECONNREFUSED)');
  });

  it('times out hanging attempts and retries them', async () => {
    // Prepare
    let calls = 0;
    const hang = () => {
      calls++;
      return new Promise<HttpReply>(() => undefined);
    };
    const started = Date.now();

    // Act
    const result = await requestWithRetry(hang, {
      timeoutMs: 40,
      maxAttempts: 3,
      baseDelayMs: 1,
      maxDelayMs: 1,
      isRetryable: retryOn5xxAnd429,
    });

    // Assess
    expect(calls).toBe(3);
    expect(result).toMatchObject({ attempts: 3, timedOut: true });
    expect(describeFailure(result)).toBe('timeout');
    expect(Date.now() - started).toBeGreaterThanOrEqual(110);
  });

  it('stops before a wait that would pass the deadline', async () => {
    // Prepare
    const time = fakeTime();
    const { send, calls } = scripted(reply(429, { 'Retry-After': '5' }));

    // Act
    const result = await requestWithRetry(send, {
      ...time,
      deadline: time.clock.t + 3000,
      maxAttempts: 5,
      isRetryable: retryOn5xxAnd429,
    });

    // Assess
    expect(calls).toHaveLength(1);
    expect(result).toMatchObject({ attempts: 1, reply: { status: 429 } });
    expect(time.clock.delays).toEqual([]);
  });

  it('shortens the attempt timeout to what is left before the deadline', async () => {
    // Prepare
    const started = Date.now();
    const hang = () => new Promise<HttpReply>(() => undefined);

    // Act
    const result = await requestWithRetry(hang, {
      timeoutMs: 10_000,
      deadline: started + 80,
      maxAttempts: 3,
      isRetryable: () => true,
    });

    // Assess
    const elapsed = Date.now() - started;
    expect(result).toMatchObject({ timedOut: true });
    expect(elapsed).toBeGreaterThanOrEqual(60);
    expect(elapsed).toBeLessThan(1000);
  });

  it('does not send at all when the deadline has already passed', async () => {
    // Prepare
    const time = fakeTime();
    const { send, calls } = scripted(reply(200));

    // Act
    const result = await requestWithRetry(send, { ...time, deadline: time.clock.t - 1, isRetryable: () => true });

    // Assess
    expect(calls).toHaveLength(0);
    expect(result).toMatchObject({ attempts: 0, timedOut: true });
  });
});

describe('sanitize', () => {
  it('redacts secrets and URL query strings and truncates', () => {
    // Prepare
    const text = 'key sk_live_123 rejected https://cb.example/t?u=alice&sig=abc123 then more';

    // Act
    const out = sanitize(text, ['sk_live_123', undefined]);
    const short = sanitize('x'.repeat(50), [], 10);

    // Assess
    expect(out).toBe('key [redacted] rejected https://cb.example/t?[redacted] then more');
    expect(short).toBe(`${'x'.repeat(9)}…`);
  });
});
