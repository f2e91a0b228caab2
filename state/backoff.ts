/** Exponential backoff with a cap and "equal jitter": the delay lies in [d/2, d], d = min(cap, base * 2^(n-1)). */
export function backoffMs(args: { attempt: number; baseMs: number; capMs: number; random: number }): number {
  const exponent = Math.max(0, args.attempt - 1);
  const full = Math.min(args.capMs, args.baseMs * 2 ** Math.min(exponent, 30));
  const random = Math.min(Math.max(args.random, 0), 1);
  return Math.round(full / 2 + (random * full) / 2);
}
