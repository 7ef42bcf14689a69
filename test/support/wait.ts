// Waiting in tests. Positive checks wait on their condition (`waitFor` in fake-apiserver.ts); the only fixed wait is
// the window of a negative check ("nothing happens"), which a slow machine can make less strict but never fail.

/** A window in which the test asserts that nothing happened. Never use it to wait for something to happen. */
export function quietPeriod(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
