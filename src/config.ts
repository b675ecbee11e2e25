import path from 'node:path';
import { parseRetention } from './domain/retention';

/** Where events are kept: the embedded SQLite file, or a PostgreSQL server. */
export type DatabaseConfig = { client: 'sqlite'; filename: string } | { client: 'postgres'; connectionString: string };

/** How bearer tokens are verified. `dev` signs and verifies with a generated local secret. */
export type AuthConfig = {
  issuer?: string;
  audience?: string;
} & (
  | { mode: 'secret'; secret: string }
  | { mode: 'jwks-file'; jwksFile: string }
  | { mode: 'jwks-url'; jwksUrl: URL }
  | { mode: 'dev'; secretFile: string }
);

/**
 * The keys that sign checkpoints: a file of Go note private keys, newest first (CHECKPOINT_KEY_FILE),
 * or in dev mode one key generated under the data directory. Read by src/checkpointKeys.ts.
 */
export type CheckpointKeysConfig = { mode: 'file'; file: string } | { mode: 'dev'; file: string };

export interface Config {
  port: number;
  host: string;
  database: DatabaseConfig;
  auth: AuthConfig;
  checkpointKeys: CheckpointKeysConfig;
  logLevel: string;
  /** Largest accepted request body, in bytes; larger bodies get 413 without being buffered. */
  bodyLimitBytes: number;
  /** The same for POST /audits/batch. */
  batchBodyLimitBytes: number;
  /** Events waiting for their commit, at most; past it writes get 503 with Retry-After at once. */
  writeQueueMaxEvents: number;
  /** How long an Idempotency-Key is remembered. */
  idempotencyTtlMs: number;
  /**
   * The longest wait on the database: connecting, a pooled connection, one statement (its
   * reply is given 500 ms more), SQLite's busy wait. Past it a request fails with 503 rather than hang.
   */
  dbTimeoutMs: number;
  /** Server-Sent Event streams: heartbeat interval, poll for other instances' commits, slow-consumer cut-off. */
  stream: { heartbeatMs: number; pollMs: number; stallMs: number };
  /** Webhook push (see the spec's POST /audits/subscriptions). */
  webhooks: {
    /** Hosts subscriptions may name (exact, or `*.suffix`); none by default. Dev mode adds loopback. */
    allowedHosts: string[];
    allowLoopback: boolean;
    /** Events per request, at most. */
    batchEvents: number;
    /** How often due subscriptions are looked for (other instances' commits, retries). */
    pollMs: number;
    requestTimeoutMs: number;
    backoffMinMs: number;
    backoffMaxMs: number;
    failingAfterMs: number;
    leaseMs: number;
  };
  http: HttpLimits;
  /** The log monitor: how often it verifies what each tenant appended (0: never), and every how many rounds the whole log. */
  monitor: { intervalMs: number; fullEvery: number };
  /**
   * Retention (#14): the default for tenants without a policy of their own (undefined: keep
   * forever), as its ISO 8601 text and in ms, and how often the purge job runs.
   */
  retention: { default?: { text: string; ms: number }; intervalMs: number };
  /** Erasure (#14): the tag keys whose values are personal data, erased with a subject's userIdentifier. */
  erasure: { personalTagKeys: string[] };
}

/** How long a client may take and how many connections it may hold; see the README's Configuration. */
export interface HttpLimits {
  /** To receive a request's headers; a connection that sends nothing is closed after this too. */
  headersTimeoutMs: number;
  /** To receive a whole request, body included (not the response, which may stream for long). */
  requestTimeoutMs: number;
  /** How long an idle keep-alive connection is kept open after a response. */
  keepAliveTimeoutMs: number;
  /** Open connections, at most; past it new ones are closed at once. */
  maxConnections: number;
}

export class ConfigError extends Error {}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** The only reader of the environment. Throws ConfigError naming the variable on a bad value. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const dataDir = env.DATA_DIR || 'data';
  const auth = authConfig(env, dataDir);
  return {
    port: integer(env, 'PORT', 8080, 0, 65535),
    host: env.HOST || '127.0.0.1',
    database: parseDatabaseUrl(env.DATABASE_URL || `sqlite:${path.join(dataDir, 'audit.db')}`),
    auth,
    checkpointKeys: env.CHECKPOINT_KEY_FILE
      ? { mode: 'file', file: env.CHECKPOINT_KEY_FILE }
      : { mode: 'dev', file: path.join(dataDir, 'dev-checkpoint-key') },
    logLevel: oneOf(env, 'LOG_LEVEL', 'info', LOG_LEVELS),
    bodyLimitBytes: integer(env, 'BODY_LIMIT_BYTES', 64 * 1024, 1, 64 * 1024 * 1024),
    batchBodyLimitBytes: integer(env, 'BATCH_BODY_LIMIT_BYTES', 1024 * 1024, 1, 64 * 1024 * 1024),
    writeQueueMaxEvents: integer(env, 'WRITE_QUEUE_MAX_EVENTS', 20_000, 1, 10_000_000),
    idempotencyTtlMs: integer(env, 'IDEMPOTENCY_TTL_HOURS', 24, 1, 24 * 365) * 3600_000,
    dbTimeoutMs: integer(env, 'DB_TIMEOUT_MS', 3000, 100, 60_000),
    monitor: {
      intervalMs: integer(env, 'MONITOR_INTERVAL_MS', 60_000, 0, 24 * 3600_000),
      fullEvery: integer(env, 'MONITOR_FULL_EVERY', 60, 1, 1_000_000),
    },
    stream: {
      heartbeatMs: integer(env, 'STREAM_HEARTBEAT_MS', 15_000, 10, 3600_000),
      pollMs: integer(env, 'STREAM_POLL_MS', 500, 10, 60_000),
      stallMs: integer(env, 'STREAM_STALL_MS', 30_000, 10, 3600_000),
    },
    retention: {
      default: env.RETENTION_DEFAULT
        ? { text: env.RETENTION_DEFAULT, ms: duration(env, 'RETENTION_DEFAULT') }
        : undefined,
      intervalMs: env.RETENTION_INTERVAL ? duration(env, 'RETENTION_INTERVAL') : 3600_000,
    },
    erasure: { personalTagKeys: personalTagKeys(env) },
    webhooks: webhookConfig(env, auth.mode === 'dev'),
    http: httpLimits(env),
  };
}

/** PERSONAL_TAG_KEYS: comma-separated tag keys (1–128 characters each, as the spec's tag keys); none by default. */
function personalTagKeys(env: NodeJS.ProcessEnv): string[] {
  const keys = (env.PERSONAL_TAG_KEYS ?? '')
    .split(',')
    .map((key) => key.trim())
    .filter(Boolean);
  const bad = keys.find((key) => key.length > 128);
  if (bad !== undefined) throw new ConfigError('PERSONAL_TAG_KEYS: a tag key is at most 128 characters');
  return [...new Set(keys)];
}

function webhookConfig(env: NodeJS.ProcessEnv, devMode: boolean): Config['webhooks'] {
  const allowedHosts = (env.WEBHOOK_ALLOWED_HOSTS ?? '')
    .split(',')
    .map((host) => host.trim().toLowerCase())
    .filter(Boolean);
  const bad = allowedHosts.find((host) => !/^(\*\.)?[a-z0-9.:[\]-]+$/.test(host));
  if (bad !== undefined) throw new ConfigError(`WEBHOOK_ALLOWED_HOSTS: "${bad}" is not a host name or *.suffix`);
  const webhooks = {
    allowedHosts,
    allowLoopback: devMode,
    batchEvents: integer(env, 'WEBHOOK_BATCH_EVENTS', 500, 1, 5000),
    pollMs: integer(env, 'WEBHOOK_POLL_MS', 500, 10, 60_000),
    requestTimeoutMs: integer(env, 'WEBHOOK_TIMEOUT_MS', 10_000, 10, 600_000),
    backoffMinMs: integer(env, 'WEBHOOK_BACKOFF_MIN_MS', 1000, 1, 3600_000),
    backoffMaxMs: integer(env, 'WEBHOOK_BACKOFF_MAX_MS', 300_000, 1, 24 * 3600_000),
    failingAfterMs: integer(env, 'WEBHOOK_FAILING_AFTER_MS', 3600_000, 1, 30 * 24 * 3600_000),
    leaseMs: integer(env, 'WEBHOOK_LEASE_MS', 30_000, 100, 3600_000),
  };
  // A lease must outlast the request it covers, or a slow receiver would get two deliverers.
  if (webhooks.leaseMs <= webhooks.requestTimeoutMs)
    throw new ConfigError('WEBHOOK_LEASE_MS must be longer than WEBHOOK_TIMEOUT_MS');
  return webhooks;
}

function httpLimits(env: NodeJS.ProcessEnv): HttpLimits {
  const limits: HttpLimits = {
    headersTimeoutMs: integer(env, 'HTTP_HEADERS_TIMEOUT_MS', 10_000, 100, 600_000),
    // A full 1 MiB batch in a minute needs about 140 kbit/s: slow links still make it.
    requestTimeoutMs: integer(env, 'HTTP_REQUEST_TIMEOUT_MS', 60_000, 100, 3_600_000),
    keepAliveTimeoutMs: integer(env, 'HTTP_KEEP_ALIVE_TIMEOUT_MS', 5000, 100, 600_000),
    // Below the usual descriptor limits, with room for database connections and files.
    maxConnections: integer(env, 'HTTP_MAX_CONNECTIONS', 10_000, 1, 1_000_000),
  };
  // Node refuses a headers timeout longer than the request timeout; say so in our terms.
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) {
    throw new ConfigError(
      `HTTP_HEADERS_TIMEOUT_MS (${limits.headersTimeoutMs}) must not exceed HTTP_REQUEST_TIMEOUT_MS (${limits.requestTimeoutMs})`,
    );
  }
  return limits;
}

export function parseDatabaseUrl(url: string): DatabaseConfig {
  if (url.startsWith('sqlite:')) {
    const filename = url.slice('sqlite:'.length);
    if (!filename) throw new ConfigError('DATABASE_URL: sqlite: needs a file path, e.g. sqlite:data/audit.db');
    // Events are committed over a second connection (a worker thread), which an in-memory
    // database would not share; nor would it keep what a 201 promises.
    if (filename === ':memory:')
      throw new ConfigError('DATABASE_URL: sqlite: needs a file path; in-memory databases are not supported');
    return { client: 'sqlite', filename };
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    try {
      new URL(url);
    } catch {
      throw new ConfigError(`DATABASE_URL: not a valid postgres:// URL: "${withoutCredentials(url)}"`);
    }
    return { client: 'postgres', connectionString: url };
  }
  throw new ConfigError(
    `DATABASE_URL must start with sqlite: or postgres://, got "${withoutCredentials(url).slice(0, 60)}"`,
  );
}

// scheme://user:password@ — up to the last @ of the word, so that a password with an unescaped
// @ or / (the typo that makes a URL invalid) is masked whole.
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s"'<>@:/]*):[^\s"'<>]*@/gi;
// libpq also takes the password as a query parameter.
const PASSWORD_PARAMETER = /([?&]password=)[^&\s"'<>]*/gi;

/** `text` with the password of every URL in it masked: for messages that may quote a URL. */
export function withoutCredentials(text: string): string {
  return text.replace(URL_CREDENTIALS, '$1$2:***@').replace(PASSWORD_PARAMETER, '$1***');
}

/** Where the events are, for a log line: the SQLite file, or the PostgreSQL URL without its password. */
export function describeDatabase(database: DatabaseConfig): string {
  if (database.client === 'sqlite') return `sqlite:${database.filename}`;
  const url = new URL(database.connectionString);
  if (url.password) url.password = '***';
  if (url.searchParams.has('password')) url.searchParams.set('password', '***');
  return url.toString();
}

function authConfig(env: NodeJS.ProcessEnv, dataDir: string): AuthConfig {
  const claims = { issuer: env.AUTH_ISSUER || undefined, audience: env.AUTH_AUDIENCE || undefined };
  const sources = ['AUTH_JWT_SECRET', 'AUTH_JWKS_FILE', 'AUTH_JWKS_URL'].filter((name) => env[name]);
  if (sources.length > 1) throw new ConfigError(`set only one of ${sources.join(', ')}`);
  if (env.AUTH_JWT_SECRET) {
    // HS256 keys shorter than the hash output are brute-forceable.
    if (Buffer.byteLength(env.AUTH_JWT_SECRET) < 32) throw new ConfigError('AUTH_JWT_SECRET must be at least 32 bytes');
    return { ...claims, mode: 'secret', secret: env.AUTH_JWT_SECRET };
  }
  if (env.AUTH_JWKS_FILE) return { ...claims, mode: 'jwks-file', jwksFile: env.AUTH_JWKS_FILE };
  if (env.AUTH_JWKS_URL) {
    let url: URL;
    try {
      url = new URL(env.AUTH_JWKS_URL);
    } catch {
      throw new ConfigError(`AUTH_JWKS_URL is not a URL: "${withoutCredentials(env.AUTH_JWKS_URL)}"`);
    }
    return { ...claims, mode: 'jwks-url', jwksUrl: url };
  }
  return { ...claims, mode: 'dev', secretFile: path.join(dataDir, 'dev-jwt-secret') };
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

/** An ISO 8601 duration of weeks to seconds (see src/domain/retention.ts), in ms. */
function duration(env: NodeJS.ProcessEnv, name: string): number {
  const raw = env[name] ?? '';
  const parsed = parseRetention(raw);
  if ('problem' in parsed) throw new ConfigError(`${name} "${raw.slice(0, 40)}": ${parsed.problem}`);
  return parsed.ms;
}

function oneOf(env: NodeJS.ProcessEnv, name: string, fallback: string, allowed: string[]): string {
  const raw = env[name] || fallback;
  if (!allowed.includes(raw)) throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got "${raw}"`);
  return raw;
}
