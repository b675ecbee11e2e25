import type { Logger } from 'pino';
import { createLogger } from '../../src/logger';

export interface CapturedLogs {
  /** The service's own logger (same redaction), writing into memory. */
  logger: Logger;
  /** Everything written so far, exactly as it would reach stdout. */
  text(): string;
  /** The lines, parsed. */
  lines(): Record<string, unknown>[];
}

export function captureLogs(level = 'trace'): CapturedLogs {
  const chunks: string[] = [];
  const logger = createLogger(level, { write: (chunk: string) => void chunks.push(chunk) });
  const text = () => chunks.join('');
  return {
    logger,
    text,
    lines: () =>
      text()
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

/**
 * The forms in which `secret` could reach a log line: as text, JSON-escaped, base64, hex, and as
 * the decimal byte list pino writes for a Buffer (how a raw packet's bytes would appear).
 */
export function tracesOf(secret: string): string[] {
  const bytes = Buffer.from(secret);
  return [
    secret,
    JSON.stringify(secret).slice(1, -1),
    bytes.toString('base64'),
    bytes.toString('hex'),
    [...bytes].join(','),
  ];
}

/** The secrets, of those given, that some trace of appears in `text`. */
export function leakedIn(text: string, secrets: string[]): string[] {
  return secrets.filter((secret) => tracesOf(secret).some((trace) => text.includes(trace)));
}
