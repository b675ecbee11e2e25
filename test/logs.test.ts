import { expect } from 'chai';
import { serializeError } from '../src/logger';
import { killServices, spawnService } from './helpers/child';
import { createTestDatabase, type TestDatabase } from './helpers/databases';
import { captureLogs, leakedIn, type CapturedLogs } from './helpers/logs';
import { sendRaw } from './helpers/rawHttp';
import { startService, type RunningService } from './helpers/service';
import { CLIENT_ID, mintToken, ORG } from './helpers/tokens';

const MARKER = 'payload-marker-5e1b';

describe('error serializer', () => {
  const secretBytes = Buffer.from(
    `POST /audits HTTP/1.1\r\nAuthorization: Bearer secret-token-1\r\n\r\n{"u":"${MARKER}"}`,
  );
  const dangerous = () =>
    Object.assign(new Error('Parse Error: Invalid character in chunk size'), {
      code: 'HPE_INVALID_CHUNK_SIZE',
      rawPacket: secretBytes,
      headers: { authorization: 'Bearer secret-token-2', cookie: 'session=secret-token-3' },
      body: { userIdentifier: MARKER },
      request: { headers: { authorization: 'Bearer secret-token-4' }, data: MARKER },
      response: { data: MARKER },
      config: { password: 'secret-token-5', url: 'postgres://u:secret-token-6@db/x' },
      detail: `Key (id)=(${MARKER}) already exists.`,
    });
  const secrets = [MARKER, ...[1, 2, 3, 4, 5, 6].map((n) => `secret-token-${n}`)];

  it('keeps type, message, stack and code, and nothing else of an error', () => {
    const safe = serializeError(dangerous());
    expect(safe).to.have.all.keys('type', 'message', 'stack', 'code');
    expect(safe).to.deep.include({
      type: 'Error',
      message: 'Parse Error: Invalid character in chunk size',
      code: 'HPE_INVALID_CHUNK_SIZE',
    });
    expect(leakedIn(JSON.stringify(safe), secrets)).to.deep.equal([]);
  });

  it('follows the cause chain and aggregate errors with the same rules, and masks URL passwords and bearer tokens', () => {
    const outer = new Error('could not connect to postgres://u:secret-token-7@db/x with Bearer secret-token-8', {
      cause: new AggregateError([dangerous(), 'not an error'], 'all attempts failed', { cause: dangerous() }),
    });
    const safe = serializeError(outer) as { cause: { errors: unknown[]; cause: unknown } };
    expect(safe.cause).to.have.all.keys('type', 'message', 'stack', 'errors', 'cause');
    expect(safe.cause.errors).to.have.length(1);
    expect(safe.cause.errors[0]).to.have.all.keys('type', 'message', 'stack', 'code');
    expect(safe.cause.cause).to.have.all.keys('type', 'message', 'stack', 'code');
    const text = JSON.stringify(safe);
    expect(leakedIn(text, [...secrets, 'secret-token-7', 'secret-token-8'])).to.deep.equal([]);
    expect(text).to.include('postgres://u:***@db/x').and.include('Bearer [redacted]');
  });

  it('is what the logger writes for `err` and for an error under any other key, at any depth', () => {
    const logs = captureLogs();
    logs.logger.error({ err: dangerous() }, 'first');
    logs.logger.error(dangerous(), 'second');
    logs.logger.warn({ error: dangerous(), nested: { list: [{ failure: dangerous() }] } }, 'third');
    expect(logs.lines()).to.have.length(3);
    expect(leakedIn(logs.text(), secrets)).to.deep.equal([]);
    const [, , third] = logs.lines() as { error: unknown; nested: { list: { failure: unknown }[] } }[];
    expect(third.error).to.have.property('code', 'HPE_INVALID_CHUNK_SIZE');
    expect(third.nested.list[0].failure).to.have.property('message', 'Parse Error: Invalid character in chunk size');
  });
});

describe('malformed requests never put credentials or payloads in the log', () => {
  let database: TestDatabase;
  let running: RunningService;
  let logs: CapturedLogs;
  before(async () => {
    database = await createTestDatabase('sqlite');
    logs = captureLogs('trace'); // the most verbose level: nothing secret may appear even there
    running = await startService(database.url, {}, logs.logger);
  });
  after(async () => {
    await running?.close();
    await database?.dispose();
  });

  it('on a malformed chunked body, Transfer-Encoding: identity, and a Content-Length shorter than the body', async function () {
    this.timeout(20_000);
    const token = await mintToken();
    const body = JSON.stringify({ imsOrgId: ORG, userIdentifier: MARKER, resource: { resourceId: MARKER } });
    const head = (framing: string) =>
      `POST /audits HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: ${CLIENT_ID}\r\n` +
      `Authorization: Bearer ${token}\r\nContent-Type: application/json\r\n${framing}\r\n`;
    const requests = {
      chunked: head('Transfer-Encoding: chunked\r\n') + `${body.length.toString(16)}\r\n${body}\r\nnot-hex\r\n\r\n`,
      identity: head('Transfer-Encoding: identity\r\n') + body,
      shortLength: head('Content-Length: 10\r\n') + body,
    };
    for (const [name, bytes] of Object.entries(requests)) {
      const reply = await sendRaw(running.url, bytes);
      expect(reply.status, `${name}: ${reply.text}`).to.equal(400);
    }
    await new Promise((resolve) => setTimeout(resolve, 100)); // let the request log catch up
    const text = logs.text();
    expect(logs.lines().filter((line) => line.msg === 'request')).to.have.length.of.at.least(3);
    expect(leakedIn(text, [MARKER, ...token.split('.')])).to.deep.equal([]);
    expect(text).to.not.match(/rawPacket|bearer/i);
  });
});

describe('log lines are not held back', () => {
  afterEach(killServices);

  it('a request line reaches stdout within about a second on a quiet server', async function () {
    this.timeout(30_000);
    const database = await createTestDatabase('sqlite');
    try {
      const service = await spawnService(database.url);
      await new Promise((resolve) => setTimeout(resolve, 1500)); // quiet: start-up lines are out
      const res = await fetch(`${service.url}/health/live`);
      const requestId = res.headers.get('x-request-id')!;
      const answeredAt = Date.now();
      while (!service.output().includes(requestId) && Date.now() - answeredAt < 5000) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(service.output()).to.include(requestId);
      expect(Date.now() - answeredAt).to.be.below(1500);
    } finally {
      await killServices();
      await database.dispose();
    }
  });
});
