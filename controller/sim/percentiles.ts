/** Percentiles of a sample by the nearest-rank method: every figure reported is one that was measured. */

export interface Percentiles {
  p50: number | null;
  p99: number | null;
  max: number | null;
}

export function percentiles(values: number[]): Percentiles {
  if (values.length === 0) return { p50: null, p99: null, max: null };
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number): number => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
  return { p50: rank(50), p99: rank(99), max: sorted[sorted.length - 1]! };
}
