import { expect } from 'chai';
import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import {
  createAuditClient,
  createAuditLogger,
  type AuditEvent,
  type AuditFailure,
  type AuditLoggerOptions,
  type DropReason,
  type OverflowPolicy,
} from '@audit-service/client';
import { parseRetryAfter, retryDelay } from '../src/client/logger';
import { sampleEvent, startService } from './helpers/service';
import { CLIENT_ID, mintToken } from './helpers/tokens';
import { createTestDatabase } from './helpers/databases';

interface Received {
  at: number;
  key: string | undefined;
  events: AuditEvent[];
}

type Answer = { status: number; headers?: Record<string, string>; body?: unknown } | 'reset';

/** A stand-in for the service that records each POST /audits/batch and answers as the test says. */
async function stubServer(answer: (request: Received, index: number) => Answer = () => ({ status: 201 })) {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request: Received = {
        at: Date.now(),
        key: req.headers['idempotency-key'] as string | undefined,
        events: JSON.parse(Buffer.concat(chunks).toString()) as AuditEvent[],
      };
      received.push(request);
      const reply = answer(request, received.length - 1);
      if (reply === 'reset') return req.socket.resetAndDestroy();
      const body = reply.body ?? (reply.status === 201 ? { ids: request.events.map((_, i) => `id-${i}`) } : '');
      res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
      res.end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const event = (i: number): AuditEvent => ({ ...(sampleEvent() as AuditEvent), resource: { resourceId: `item/${i}` } });
const ids = (events: AuditEvent[]) => events.map((e) => e.resource.resourceId);
const until = async (condition: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

describe('createAuditLogger', () => {
  let stub: Awaited<ReturnType<typeof stubServer>> | undefined;
  afterEach(async () => {
    await stub?.close();
    stub = undefined;
  });
  const options = <P extends OverflowPolicy = 'drop-newest'>(
    url: string,
    more: Partial<AuditLoggerOptions<P>> = {},
  ): AuditLoggerOptions<P> => ({
    baseUrl: url,
    apiKey: CLIENT_ID,
    token: 'jwt',
    retry: { baseDelayMs: 5, maxDelayMs: 2000 },
    ...more,
  });

  it('sends a batch as soon as it fills, and a partial one once maxDelayMs has passed', async () => {
    stub = await stubServer();
    const audit = createAuditLogger(options(stub.url, { maxBatchSize: 3, maxDelayMs: 300 }));
    const start = Date.now();
    for (let i = 0; i < 5; i++) audit.log(event(i));
    await until(() => stub!.received.length === 1);
    expect(ids(stub.received[0].events)).to.deep.equal(['item/0', 'item/1', 'item/2']);
    expect(stub.received[0].at - start).to.be.below(200);
    await until(() => stub!.received.length === 2);
    expect(ids(stub.received[1].events)).to.deep.equal(['item/3', 'item/4']);
    expect(stub.received[1].at - start).to.be.at.least(290);
    await audit.close();
    expect(audit.metrics()).to.deep.equal({ sent: 5, retried: 0, dropped: 0, failed: 0, pending: 0 });
  });

  it('keeps batches under maxBatchBytes', async () => {
    stub = await stubServer();
    const size = JSON.stringify(event(0)).length;
    const audit = createAuditLogger(options(stub.url, { maxBatchBytes: size * 2 + 10, maxDelayMs: 50 }));
    for (let i = 0; i < 5; i++) audit.log(event(i));
    await audit.close();
    expect(stub.received.map((r) => r.events.length)).to.deep.equal([2, 2, 1]);
  });

  it('gives each batch its own Idempotency-Key and reuses it on every retry of that batch (503, 429, a reset)', async () => {
    stub = await stubServer(
      (_, index) =>
        [{ status: 503, headers: { 'retry-after': '0' } }, { status: 429 }, 'reset' as const][index] ?? { status: 201 },
    );
    const audit = createAuditLogger(options(stub.url, { maxBatchSize: 2 }));
    for (let i = 0; i < 4; i++) audit.log(event(i));
    await audit.close();
    const keys = stub.received.map((r) => r.key);
    expect(keys).to.have.length(5);
    expect(new Set(keys.slice(0, 4)).size).to.equal(1);
    expect(keys[4]).to.not.equal(keys[0]);
    expect(keys[0]).to.match(/^[0-9a-f-]{36}$/);
    expect(ids(stub.received[3].events)).to.deep.equal(['item/0', 'item/1']);
    expect(audit.metrics()).to.include({ sent: 4, retried: 6, failed: 0 });
  });

  it('makes its keys with getRandomValues where randomUUID is missing (a browser page that is not a secure context)', async () => {
    stub = await stubServer();
    Object.defineProperty(crypto, 'randomUUID', { value: undefined, configurable: true });
    try {
      const audit = createAuditLogger(options(stub.url));
      audit.log(event(0));
      await audit.close();
    } finally {
      delete (crypto as { randomUUID?: unknown }).randomUUID;
    }
    expect(typeof crypto.randomUUID).to.equal('function');
    expect(stub.received[0].key).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('waits at least Retry-After before retrying a 503', async () => {
    stub = await stubServer((_, index) =>
      index === 0 ? { status: 503, headers: { 'retry-after': '1' } } : { status: 201 },
    );
    const audit = createAuditLogger(options(stub.url));
    audit.log(event(0));
    await audit.close();
    expect(stub.received).to.have.length(2);
    expect(stub.received[1].at - stub.received[0].at).to.be.at.least(990);
  });

  it('backs off exponentially with full jitter, at least Retry-After and at most maxDelayMs', () => {
    const limits = { baseDelayMs: 100, maxDelayMs: 1000 };
    expect([1, 2, 3, 4, 5].map((attempt) => retryDelay(attempt, undefined, limits, () => 0.999))).to.deep.equal([
      99.9, 199.8, 399.6, 799.2, 999,
    ]);
    expect(retryDelay(3, undefined, limits, () => 0)).to.equal(0);
    expect(retryDelay(1, 700, limits, () => 0.5)).to.equal(700);
    expect(retryDelay(1, 5000, limits, () => 0.5)).to.equal(1000);
    expect(parseRetryAfter('2')).to.equal(2000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:10 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT'))).to.equal(
      10_000,
    );
    expect(parseRetryAfter('soon')).to.equal(undefined);
  });

  it('reports a 400 batch with its per-index details from the real service, and never retries it', async () => {
    const database = await createTestDatabase('sqlite');
    const running = await startService(database.url);
    // The stub forwards to the service, so the test can count the requests.
    let forwarded = 0;
    const proxy = http.createServer((req, res) => {
      forwarded += 1;
      const upstream = http.request(
        `${running.url}${req.url}`,
        { method: req.method, headers: req.headers },
        (reply) => {
          res.writeHead(reply.statusCode!, reply.headers);
          reply.pipe(res);
        },
      );
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const failures: AuditFailure[] = [];
      const audit = createAuditLogger(
        options(`http://127.0.0.1:${(proxy.address() as AddressInfo).port}`, {
          token: await mintToken(),
          onFailure: (failure) => failures.push(failure),
        }),
      );
      audit.log(event(0));
      audit.log({ ...event(1), timestamp: '2017-02-30T00:00:00Z' });
      audit.log(event(2));
      await audit.close();
      expect(forwarded).to.equal(1);
      expect(failures).to.have.length(1);
      const [failure] = failures;
      expect(failure).to.include({ reason: 'rejected', status: 400 });
      expect(ids(failure.events)).to.deep.equal(['item/0', 'item/1', 'item/2']);
      expect(failure.details).to.have.length(1);
      expect(failure.details![0]).to.include({ index: 1, path: 'body[1].timestamp' });
      expect(failure.details![0].message).to.contain('RFC 3339');
      expect(audit.metrics()).to.deep.equal({ sent: 0, retried: 0, dropped: 0, failed: 3, pending: 0 });
      const client = createAuditClient({ baseUrl: running.url, apiKey: CLIENT_ID, token: await mintToken() });
      const page = await client.GET('/audits', { params: { query: { imsOrgId: sampleEvent().imsOrgId } } });
      expect(page.data?.items).to.deep.equal([]);
    } finally {
      await new Promise((resolve) => proxy.close(resolve));
      await running.close();
      await database.dispose();
    }
  });

  describe('with the server unreachable or unavailable', () => {
    // A port nothing listens on: every attempt is refused at once.
    let deadUrl: string;
    before(async () => {
      const server = http.createServer().listen(0, '127.0.0.1');
      await new Promise((resolve) => server.once('listening', resolve));
      deadUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      await new Promise((resolve) => server.close(resolve));
    });
    const dropsOf = (drops: [AuditEvent[], DropReason][], reason: DropReason) =>
      drops.filter(([, why]) => why === reason).flatMap(([events]) => ids(events));

    it('drop-newest: holds maxBufferedEvents and reports each newer one to onDrop', async () => {
      const drops: [AuditEvent[], DropReason][] = [];
      const audit = createAuditLogger(
        options(deadUrl, { maxBatchSize: 2, maxBufferedEvents: 4, onDrop: (events, why) => drops.push([events, why]) }),
      );
      for (let i = 0; i < 7; i++) expect(audit.log(event(i))).to.equal(undefined);
      await until(() => drops.length === 3);
      expect(dropsOf(drops, 'overflow')).to.deep.equal(['item/4', 'item/5', 'item/6']);
      expect(audit.metrics()).to.include({ dropped: 3, pending: 4, sent: 0 });
      await audit.close({ timeoutMs: 100 });
      expect(dropsOf(drops, 'closed').sort()).to.deep.equal(['item/0', 'item/1', 'item/2', 'item/3']);
      expect(audit.metrics()).to.deep.include({ dropped: 7, pending: 0, failed: 0 });
    });

    it('drop-oldest: drops the oldest event not yet in flight', async () => {
      const drops: [AuditEvent[], DropReason][] = [];
      const audit = createAuditLogger(
        options(deadUrl, {
          maxBatchSize: 2,
          maxBufferedEvents: 4,
          maxDelayMs: 0,
          overflow: 'drop-oldest',
          onDrop: (events, why) => drops.push([events, why]),
        }),
      );
      // item/0 goes at once (maxDelayMs 0) and stays in flight, retried; later events queue behind it.
      for (let i = 0; i < 7; i++) audit.log(event(i));
      await until(() => drops.length === 3);
      expect(dropsOf(drops, 'overflow')).to.deep.equal(['item/1', 'item/2', 'item/3']);
      await audit.close({ timeoutMs: 50 });
      expect(dropsOf(drops, 'closed').sort()).to.deep.equal(['item/0', 'item/4', 'item/5', 'item/6']);
    });

    it('block: log() returns a promise that waits for room, and close() delivers the blocked events', async () => {
      let up = false;
      stub = await stubServer(() => (up ? { status: 201 } : { status: 503, headers: { 'retry-after': '0' } }));
      const audit = createAuditLogger(options(stub.url, { maxBatchSize: 2, maxBufferedEvents: 2, overflow: 'block' }));
      const accepted: number[] = [];
      const logged = [0, 1, 2, 3].map((i) => audit.log(event(i)).then(() => accepted.push(i)));
      await until(() => stub!.received.length >= 3);
      expect(accepted).to.deep.equal([0, 1]);
      expect(audit.metrics().pending).to.equal(4);
      up = true;
      await Promise.all(logged);
      await audit.close();
      expect(accepted).to.deep.equal([0, 1, 2, 3]);
      expect(audit.metrics()).to.include({ sent: 4, dropped: 0 });
    });

    it('close() with no deadline waits until the server is back; log() after close() is dropped as closed', async () => {
      let up = false;
      stub = await stubServer(() => (up ? { status: 201 } : 'reset'));
      const drops: [AuditEvent[], DropReason][] = [];
      const audit = createAuditLogger(options(stub.url, { onDrop: (events, why) => drops.push([events, why]) }));
      audit.log(event(0));
      let closed = false;
      const closing = audit.close().then(() => (closed = true));
      audit.log(event(1));
      await until(() => stub!.received.length >= 3);
      expect(closed).to.equal(false);
      up = true;
      await closing;
      expect(audit.metrics()).to.include({ sent: 1, dropped: 1 });
      expect(dropsOf(drops, 'closed')).to.deep.equal(['item/1']);
      expect(stub.received.at(-1)!.events).to.have.length(1);
    });
  });

  it('never throws from log(): an unserializable or oversized event, and a throwing callback, go to onFailure', async () => {
    stub = await stubServer();
    const failures: AuditFailure[] = [];
    const audit = createAuditLogger(
      options(stub.url, {
        maxBatchBytes: 2000,
        onFailure: (failure) => {
          failures.push(failure);
          throw new Error('a callback that throws');
        },
      }),
    );
    const circular = event(0) as AuditEvent & { self?: unknown };
    circular.self = circular;
    expect(() => audit.log(circular)).to.not.throw();
    expect(() => audit.log({ ...event(1), tags: { big: 'x'.repeat(3000) } })).to.not.throw();
    expect(() => audit.log({ ...event(2), tags: { n: 10n as unknown as string } })).to.not.throw();
    audit.log(event(3));
    await audit.close();
    expect(failures.map((f) => f.reason)).to.deep.equal(['unserializable', 'too_large', 'unserializable']);
    expect(audit.metrics()).to.include({ sent: 1, failed: 3 });
  });

  it('flush() sends at once, without waiting out maxDelayMs, and resolves once everything logged before it is acknowledged', async () => {
    stub = await stubServer();
    const audit = createAuditLogger(options(stub.url, { maxDelayMs: 60_000 }));
    audit.log(event(0));
    audit.log(event(1));
    let flushed = false;
    const flushing = audit.flush().then(() => (flushed = true));
    await flushing;
    expect(flushed).to.equal(true);
    expect(stub.received.flatMap((r) => ids(r.events))).to.deep.equal(['item/0', 'item/1']);
    expect(audit.metrics()).to.include({ sent: 2, pending: 0 });
    await audit.close();
  });

  it('sends the last batch of a script that logs and ends without close()', async () => {
    stub = await stubServer();
    const source = new URL('../src/client/index.ts', import.meta.url).href;
    // src/client is a CommonJS package in source, so an eval'd ES module sees its exports as the default.
    const script = `import client from ${JSON.stringify(source)};
      client.createAuditLogger({ baseUrl: ${JSON.stringify(stub.url)}, apiKey: 'a', token: 't' }).log(${JSON.stringify(event(0))});`;
    await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script]);
    expect(stub.received.map((r) => ids(r.events))).to.deep.equal([['item/0']]);
  });

  it('refuses impossible options at creation', () => {
    expect(() => createAuditLogger(options('http://x', { maxBatchSize: 1001 }))).to.throw(RangeError);
    expect(() => createAuditLogger(options('http://x', { maxBatchSize: 10, maxBufferedEvents: 5 }))).to.throw(
      RangeError,
    );
  });
});
