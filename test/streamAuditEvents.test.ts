import { request } from 'node:http';
import { expect } from 'chai';
import type { AuditEvent } from '../src/domain/api';
import { describeEachDatabase } from './helpers/databases';
import { appendEvents, type StoredAuditEvent } from './helpers/reads';
import { postJson, sampleEvent, startService, type RunningService } from './helpers/service';
import { parseSse, SseReader } from './helpers/sse';
import { authHeaders, ORG } from './helpers/tokens';

const OTHER_ORG = 'ORG-B@AdobeOrg';
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const events = (imsOrgId: string, count: number, tags?: Record<string, string>): AuditEvent[] =>
  Array.from(
    { length: count },
    (_, i) => sampleEvent({ imsOrgId, resource: { resourceId: `r/${i}` }, tags }) as AuditEvent,
  );

describeEachDatabase('GET /audits/stream', (database) => {
  let running: RunningService;
  let headers: Record<string, string>;
  let streamUrl: (query: string) => string;
  before(async () => {
    running = await startService(database().url, { STREAM_HEARTBEAT_MS: '200', STREAM_STALL_MS: '400' });
    headers = await authHeaders({ orgs: [ORG, OTHER_ORG, 'BIG@AdobeOrg'] });
    streamUrl = (query) => `${running.url}/audits/stream?${query}`;
    await appendEvents(running.service.store, [...events(ORG, 30), ...events(OTHER_ORG, 10)]);
  });
  after(() => running?.close());
  const org = `imsOrgId=${encodeURIComponent(ORG)}`;

  it('sends the history after afterSeq, then events as they commit, in seq order without gaps', async () => {
    const stream = await SseReader.open(streamUrl(`${org}&afterSeq=10`), headers);
    try {
      const first = await stream.next();
      expect(first?.retry).to.equal('1000');
      const history: StoredAuditEvent[] = [];
      while (history.length < 20) {
        const message = (await stream.next())!;
        if (message.event !== 'audit') continue;
        const event = JSON.parse(message.data!) as StoredAuditEvent;
        expect(message.id).to.equal(String(event.seq));
        history.push(event);
      }
      expect(history.map((e) => e.seq)).to.deep.equal(range(11, 30));
      expect(new Set(history.map((e) => e.imsOrgId))).to.deep.equal(new Set([ORG]));
      const res = await postJson(`${running.url}/audits/batch`, events(ORG, 5), headers);
      expect(res.status).to.equal(201);
      const started = Date.now();
      expect(await stream.seqs(5)).to.deep.equal(range(31, 35));
      // This instance's own commit wakes the stream; the poll is only for other instances.
      expect(Date.now() - started).to.be.below(400);
    } finally {
      stream.close();
    }
  });

  it('sends a heartbeat comment while no event is sent', async () => {
    const stream = await SseReader.open(streamUrl(`${org}&afterSeq=1000`), headers);
    try {
      await stream.next(); // retry
      expect((await stream.next(2000))?.comments).to.deep.equal(['heartbeat']);
    } finally {
      stream.close();
    }
  });

  it('resumes after Last-Event-ID (which overrides afterSeq), neither skipping nor repeating a seq', async () => {
    const first = await SseReader.open(streamUrl(`${org}&afterSeq=0`), headers);
    const seen = await first.seqs(12);
    first.close();
    expect(seen).to.deep.equal(range(1, 12));
    const second = await SseReader.open(streamUrl(`${org}&afterSeq=0`), { ...headers, 'Last-Event-ID': '12' });
    try {
      expect(await second.seqs(5)).to.deep.equal(range(13, 17));
    } finally {
      second.close();
    }
  });

  it('streams events committed by another instance (its poll)', async () => {
    const other = await startService(database().url);
    const stream = await SseReader.open(streamUrl(`${org}&afterSeq=35`), headers);
    try {
      await stream.next();
      const res = await postJson(`${other.url}/audits`, sampleEvent({ imsOrgId: ORG }), headers);
      expect(res.status).to.equal(201);
      expect(await stream.seqs(1, 3000)).to.deep.equal([36]);
    } finally {
      stream.close();
      await other.close();
    }
  });

  it('cuts off a consumer that stops reading, after what was queued, and it resumes with Last-Event-ID', async () => {
    const bigOrg = 'BIG@AdobeOrg';
    // About 8 MB of events: more than the server's buffer plus both sockets' buffers.
    const tags = Object.fromEntries(range(1, 8).map((i) => [`k${i}`, 'x'.repeat(1000)]));
    await appendEvents(running.service.store, events(bigOrg, 1000, tags));
    const url = new URL(streamUrl(`imsOrgId=${encodeURIComponent(bigOrg)}`));
    const { text, status } = await new Promise<{ text: string; status?: number }>((resolve, reject) => {
      const req = request(url, { headers }, (res) => {
        res.pause();
        // Not reading for longer than STREAM_STALL_MS, then reading to the end.
        setTimeout(() => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (body += chunk));
          res.on('end', () => resolve({ text: body, status: res.statusCode }));
          res.resume();
        }, 1500);
      });
      req.on('error', reject);
      req.end();
    });
    expect(status).to.equal(200);
    const { messages, rest } = parseSse(text);
    expect(rest).to.equal('');
    expect(messages.at(-1)?.comments).to.deep.equal(['disconnected: consumer too slow; reconnect with Last-Event-ID']);
    const firstPart = messages.filter((m) => m.event === 'audit').map((m) => Number(m.id));
    expect(firstPart.length).to.be.above(0).and.below(1000);
    expect(firstPart).to.deep.equal(range(1, firstPart.length));
    const resumed = await SseReader.open(url.toString(), { ...headers, 'Last-Event-ID': String(firstPart.at(-1)) });
    try {
      expect(await resumed.seqs(1000 - firstPart.length)).to.deep.equal(range(firstPart.length + 1, 1000));
    } finally {
      resumed.close();
    }
  });

  it('tenant walls: a token that does not cover the org gets 403, and no stream', async () => {
    const res = await fetch(streamUrl(`imsOrgId=${encodeURIComponent(OTHER_ORG)}`), {
      headers: await authHeaders({ orgs: [ORG] }),
    });
    expect(res.status).to.equal(403);
    expect(((await res.json()) as { reason: string }).reason).to.equal('forbidden');
  });

  it('needs scope audit.read', async () => {
    const res = await fetch(streamUrl(org), { headers: await authHeaders({ scope: 'audit.write' }) });
    expect(res.status).to.equal(403);
  });

  for (const [name, query, extra] of [
    ['a negative afterSeq', `${org}&afterSeq=-1`, {}],
    ['a non-numeric Last-Event-ID', org, { 'Last-Event-ID': 'abc' }],
    ['no imsOrgId', 'afterSeq=1', {}],
  ] as const) {
    it(`${name} is 400`, async () => {
      const res = await fetch(streamUrl(query), { headers: { ...headers, ...extra } });
      expect(res.status).to.equal(400);
      expect(((await res.json()) as { reason: string }).reason).to.equal('bad_request');
    });
  }

  it('ends open streams when the service closes', async () => {
    const own = await startService(database().url);
    const stream = await SseReader.open(`${own.url}/audits/stream?${org}`, headers);
    await stream.seqs(3);
    const closing = own.close();
    let last;
    for (let m = await stream.next(); m; m = await stream.next()) last = m;
    expect(last?.comments).to.deep.equal(['disconnected: server shutting down; reconnect with Last-Event-ID']);
    await closing;
  });
});
