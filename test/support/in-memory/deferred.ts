/** A promise with its settle functions outside: the building block of scripted interleavings. */
export interface Deferred<T = void> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
  settled: boolean;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const handle: Deferred<T> = {
    promise,
    settled: false,
    resolve: (value) => {
      handle.settled = true;
      resolve(value);
    },
    reject: (error) => {
      handle.settled = true;
      reject(error);
    },
  };
  return handle;
}

/**
 * Lets every pending promise continuation run (a few macrotask turns, no timers of the domain's):
 * for "nothing else can happen now" assertions.
 */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * Pause points for a hook that is awaited before each operation (the store's `gate`, the Recall
 * double's `gate`): `pauseAt(match)` stops the first matching event until `release()`.
 */
export class Pauses<E> {
  private readonly pending: Array<{ match: (event: E) => boolean; pause: Pause<E> }> = [];

  /** The hook to install: awaits the first pending pause whose `match` accepts the event. */
  readonly hook = async (event: E): Promise<void> => {
    const index = this.pending.findIndex((entry) => entry.match(event));
    if (index < 0) return;
    const [{ pause }] = this.pending.splice(index, 1);
    pause.reached.resolve(event);
    await pause.released.promise;
  };

  pauseAt(match: (event: E) => boolean): Pause<E> {
    const pause: Pause<E> = {
      reached: deferred<E>(),
      released: deferred<void>(),
      release: () => pause.released.resolve(),
    };
    this.pending.push({ match, pause });
    return pause;
  }

  /** Pauses not yet reached. */
  get waiting(): number {
    return this.pending.length;
  }
}

export interface Pause<E> {
  /** Resolves with the event once an operation has stopped here. */
  reached: Deferred<E>;
  released: Deferred<void>;
  /** Lets the stopped operation go on. */
  release(): void;
}
