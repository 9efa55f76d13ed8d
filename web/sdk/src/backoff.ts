/**
 * Reconnect delays: exponential with full jitter, so a thousand visitors cut off by the
 * same network blip do not come back in the same millisecond (the engine sheds a
 * reconnect storm, but it is cheaper not to cause one).
 */

/** The limits of the backoff. */
export interface BackoffOptions {
  /** Upper bound of the first delay, in ms. */
  baseMs: number;
  /** Upper bound of any delay, in ms. */
  maxMs: number;
}

/**
 * The delay before reconnect attempt `attempt` (0 for the first retry): uniformly
 * random in `[0, min(maxMs, baseMs * 2^attempt)]`. `random` is injectable for tests.
 */
export function backoffDelay(attempt: number, opts: BackoffOptions, random: () => number = Math.random): number {
  const exp = Math.min(Math.max(attempt, 0), 30);
  const cap = Math.min(opts.maxMs, opts.baseMs * 2 ** exp);
  return Math.floor(random() * cap);
}
