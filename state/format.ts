/** Sizes for people: 1.7 MB, 950 kB, 12 B (decimal units, as S3's console shows them). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** "2000 files, 1.7 MB": a revision's size. */
export function formatSize(size: { files: number; bytes: number }): string {
  return `${size.files} files, ${formatBytes(size.bytes)}`;
}
