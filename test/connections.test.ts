import http from 'node:http';
import net from 'node:net';
import { expect } from 'chai';
import { killServices, spawnService } from './helpers/child';
import { createTestDatabase, type TestDatabase } from './helpers/databases';
import { captureLogs, type CapturedLogs } from './helpers/logs';
import { sendRaw } from './helpers/rawHttp';
import { startService, type RunningService } from './helpers/service';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** GET on a keep-alive agent with one socket, so consecutive calls share a connection. */
function get(url: string, agent: http.Agent): Promise<{ status: number; reusedSocket: boolean }> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent }, (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode!, reusedSocket: request.reusedSocket }));
    });
    request.on('error', reject);
  });
}

describe('connections and Node-level errors', () => {
  let database: TestDatabase;
  let running: RunningService;
  let logs: CapturedLogs;
  const HEADERS_TIMEOUT_MS = 600;
  before(async () => {
    database = await createTestDatabase('sqlite');
    logs = captureLogs('info');
    running = await startService(database.url, { HTTP_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS) }, logs.logger);
  });
  after(async () => {
    await running?.close();
    await database?.dispose();
  });

  const requestLines = (requestId: string) =>
    logs.lines().filter((line) => line.msg === 'request' && line.requestId === requestId);

  /** The reply is Node-level, yet has a fresh request id, closes the connection, has a JSON body and one log line. */
  const expectAnswered = (reply: Awaited<ReturnType<typeof sendRaw>>, status: number) => {
    expect(reply.status, reply.text).to.equal(status);
    expect(reply.headers['x-request-id']).to.match(UUID);
    expect(reply.headers.connection).to.equal('close');
    expect(reply.headers['content-type']).to.equal('application/json');
    expect(JSON.parse(reply.body)).to.have.keys('reason', 'message');
    expect(reply.closed).to.equal(true);
    const lines = requestLines(reply.headers['x-request-id']);
    expect(lines).to.have.length(1);
    expect(lines[0]).to.deep.include({ status, operationId: 'none' });
  };

  it('closes a connection that sends nothing within the headers timeout, answering 408', async function () {
    this.timeout(10_000);
    const reply = await sendRaw(running.url, '', 5000);
    expect(reply.closed).to.equal(true);
    // The timeout is checked every HEADERS_TIMEOUT_MS / 2, so it holds to within that.
    expect(reply.elapsedMs).to.be.within(HEADERS_TIMEOUT_MS - 50, HEADERS_TIMEOUT_MS * 2 + 500);
    expectAnswered(reply, 408);
  });

  it('closes a connection whose headers never finish (slowloris) within the headers timeout', async function () {
    this.timeout(10_000);
    const reply = await sendRaw(running.url, 'GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nx-slow: ', 5000);
    expect(reply.elapsedMs).to.be.below(HEADERS_TIMEOUT_MS * 2 + 500);
    expectAnswered(reply, 408);
  });

  it('answers headers over the size limit with 431, a request id and a log line', async () => {
    const reply = await sendRaw(
      running.url,
      `GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`,
    );
    expectAnswered(reply, 431);
  });

  it('answers a malformed request line and a request without Host with 400, a request id and a log line', async () => {
    expectAnswered(await sendRaw(running.url, 'GARBAGE\r\n\r\n'), 400);
    expectAnswered(await sendRaw(running.url, 'GET /health/live HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n'), 400);
    const noHost = await sendRaw(running.url, 'GET /health/live HTTP/1.1\r\n\r\n');
    expectAnswered(noHost, 400);
    expect(requestLines(noHost.headers['x-request-id'])[0]).to.deep.include({ method: 'GET', path: '/health/live' });
  });

  it('past HTTP_MAX_CONNECTIONS closes new connections while the open ones are still served', async function () {
    this.timeout(10_000);
    // Its own service: with the default headers timeout, the silent connections stay open throughout.
    const capped = await startService(database.url, { HTTP_MAX_CONNECTIONS: '4' }, logs.logger);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const held: net.Socket[] = [];
    try {
      expect(await get(`${capped.url}/health/live`, agent)).to.deep.equal({ status: 200, reusedSocket: false });
      // Three silent connections fill the cap of four with the agent's.
      for (let i = 0; i < 3; i++) {
        const socket = net.connect(Number(new URL(capped.url).port), '127.0.0.1');
        await new Promise((resolve) => socket.once('connect', resolve));
        held.push(socket);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
      const refused = await sendRaw(capped.url, 'GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 2000);
      expect(refused.closed).to.equal(true);
      expect(refused.text).to.equal('');
      expect(refused.elapsedMs).to.be.below(1000); // closed at once, not timed out
      expect(await get(`${capped.url}/health/live`, agent)).to.deep.equal({ status: 200, reusedSocket: true });
      expect(
        logs
          .lines()
          .filter((line) => line.msg === 'connection limit reached (HTTP_MAX_CONNECTIONS): new connections are closed'),
      ).to.have.length(1);
    } finally {
      agent.destroy();
      for (const socket of held) socket.destroy();
      await capped.close();
    }
  });
});

describe('shutdown with idle connections', () => {
  afterEach(killServices);

  it('SIGTERM closes connections that never sent a byte or sit idle, and exits 0 at once', async function () {
    this.timeout(30_000);
    const database = await createTestDatabase('sqlite');
    const held: net.Socket[] = [];
    try {
      const service = await spawnService(database.url);
      const port = Number(new URL(service.url).port);
      const closedAt: number[] = [];
      for (const bytes of [
        '',
        'GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n',
        'GET /health/live HTTP/1.1\r\n',
      ]) {
        const socket = net.connect(port, '127.0.0.1');
        socket.on('error', () => {});
        socket.on('close', () => closedAt.push(Date.now()));
        await new Promise((resolve) => socket.once('connect', resolve));
        held.push(socket);
        if (!bytes) continue;
        socket.write(bytes);
        // The complete request is answered first, so its connection is idle when the signal comes.
        if (bytes.endsWith('\r\n\r\n')) await new Promise((resolve) => socket.once('data', resolve));
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
      const signalledAt = Date.now();
      service.process.kill('SIGTERM');
      const exit = await service.exited;
      expect(exit).to.deep.equal({ code: 0, signal: null });
      expect(Date.now() - signalledAt).to.be.below(3000);
      for (let waited = 0; closedAt.length < 3 && waited < 1000; waited += 20) {
        await new Promise((resolve) => setTimeout(resolve, 20)); // the last FINs to arrive
      }
      expect(closedAt).to.have.length(3);
      expect(service.output()).to.contain('shut down cleanly');
    } finally {
      for (const socket of held) socket.destroy();
      await database.dispose();
    }
  });
});
