import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';
import pino, { type Logger } from 'pino';
import { createApp } from './app';
import { createTokenVerifier } from './auth/tokenVerifier';
import type { Config } from './config';
import { Contract } from './http/contract';
import { CursorCodec } from './http/cursor';
import { AuditStore } from './store/auditStore';
import { createKnex } from './store/db';

export interface Service {
  app: Koa;
  store: AuditStore;
  logger: Logger;
  server?: Server;
  url?: string;
  listen(): Promise<string>;
  close(): Promise<void>;
}

/** Wires config → database (migrated) → contract → app. Used by main.ts and by the tests. */
export async function createService(config: Config, logger: Logger = pino({ level: config.logLevel })): Promise<Service> {
  const store = new AuditStore(createKnex(config.database, { timeoutMs: config.dbTimeoutMs }));
  try {
    await store.migrate();
    const [contract, verifyToken, cursorKey] = await Promise.all([
      Contract.load(),
      createTokenVerifier(config.auth),
      store.sharedSecret('cursor-hmac'),
    ]);
    const cursors = new CursorCodec(cursorKey);
    const app = createApp({ contract, verifyToken, logger, store, config, cursors });
    const service: Service = {
      app,
      store,
      logger,
      async listen() {
        const server = app.listen(config.port, config.host);
        await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
        const { port } = server.address() as AddressInfo;
        service.server = server;
        service.url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
        return service.url;
      },
      async close() {
        if (service.server) {
          const server = service.server;
          // Stop accepting connections, let in-flight requests finish, drop idle keep-alives.
          const closed = new Promise<void>((resolve) => server.close(() => resolve()));
          server.closeIdleConnections();
          await closed;
        }
        await store.close();
      },
    };
    return service;
  } catch (error) {
    await store.close();
    throw error;
  }
}
