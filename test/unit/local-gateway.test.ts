/**
 * The local runtime listens before its handlers exist (their configuration needs the port):
 * a request arriving meanwhile must get an answer, not a socket that never replies.
 */
import type { AddressInfo } from 'node:net';
import { createGatewayServer } from '../../local/runtime';

test('a request that arrives while the runtime starts gets 503 with Retry-After', async () => {
  // Prepare: a gateway whose handlers are not built yet
  const server = createGatewayServer(() => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    // Act
    const response = await fetch(`http://127.0.0.1:${port}/zoom/token?user_id=a&kid=k1&sig=x`, { signal: AbortSignal.timeout(2_000) });

    // Assess
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('1');
  } finally {
    server.close();
  }
});

/** A gateway on a free port whose handlers are `handlers`, for one test. */
async function withGateway(handlers: Record<string, unknown>, use: (url: string) => Promise<void>): Promise<void> {
  const gateway = { url: 'http://127.0.0.1', adminToken: 'admin-token', adminTimeoutMs: 1_000, say: () => undefined };
  const server = createGatewayServer(() => ({ handlers, gateway }) as unknown as ReturnType<Parameters<typeof createGatewayServer>[0]>);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await use(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

test('a request line too large to parse gets 431 with the gateway JSON {"message"}, not an empty answer', async () => {
  await withGateway({}, async (url) => {
    // Act: a 100 KB query string, far over Node's 16 KB of request line and headers
    const response = await fetch(`${url}/zoom/token?user_id=${'a'.repeat(100_000)}`, { signal: AbortSignal.timeout(2_000) });

    // Assess
    expect(response.status).toBe(431);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.json()).toEqual({ message: 'Request Header Fields Too Large' });
  });
});

test('a function that throws gets API Gateway\'s 500 {"message":"Internal Server Error"}', async () => {
  // Prepare: a callback function that throws instead of answering
  const callback = async () => {
    throw new Error('crashed');
  };
  const logged = jest.spyOn(console, 'error').mockImplementation(() => undefined);
  await withGateway({ callback }, async (url) => {
    // Act
    const response = await fetch(`${url}/zoom/token?user_id=a&kid=k1&sig=x`, { signal: AbortSignal.timeout(2_000) });

    // Assess
    expect(response.status).toBe(500);
    expect(await response.json()).toEqual({ message: 'Internal Server Error' });
    expect(logged).toHaveBeenCalledWith('local runtime: request failed:', 'Error');
  });
  logged.mockRestore();
});

test('a wrong bearer and an oversized body get the gateway JSON {"message"} (not the admin API shape)', async () => {
  // Prepare: an admin function that must never be reached
  const admin = jest.fn();
  await withGateway({ admin }, async (url) => {
    // Act
    const wrongBearer = await fetch(`${url}/users/alice/zoom-credential`, { headers: { authorization: 'Bearer nope' } });
    const tooLarge = await fetch(`${url}/users/alice/zoom-credential`, {
      method: 'PUT',
      headers: { authorization: 'Bearer admin-token', 'content-type': 'application/json' },
      body: 'x'.repeat(2 * 1024 * 1024),
    });

    // Assess
    expect(wrongBearer.status).toBe(401);
    expect(wrongBearer.headers.get('www-authenticate')).toBe('Bearer');
    expect(await wrongBearer.json()).toEqual({ message: 'Unauthorized' });
    expect(tooLarge.status).toBe(413);
    expect(await tooLarge.json()).toEqual({ message: 'Request Entity Too Large' });
    expect(admin).not.toHaveBeenCalled();
  });
});
