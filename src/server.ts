import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from 'pino';
import type { HttpLimits } from './config';

/** The service's HTTP server: bounded waits and connections, Node's own errors answered and logged. */
export interface HttpServer {
  server: http.Server;
  listen(port: number, host: string): Promise<AddressInfo>;
  /**
   * Stops accepting connections, closes those without a request in progress at once, lets the
   * requests in progress finish (their connections close after the reply) and resolves when
   * every connection is gone.
   */
  close(): Promise<void>;
}

interface Connection {
  /** Requests read on this connection and not yet answered (more than one when pipelined). */
  active: number;
  /** The latest request's response, while unanswered. */
  response?: ServerResponse;
}

// Node's own answers to a request it could not parse: its code, the status, and what to tell the client.
const CLIENT_ERRORS: Record<string, { status: number; message: string }> = {
  HPE_HEADER_OVERFLOW: { status: 431, message: 'request headers are too large' },
  HPE_CHUNK_EXTENSIONS_OVERFLOW: { status: 413, message: 'chunk extensions are too large' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, message: 'the request was not received in time' },
};
const MALFORMED = { status: 400, message: 'the request is not valid HTTP/1.1' };
const DROP_WARNING_INTERVAL_MS = 10_000;

export function createHttpServer(handler: http.RequestListener, limits: HttpLimits, logger: Logger): HttpServer {
  const connections = new Map<Socket, Connection>();
  let closing = false;

  const serve = (request: IncomingMessage, response: ServerResponse) => {
    const socket = request.socket;
    const connection = connections.get(socket);
    // Once closing, every reply ends its keep-alive connection: a busy client would otherwise
    // keep sending on it, and the server would never finish closing.
    if (closing) response.setHeader('Connection', 'close');
    if (connection) {
      connection.active += 1;
      connection.response = response;
      response.once('close', () => {
        connection.active -= 1;
        if (connection.response === response) connection.response = undefined;
        // A reply whose headers went out before the shutdown began still said keep-alive.
        if (closing && connection.active === 0) socket.end();
      });
    }
    // RFC 9112 requires a Host on HTTP/1.1 requests. Node's own check would answer 400 without
    // a request id or a log line, so it is off and done here.
    if (request.headers.host === undefined && request.httpVersion === '1.1') {
      const requestId = randomUUID();
      const body = JSON.stringify({ reason: 'bad_request', message: 'an HTTP/1.1 request needs a Host header' });
      response.writeHead(400, {
        Connection: 'close',
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(body),
        'x-request-id': requestId,
      });
      response.end(body);
      logger.info(
        {
          requestId,
          method: request.method,
          path: request.url?.split('?', 1)[0],
          operationId: 'none',
          status: 400,
          reason: 'bad_request',
        },
        'request',
      );
      return;
    }
    handler(request, response);
  };

  const server = http.createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // Node checks the two timeouts above only this often (30 s by default), also for a
      // connection that never sends a byte: check often enough that they hold to about a second.
      connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs / 2),
      requireHostHeader: false,
    },
    serve,
  );
  server.maxConnections = limits.maxConnections;
  server.on('connection', (socket: Socket) => {
    connections.set(socket, { active: 0 });
    socket.once('close', () => connections.delete(socket));
  });

  let lastDropWarning = 0;
  server.on('drop', () => {
    const now = Date.now();
    if (now - lastDropWarning < DROP_WARNING_INTERVAL_MS) return;
    lastDropWarning = now;
    logger.warn(
      { maxConnections: limits.maxConnections },
      'connection limit reached (HTTP_MAX_CONNECTIONS): new connections are closed',
    );
  });

  // Node's parser failed (malformed request, headers too large, a header or request timeout).
  // Node's own reply has no request id and writes no log line; this one has both.
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    const response = connections.get(socket)?.response;
    // Nothing can be written cleanly to a reset connection or into a reply already under way.
    if (error.code === 'ECONNRESET' || !socket.writable || response?.headersSent) {
      socket.destroy();
      return;
    }
    const { status, message } = CLIENT_ERRORS[error.code ?? ''] ?? MALFORMED;
    const reason = status === 413 ? 'payload_too_large' : 'bad_request';
    const body = JSON.stringify({ reason, message });
    // A request in progress keeps its id, and the request log writes its line when it fails.
    const inProgressId = response?.getHeader('x-request-id');
    const requestId = typeof inProgressId === 'string' ? inProgressId : randomUUID();
    socket.write(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\n` +
        'Connection: close\r\nContent-Type: application/json\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\nx-request-id: ${requestId}\r\n\r\n${body}`,
    );
    socket.destroy();
    // Only the error's code: its rawPacket holds the request's bytes, credentials and body included.
    if (!response) logger.info({ requestId, operationId: 'none', status, reason, error: error.code }, 'request');
  });

  return {
    server,
    async listen(port, host) {
      server.listen(port, host);
      await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
      return server.address() as AddressInfo;
    },
    async close() {
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const [socket, connection] of connections) {
        if (connection.active === 0) socket.destroy();
        else if (connection.response && !connection.response.headersSent)
          connection.response.setHeader('Connection', 'close');
      }
      await closed;
    },
  };
}
