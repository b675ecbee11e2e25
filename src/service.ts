import type { Server } from 'node:http';
import type Koa from 'koa';
import type { Logger } from 'pino';
import { acceptContinue, createApp } from './app';
import { createTokenVerifier } from './auth/tokenVerifier';
import { loadCheckpointNotary } from './checkpointKeys';
import { withoutCredentials, type Config } from './config';
import { DocsSite } from './docs/site';
import { ViewerSite } from './docs/viewerSite';
import { createDevSignIn } from './auth/devSignIn';
import { Contract } from './http/contract';
import { createLogger } from './logger';
import { Metrics } from './metrics';
import { CursorCodec } from './http/cursor';
import { AuditStore } from './store/auditStore';
import { openDatabase } from './store/db';
import { type CommitStats, EventWriter, noCommitStats } from './store/eventWriter';
import { createHttpServer } from './server';
import { CommitSignal } from './store/commitSignal';
import { EventStreams } from './http/eventStream';
import { Deliverer } from './http/deliverer';
import { SubscriptionStore } from './store/subscriptions';
import { LogMonitor } from './monitor';
import { ErasureJobs } from './erasure';
import { RetentionJob } from './retention';

// Enough events per transaction to amortise its fsync; small enough to keep commit latency low.
const MAX_EVENTS_PER_COMMIT = 2000;
const IDEMPOTENCY_PURGE_INTERVAL_MS = 10 * 60_000;
// Subscriptions one instance delivers at once; more instances deliver more.
const WEBHOOK_CONCURRENCY = 16;

export interface Service {
  app: Koa;
  store: AuditStore;
  monitor: LogMonitor;
  /** The retention purge job (#14). */
  retention: RetentionJob;
  writer: EventWriter;
  logger: Logger;
  server?: Server;
  url?: string;
  listen(): Promise<string>;
  close(): Promise<void>;
  /** The commits' counters since the previous call (npm run bench reads them through SIGUSR2). */
  takeCommitStats(): CommitStats;
}

/** Wires config → database (migrated) → contract → app. Used by main.ts and by the tests. */
export async function createService(config: Config, logger: Logger = createLogger(config.logLevel)): Promise<Service> {
  const database = openDatabase(config.database, {
    timeoutMs: config.dbTimeoutMs,
    log: (level, message) => logger[level]({ component: 'database' }, withoutCredentials(message)),
  });
  const store = new AuditStore(database, config.idempotencyTtlMs);
  try {
    await store.migrate();
    const [contract, verifyToken, docs, viewer, cursorKey] = await Promise.all([
      Contract.load(),
      createTokenVerifier(config.auth),
      DocsSite.load(),
      ViewerSite.load(),
      store.sharedSecret('cursor-hmac'),
    ]);
    if (viewer.missing.length > 0) {
      logger.warn(`the viewer (GET /) is not built: ${viewer.missing.join(', ')} missing; run npm run build`);
    }
    const notary = loadCheckpointNotary(config, { warn: (message) => logger.warn(message) });
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
    const erasures = new ErasureJobs(store, writer, logger.child({ component: 'erasure' }), {
      personalTagKeys: config.erasure.personalTagKeys,
    });
    const app = createApp({
      contract,
      verifyToken,
      logger,
      store,
      writer,
      config,
      metrics,
      docs,
      viewer,
      devSignIn: createDevSignIn(config.auth),
      cursors,
      streams,
      subscriptions,
      deliverer,
      notary,
      erasures,
    });
    deliverer.start();
    const monitor = new LogMonitor(
      store.log,
      notary,
      metrics,
      logger.child({ component: 'monitor' }),
      config.monitor.intervalMs,
      config.monitor.fullEvery,
    );
    monitor.start();
    const retention = new RetentionJob(store, writer, logger.child({ component: 'retention' }), {
      intervalMs: config.retention.intervalMs,
      defaultMs: config.retention.default?.ms,
    });
    retention.start();
    const purgeKeys = () =>
      store
        .deleteExpiredIdempotencyKeys()
        .catch((error) => logger.warn({ err: error }, 'could not purge idempotency keys'));
    void purgeKeys();
    const purgeTimer = setInterval(() => void purgeKeys(), IDEMPOTENCY_PURGE_INTERVAL_MS).unref();
    // Koa's handler answers its own errors, so its promise never rejects: nothing to await.
    const handle = app.callback();
    const http = createHttpServer((request, response) => void handle(request, response), config.http, logger);
    acceptContinue(http.server);
    const service: Service = {
      app,
      store,
      monitor,
      retention,
      writer,
      logger,
      takeCommitStats() {
        const stats = { ...writer.stats, ...store.takeCommitTiming() };
        writer.stats = noCommitStats();
        return stats;
      },
      async listen() {
        const { port } = await http.listen(config.port, config.host);
        service.server = http.server;
        service.url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
        return service.url;
      },
      async close() {
        // Streams never end by themselves; the server's close would wait for them forever.
        const streamsClosed = streams.closeAll();
        if (service.server) await http.close();
        clearInterval(purgeTimer);
        // Before the writer drains: a purge's or an erasure's event goes through it.
        await retention.stop();
        await erasures.stop();
        // Requests still waiting for a commit are answered before the database goes away.
        await writer.drain();
        await streamsClosed;
        await deliverer.stop();
        await monitor.stop();
        await store.close();
      },
    };
    return service;
  } catch (error) {
    await store.close();
    throw error;
  }
}
