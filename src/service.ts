import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';
import type { Logger } from 'pino';
import { createApp } from './app';
import { createTokenVerifier } from './auth/tokenVerifier';
import type { Config } from './config';
import { DocsSite } from './docs/site';
import { Contract } from './http/contract';
import { createLogger } from './logger';
import { Metrics } from './metrics';
import { CursorCodec } from './http/cursor';
import { AuditStore } from './store/auditStore';
import { openDatabase } from './store/db';
import { EventWriter } from './store/eventWriter';
import { CommitSignal } from './store/commitSignal';
import { EventStreams } from './http/eventStream';
import { Deliverer } from './http/deliverer';
import { SubscriptionStore } from './store/subscriptions';

// Enough events per transaction to amortise its fsync; small enough to keep commit latency low.
const MAX_EVENTS_PER_COMMIT = 2000;
const IDEMPOTENCY_PURGE_INTERVAL_MS = 10 * 60_000;
// Subscriptions one instance delivers at once; more instances deliver more.
const WEBHOOK_CONCURRENCY = 16;

export interface Service {
  app: Koa;
  store: AuditStore;
  writer: EventWriter;
  logger: Logger;
  server?: Server;
  url?: string;
  listen(): Promise<string>;
  close(): Promise<void>;
}

/** Wires config → database (migrated) → contract → app. Used by main.ts and by the tests. */
export async function createService(config: Config, logger: Logger = createLogger(config.logLevel)): Promise<Service> {
  const database = openDatabase(config.database, {
    timeoutMs: config.dbTimeoutMs,
    log: (level, message) => logger[level]({ component: 'database' }, message),
  });
  const store = new AuditStore(database, config.idempotencyTtlMs);
  try {
    await store.migrate();
    const [contract, verifyToken, docs, cursorKey] = await Promise.all([
      Contract.load(),
      createTokenVerifier(config.auth),
      DocsSite.load(),
      store.sharedSecret('cursor-hmac'),
    ]);
    const cursors = new CursorCodec(cursorKey);
    const commits = new CommitSignal();
    const streams = new EventStreams(store, commits, config.stream);
    const subscriptions = new SubscriptionStore(database.knex, config.webhooks.failingAfterMs);
    const deliverer = new Deliverer(
      subscriptions,
      store,
      commits,
      { ...config.webhooks, concurrency: WEBHOOK_CONCURRENCY },
      logger.child({ component: 'webhooks' }),
    );
    const writer = new EventWriter(commits.wrap(store), {
      maxQueuedEvents: config.writeQueueMaxEvents,
      maxEventsPerCommit: MAX_EVENTS_PER_COMMIT,
    });
    const metrics = new Metrics({ writeQueueDepth: () => writer.depth, poolStats: () => store.poolStats() });
    const app = createApp({
      contract,
      verifyToken,
      logger,
      store,
      writer,
      config,
      metrics,
      docs,
      cursors,
      streams,
      subscriptions,
      deliverer,
    });
    deliverer.start();
    const purgeKeys = () =>
      store
        .deleteExpiredIdempotencyKeys()
        .catch((error) => logger.warn({ err: error }, 'could not purge idempotency keys'));
    void purgeKeys();
    const purgeTimer = setInterval(purgeKeys, IDEMPOTENCY_PURGE_INTERVAL_MS).unref();
    let closing = false;
    const service: Service = {
      app,
      store,
      writer,
      logger,
      async listen() {
        const server = app.listen(config.port, config.host);
        // Once closing, every reply ends its keep-alive connection: a busy client would
        // otherwise keep sending on it, and the server would never finish closing.
        server.on('request', (_request, response) => {
          if (closing) response.setHeader('Connection', 'close');
        });
        await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
        const { port } = server.address() as AddressInfo;
        service.server = server;
        service.url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
        return service.url;
      },
      async close() {
        closing = true;
        // Streams never end by themselves; the server's close would wait for them forever.
        const streamsClosed = streams.closeAll();
        if (service.server) {
          const server = service.server;
          // Stop accepting connections, let in-flight requests finish, drop idle keep-alives.
          const closed = new Promise<void>((resolve) => server.close(() => resolve()));
          server.closeIdleConnections();
          await closed;
        }
        clearInterval(purgeTimer);
        // Requests still waiting for a commit are answered before the database goes away.
        await writer.drain();
        await streamsClosed;
        await deliverer.stop();
        await store.close();
      },
    };
    return service;
  } catch (error) {
    await store.close();
    throw error;
  }
}
