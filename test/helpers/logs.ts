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
        .map((line) => JSON.parse(line)),
  };
}
