/** Time that moves only when a test moves it. */
import type { Clock } from '../../../functions/domain/ports';

export const BASE_TIME = 1_760_000_000_000;

export class ManualClock {
  private current: number;
  /** Every `sleep` asked for, in order. */
  readonly sleeps: number[] = [];

  constructor(start = BASE_TIME) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  advance(ms: number): number {
    if (ms < 0) throw new Error('time does not go backwards');
    this.current += ms;
    return this.current;
  }

  set(at: number): void {
    if (at < this.current) throw new Error('time does not go backwards');
    this.current = at;
  }

  /** The domain's `Clock`: a bound function. */
  readonly clock: Clock = () => this.current;

  /**
   * The domain's `sleep`: moves the clock instead of waiting, then yields once so other
   * promise chains get their turn. No real timer is ever started.
   */
  readonly sleep = async (ms: number): Promise<void> => {
    this.sleeps.push(ms);
    this.advance(ms);
    await Promise.resolve();
  };
}
