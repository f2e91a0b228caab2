/** publish's progress line on a terminal: redrawn in place, at most every REDRAW_MS; nothing when piped. */
import type { Clock } from '../ports/clock.ts';
import type { PublishProgress } from '../publish/publish.ts';
import type { Output } from './cliIo.ts';
import { formatBytes } from '../../state/format.ts';

const REDRAW_MS = 100;
const BAR_WIDTH = 24;

export function progressLine(p: PublishProgress): string {
  const fraction = p.bytesTotal > 0 ? p.bytes / p.bytesTotal : p.total > 0 ? p.done / p.total : 1;
  const filled = Math.round(Math.min(1, fraction) * BAR_WIDTH);
  const what = p.phase === 'hashing' ? 'hashing  ' : 'uploading';
  return `${what} [${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${p.done}/${p.total} files, `
    + `${formatBytes(p.bytes)}/${formatBytes(p.bytesTotal)}`;
}

export class ProgressBar {
  private lastDrawMs = -Infinity;
  private drawn = false;

  constructor(private readonly out: Output, private readonly clock: Clock) {}

  get enabled(): boolean {
    return this.out.isTTY === true;
  }

  update(p: PublishProgress): void {
    if (!this.enabled) return;
    const now = this.clock.nowMs();
    const finished = p.done === p.total;
    if (!finished && now - this.lastDrawMs < REDRAW_MS) return;
    this.lastDrawMs = now;
    this.drawn = true;
    this.out.write(`\r\x1b[2K${progressLine(p)}`);
  }

  /** ends the line, so what follows starts on a fresh one */
  done(): void {
    if (this.drawn) this.out.write('\r\x1b[2K');
    this.drawn = false;
  }
}
