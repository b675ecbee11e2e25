import pino, { type DestinationStream, type Logger } from 'pino';

// Nothing logs headers or tokens on purpose; these paths make sure an object that carries them
// (a request, an error with its request's headers) is censored rather than written out.
const SECRET_KEYS = ['authorization', 'Authorization', 'token'];
const REDACT_PATHS = SECRET_KEYS.flatMap((key) => [key, `*.${key}`, `*.*.${key}`, `*.*.*.${key}`]);

/** The service's logger: JSON lines at `level`, credentials redacted. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } };
  return destination ? pino(options, destination) : pino(options);
}
