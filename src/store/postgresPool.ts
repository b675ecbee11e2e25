// The one PostgreSQL connection pool of a service: knex's reads and migrations use it
// (knex's `connectionPool`) and so does the commit path (postgresCommitter.ts).
import pg from 'pg';
import { DatabaseFaultError, FAULT_CODES } from './errors';

export interface PostgresPoolOptions {
  connectionString: string;
  /** The longest wait on the database: connecting, a pooled connection, a statement. */
  timeoutMs: number;
  /** Where errors of idle pooled connections go (a dropped connection); they are otherwise harmless. */
  onIdleError?: (error: Error) => void;
}

// The reply timeout is a little longer than the server's statement_timeout, so a slow
// statement is normally cancelled by the server (57014), which keeps the connection usable.
const REPLY_GRACE_MS = 500;
// An idle pooled connection is probed this often, so a silently dropped one is noticed.
const KEEPALIVE_DELAY_MS = 10_000;

/** The settings of every PostgreSQL connection, the pool's and those of knex's own pool (createKnex). */
export function connectionSettings(connectionString: string, timeoutMs: number) {
  return {
    connectionString,
    connectionTimeoutMillis: timeoutMs,
    // Server side: a statement (or its wait for a chain head locked by another instance)
    // is cancelled after the timeout; a session left idle inside a transaction, e.g. by an
    // instance cut off mid-commit, is ended so its head-row locks do not block the others.
    statement_timeout: timeoutMs,
    idle_in_transaction_session_timeout: 2 * timeoutMs,
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS,
  } satisfies pg.ClientConfig;
}

type Callback = (error: Error | undefined, result?: pg.QueryResult) => void;

/**
 * A connection whose every query is answered within the reply timeout or fails with a coded
 * error (errors.ts tells faults by code, never by message): pg's own query_timeout error
 * has no code. A reply that timed out closes the connection at once, so whatever was to be
 * sent next (a ROLLBACK) never queues behind the unanswered statement; the server rolls the
 * transaction back. A query on a connection that was lost fails with CONNECTION_LOST.
 */
class GuardedClient extends pg.Client {
  /** Set once the connection is closed, broken or timed out: it must not be used again. */
  lost = false;
  private readonly replyTimeoutMs: number;

  constructor(config: pg.ClientConfig & { replyTimeoutMs: number }) {
    super(config);
    this.replyTimeoutMs = config.replyTimeoutMs;
    // Also keeps an error while the connection is checked out (the server ending the session)
    // from being an unhandled 'error' event; the query that follows fails with CONNECTION_LOST.
    this.on('error', () => (this.lost = true));
    this.on('end', () => (this.lost = true));
  }

  // pg's query() has a dozen overloads; this keeps all of them and guards the two that knex
  // and the committer use (a promise, or a callback as last argument).
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  override query(...args: any[]): any {
    const first = args[0] as { submit?: unknown } | undefined;
    // A Submittable (a query stream) manages its own lifetime.
    if (typeof first?.submit === 'function') return super.query(first as pg.QueryConfig);
    const callback = typeof args.at(-1) === 'function' ? (args.pop() as Callback) : undefined;
    const reply = this.guard((super.query as (...a: unknown[]) => Promise<pg.QueryResult>).apply(this, args));
    if (!callback) return reply;
    reply.then(
      (result) => callback(undefined, result),
      (error: Error) => callback(error),
    );
  }

  private guard(reply: Promise<pg.QueryResult>): Promise<pg.QueryResult> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const timeOut = () => {
        if (settled) return;
        settled = true;
        this.lost = true;
        reject(
          new DatabaseFaultError(
            `the database sent no reply within ${this.replyTimeoutMs} ms`,
            FAULT_CODES.replyTimeout,
          ),
        );
        this.end().catch(() => {});
      };
      // Timers run before pending I/O in a turn of the event loop: after a long synchronous
      // stretch (compiling the contract at start-up) a reply that did arrive would lose to the
      // timer. setImmediate lets the turn's I/O be read first.
      const timer = setTimeout(() => setImmediate(timeOut), this.replyTimeoutMs);
      reply.then(
        (result) => {
          clearTimeout(timer);
          if (settled) return;
          settled = true;
          resolve(result);
        },
        (error: Error & { code?: unknown }) => {
          clearTimeout(timer);
          if (settled) return;
          settled = true;
          // A lost connection fails its queries with pg's uncoded "Connection terminated" errors.
          const uncoded = typeof error.code !== 'string';
          reject(
            this.lost && uncoded
              ? new DatabaseFaultError('the database connection was lost', FAULT_CODES.connectionLost, error)
              : error,
          );
        },
      );
    });
  }
}

/**
 * pg.Pool, with two rules for every connection it hands out: it is idle outside a
 * transaction (one released inside a transaction, e.g. after a lost ROLLBACK, or lost, is
 * closed instead of pooled, which aborts its transaction), and failing to get one is a
 * coded fault.
 */
export class PostgresPool extends pg.Pool {
  constructor({ connectionString, timeoutMs, onIdleError }: PostgresPoolOptions) {
    const config: pg.PoolConfig & { replyTimeoutMs: number } = {
      // pg.Pool constructs its connections with this class, passing it this whole configuration.
      Client: GuardedClient as unknown as pg.PoolConfig['Client'],
      // connectionTimeoutMillis bounds both connecting and waiting for a pooled connection.
      ...connectionSettings(connectionString, timeoutMs),
      max: 10,
      idleTimeoutMillis: 30_000,
      // Scripts exit once done; the service is kept alive by its server anyway.
      allowExitOnIdle: true,
      replyTimeoutMs: timeoutMs + REPLY_GRACE_MS,
    };
    super(config);
    // An idle connection that breaks is removed by the pool; without a listener its 'error' would end the process.
    this.on('error', (error) => onIdleError?.(error));
  }

  // The callback form is left as it is; the promise form, which knex and the committer use, gets the rules.
  override connect(): Promise<pg.PoolClient>;
  override connect(
    callback: (error: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void,
  ): void;
  override connect(
    callback?: (error: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void,
  ): Promise<pg.PoolClient> | void {
    if (callback) return super.connect(callback);
    return super.connect().then(
      (client) => {
        const release = client.release.bind(client);
        client.release = (destroy?: boolean | Error) =>
          release(
            destroy || (client as unknown as GuardedClient).lost || client.getTransactionStatus() !== 'I' || undefined,
          );
        return client;
      },
      (error: Error & { code?: unknown }) => {
        // pg-pool's own timeouts carry no code; a refused or reset connection does.
        throw typeof error.code === 'string'
          ? error
          : new DatabaseFaultError('could not get a database connection', FAULT_CODES.connectFailed, error);
      },
    );
  }
}
