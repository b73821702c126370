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
