// How long to wait before trying again, for every retry loop of the server (client-go's wait.Backoff and its
// BackoffManager in one): exponential from `initialMs`, capped at `maxMs`, with equal jitter (half fixed, half random:
// many clients spread out, yet none retries at once), and reset once things have gone well for `resetAfterMs`.
export interface BackoffPolicy {
  /** the first delay (before jitter) */
  readonly initialMs: number;
  /** no delay is longer than this */
  readonly maxMs: number;
  /** growth per failure (default 2) */
  readonly factor?: number;
}

/** The delay before attempt `failures + 1` after `failures` consecutive failures (failures ≥ 1). */
export function backoffDelay(policy: BackoffPolicy, failures: number, random: () => number = Math.random): number {
  const base = Math.min(policy.maxMs, policy.initialMs * (policy.factor ?? 2) ** Math.max(0, failures - 1));
  return Math.round(base / 2 + (random() * base) / 2);
}

export interface BackoffOptions extends BackoffPolicy {
  /**
   * A success forgets the failures before it only once things have worked this long without a new failure (a
   * connection that opens and breaks at once must not reset the delay every time); default: at once
   */
  readonly resetAfterMs?: number;
  readonly random?: () => number;
  readonly now?: () => number;
}

/** The state of one retry loop: count failures, ask for the next delay, report what worked. */
export class Backoff {
  private failures = 0;
  private upSince: number | undefined;

  constructor(private readonly opts: BackoffOptions) {}

  /** Consecutive failures counted so far. */
  get attempts(): number {
    return this.failures;
  }

  /** Counts a failure and returns how long to wait before the next attempt. */
  failed(): number {
    const now = (this.opts.now ?? Date.now)();
    if (this.upSince !== undefined && now - this.upSince >= (this.opts.resetAfterMs ?? 0)) this.failures = 0;
    this.upSince = undefined;
    this.failures++;
    return backoffDelay(this.opts, this.failures, this.opts.random);
  }

  /** Things work (a request succeeded, a connection is up): the count is forgotten after `resetAfterMs` of it. */
  succeeded(): void {
    if (this.opts.resetAfterMs === undefined) {
      this.failures = 0;
      return;
    }
    this.upSince ??= (this.opts.now ?? Date.now)();
  }

  /** Starts over at once (a success that needs no probation, e.g. a completed list). */
  reset(): void {
    this.failures = 0;
    this.upSince = undefined;
  }
}

/**
 * Waits `ms`, or less when `signal` aborts (resolves, never rejects: the caller checks why it woke up). The timer does
 * not keep the process alive.
 */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    timer.unref();
    signal?.addEventListener('abort', done, { once: true });
  });
}
