/**
 * Zoom's 429 slows every refresh, not just the one that met it. Each worker container holds
 * this: after a 429 it hands its work back to the queue (redelivered after the visibility
 * timeout) instead of calling Zoom, until Retry-After (or a default pause) has passed; the
 * dispatcher, told the same through the ZoomThrottled metric's alarm and its own summary,
 * hands out new work with a delay.
 */
import type { Clock } from './ports';

/** Without a Retry-After, a 429 pauses this long. */
const DEFAULT_PAUSE_MS = 30_000;
/** A Retry-After beyond this is not believed: pause this long and look again. */
const MAX_PAUSE_MS = 5 * 60_000;

export class ZoomThrottle {
  private until = 0;

  constructor(private readonly clock: Clock) {}

  /** Zoom answered 429: hold off for its Retry-After. */
  throttled(retryAfterMs: number | undefined): void {
    const pause = Math.min(retryAfterMs ?? DEFAULT_PAUSE_MS, MAX_PAUSE_MS);
    this.until = Math.max(this.until, this.clock() + pause);
  }

  /** Milliseconds left to hold off (0: go ahead). */
  remainingMs(): number {
    return Math.max(0, this.until - this.clock());
  }
}
