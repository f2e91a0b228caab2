/** SHA-256 of files, and a pass-through that hashes what flows through it (uploads check their own bytes). */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ContentChangedError } from '../errors.ts';

/** Files up to this size are read whole: a stream per small file costs more than the hashing. */
export const WHOLE_READ_BYTES = 1024 * 1024;

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function sha256File(file: string, signal?: AbortSignal, size?: number): Promise<string> {
  if (size !== undefined && size <= WHOLE_READ_BYTES) return sha256(await readFile(file, signal ? { signal } : {}));
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash, { ...(signal ? { signal } : {}) });
  return hash.digest('hex');
}

/** Passes bytes through unchanged, hashing and counting them. */
export class HashingStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  bytes = 0;

  constructor(private readonly onBytes?: (bytes: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.onBytes?.(chunk.length);
    callback(null, chunk);
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

/** The error for an object whose bytes, read for upload, no longer hash to the name it was given. */
export function contentChanged(args: { file: string; sha256: string; actual: string; size: number; bytes: number }): ContentChangedError {
  return new ContentChangedError(`${args.file} changed while it was being published (it hashed to ${args.sha256.slice(0, 12)}…, `
    + `${args.size} bytes, and was read as ${args.actual.slice(0, 12)}…, ${args.bytes} bytes): `
    + 'let the build finish writing, then publish again');
}
