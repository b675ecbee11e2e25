import pino, { type DestinationStream, type Logger } from 'pino';

// Nothing logs headers or tokens on purpose; these paths make sure an object that carries them
// (a request, an error with its request's headers) is censored rather than written out. They
// are spelled out: wildcard paths made redaction the costliest part of every request log line.
const SECRET_KEYS = ['authorization', 'Authorization', 'token'];
const CARRIERS = [
  '',
  'headers.',
  'req.headers.',
  'err.',
  'err.headers.',
  'err.request.headers.',
  'err.config.headers.',
];
const REDACT_PATHS = CARRIERS.flatMap((carrier) => SECRET_KEYS.map((key) => carrier + key));

/**
 * The service's logger: JSON lines at `level` on stdout, credentials redacted. Lines are
 * written in batches rather than one write per line (a request log line per request would
 * otherwise cost a system call each); pino flushes what is buffered when the process exits.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } };
  return pino(options, destination ?? pino.destination({ dest: 1, sync: false, minLength: 4096 }));
}
