/** Structured logs (pino): JSON by default, each line carrying fleet, instance, attempt and command where they apply. */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(options: { level?: string; pretty?: boolean; destination?: NodeJS.WritableStream } = {}): Logger {
  const level = options.level ?? 'info';
  if (options.pretty) {
    return pino({ level, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss' } } });
  }
  return options.destination ? pino({ level }, options.destination) : pino({ level });
}

export const silentLogger: Logger = pino({ level: 'silent' });
