import { expect } from 'chai';
import type { components } from '../generated/openapi';
import { describeEachDatabase } from './helpers/databases';
import {
  appendEvents,
  FILTER_CASES,
  fixtureEvents,
  iso,
  newestFirst,
  walkPages,
  withQuery,
  type Query,
  type StoredAuditEvent,
} from './helpers/reads';
import { postJson, sampleEvent, startService, type RunningService } from './helpers/service';
import { authHeaders, ORG } from './helpers/tokens';

type ErrorResponse = components['schemas']['ErrorResponse'];

const OTHER_ORG = 'ORG-B@AdobeOrg';

describeEachDatabase('GET /audits', (database) => {
  let running: RunningService;
  let headers: Record<string, string>;
  let events: StoredAuditEvent[];
  before(async () => {
    running = await startService(database().url);
    headers = await authHeaders({ orgs: [ORG] });
    // The other tenant's events share every value, so only the tenant wall keeps them out.
    await appendEvents(running.service.store, fixtureEvents(OTHER_ORG));
    events = await appendEvents(running.service.store, fixtureEvents(ORG));
  });
  after(() => running?.close());

  const list = (query: Query, extra: Record<string, string> = headers) =>
    fetch(withQuery(`${running.url}/audits`, query), { headers: extra });
  const listPage = async (query: Query, extra = headers) => {
    const res = await list(query, extra);
    expect(res.status, JSON.stringify(query)).to.equal(200);
    return (await res.json()) as { items: StoredAuditEvent[]; nextCursor: string | null };
  };
  const ids = (items: StoredAuditEvent[]) => items.map((event) => event.id);

  describe('paging', () => {
    it('walks every event exactly once, newest first with ties broken by id, page by page', async () => {
      const walk = await walkPages(running.url, { imsOrgId: ORG, limit: '7' }, headers);
      expect(walk.pages).to.equal(Math.ceil(events.length / 7));
      expect(ids(walk.items)).to.deep.equal(ids([...events].sort(newestFirst)));
      expect(walk.items).to.deep.equal([...events].sort(newestFirst));
    });

    it('gives the same order in one large page', async () => {
      const page = await listPage({ imsOrgId: ORG, limit: '1000' });
      expect(page.nextCursor).to.equal(null);
      expect(ids(page.items)).to.deep.equal(ids([...events].sort(newestFirst)));
    });

    it('pages by 100 by default', async () => {
      await appendEvents(running.service.store, fixtureEvents('ORG-BIG', 150));
      const page = await listPage({ imsOrgId: 'ORG-BIG' }, await authHeaders({ orgs: ['ORG-BIG'] }));
      expect(page.items).to.have.length(100);
      expect(page.nextCursor).to.be.a('string');
    });

    it('has no next cursor when the matches exactly fill the last page', async () => {
      const page = await listPage({ imsOrgId: ORG, limit: String(events.length) });
      expect(page.items).to.have.length(events.length);
      expect(page.nextCursor).to.equal(null);
    });

    it('answers an empty page for a tenant without events', async () => {
      const page = await listPage({ imsOrgId: 'ORG-EMPTY' }, await authHeaders({ orgs: ['ORG-EMPTY'] }));
      expect(page).to.deep.equal({ items: [], nextCursor: null });
    });

    it('lets the page size change between pages', async () => {
      const first = await listPage({ imsOrgId: ORG, limit: '5' });
      const second = await listPage({ imsOrgId: ORG, limit: '20', cursor: first.nextCursor! });
      expect(ids([...first.items, ...second.items])).to.deep.equal(ids([...events].sort(newestFirst).slice(0, 25)));
    });

    it('returns every event that existed once, even while new events arrive', async () => {
      const org = `ORG-LIVE-${database().kind}`;
      const liveHeaders = await authHeaders({ orgs: [org] });
      const existing = await appendEvents(running.service.store, fixtureEvents(org));
      const newest = Math.max(...existing.map((e) => Date.parse(e.timestamp)));
      const arrivedAhead: string[] = []; // newer than the walk's position: already passed
      const arrivedBehind: string[] = []; // older than the walk's position: still to come
      const walk = await walkPages(running.url, { imsOrgId: org, limit: '10' }, liveHeaders, async (pageIndex) => {
        const [ahead, behind, tie] = await appendEvents(running.service.store, [
          { ...fixtureEvents(org, 1)[0], timestamp: iso(newest + 1000 * (pageIndex + 1)), action: 'arrived-ahead' },
          {
            ...fixtureEvents(org, 1)[0],
            timestamp: iso(Date.parse('2000-01-01T00:00:00Z') + pageIndex),
            action: 'arrived-behind',
          },
          // Same timestamp as the newest event: its larger id sorts it ahead of everything seen.
          { ...fixtureEvents(org, 1)[0], timestamp: iso(newest), action: 'arrived-tied' },
        ]);
        arrivedAhead.push(ahead.id, tie.id);
        arrivedBehind.push(behind.id);
      });
      const seen = ids(walk.items);
      expect(new Set(seen).size, 'no event twice').to.equal(seen.length);
      expect(seen.filter((id) => existing.some((e) => e.id === id))).to.have.members(ids(existing));
      expect(seen, 'events that arrived behind the walk are reached').to.include.members(arrivedBehind);
      expect(
        seen.filter((id) => arrivedAhead.includes(id)),
        'events that arrived ahead of the walk are not',
      ).to.deep.equal([]);
      expect(walk.items).to.deep.equal([...walk.items].sort(newestFirst));
    });
  });

  describe('filters', () => {
    for (const { name, query, matches } of FILTER_CASES) {
      it(`${name}: walks exactly the matching events, in order`, async () => {
        const expected = [...events].filter(matches).sort(newestFirst);
        expect(expected.length, 'the filter selects some events').to.be.above(0);
        expect(expected.length, 'but not all').to.be.below(events.length);
        const walk = await walkPages(running.url, { imsOrgId: ORG, ...query, limit: '4' }, headers);
        expect(ids(walk.items)).to.deep.equal(ids(expected));
      });
    }

    it('matches nothing for a value no event has', async () => {
      const queries: Query[] = [
        { action: 'nope' },
        { tag: 'region:mars' },
        { tag: 'no-such-key:' },
        { userIdentifier: 'USER1@example.com' },
      ];
      for (const query of queries) {
        expect((await listPage({ imsOrgId: ORG, ...query })).items, JSON.stringify(query)).to.deep.equal([]);
      }
    });

    it('matches nothing for an empty or inverted time range', async () => {
      const instant = events[0].timestamp;
      expect((await listPage({ imsOrgId: ORG, from: instant, to: instant })).items).to.deep.equal([]);
      expect(
        (await listPage({ imsOrgId: ORG, from: '2030-01-01T00:00:00Z', to: '2020-01-01T00:00:00Z' })).items,
      ).to.deep.equal([]);
    });

    it('finds values as long as the spec allows, in any script (PostgreSQL index entries have a size limit)', async () => {
      const resourceId = '𝄞'.repeat(1024);
      const userIdentifier = '🔒'.repeat(512);
      const imsOrgId = 'Ω'.repeat(255) + '𝄞';
      const res = await postJson(
        `${running.url}/audits`,
        sampleEvent({
          imsOrgId,
          resource: { resourceId },
          userIdentifier,
          action: 'ä'.repeat(256),
          source: 'ß'.repeat(256),
        }),
        await authHeaders({ orgs: [imsOrgId] }),
      );
      expect(res.status).to.equal(201);
      const id = await res.json();
      const readHeaders = await authHeaders({ orgs: [imsOrgId] });
      const queries: Query[] = [
        { resourceId },
        { userIdentifier },
        { action: 'ä'.repeat(256) },
        { source: 'ß'.repeat(256) },
      ];
      for (const query of queries) {
        const found = await list({ imsOrgId, ...query }, readHeaders);
        expect(ids(((await found.json()) as { items: StoredAuditEvent[] }).items)).to.deep.equal([id]);
      }
    });
  });

  describe('cursors', () => {
    let cursor: string;
    before(async () => {
      cursor = (await listPage({ imsOrgId: ORG, limit: '3' })).nextCursor!;
    });

    const expect400 = async (query: Query, message: RegExp, extra = headers) => {
      const res = await list(query, extra);
      expect(res.status, JSON.stringify(query)).to.equal(400);
      const body = (await res.json()) as ErrorResponse;
      expect(body.reason).to.equal('bad_request');
      expect(body.message).to.match(message);
    };

    it('is opaque text that survives a URL unescaped', () => {
      expect(cursor).to.match(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
      expect(cursor).to.not.include(events[0].id);
    });

    it('400 for a cursor that is not one', async () => {
      for (const bad of [
        'garbage',
        'a.b',
        '.',
        `${cursor}.x`,
        Buffer.from('{"t":1,"id":"x","q":"y"}').toString('base64url'),
      ]) {
        await expect400({ imsOrgId: ORG, cursor: bad }, /^query\.cursor is not a cursor this server issued/);
      }
    });

    it('400 for a cursor with any character changed', async () => {
      const [body, mac] = cursor.split('.');
      const flip = (text: string, at: number) =>
        text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1);
      for (const tampered of [
        `${flip(body, 5)}.${mac}`,
        `${flip(body, body.length - 3)}.${mac}`,
        `${body}.${flip(mac, 0)}`,
      ]) {
        await expect400({ imsOrgId: ORG, cursor: tampered }, /^query\.cursor is not a cursor this server issued/);
      }
    });

    it('400 for a cursor reused with other filters or another tenant', async () => {
      const anyOrg = await authHeaders({ orgs: '*' });
      const queries: Query[] = [
        { action: 'update' },
        { tag: 'region:eu' },
        { from: '2024-01-01T00:00:00Z' },
        { imsOrgId: OTHER_ORG },
      ];
      for (const query of queries) {
        await expect400({ imsOrgId: ORG, ...query, cursor }, /^query\.cursor belongs to a different query/, anyOrg);
      }
    });

    it('accepts the same query spelled differently: tag order, another time zone', async () => {
      const query = { imsOrgId: ORG, from: '2024-01-01T00:00:00Z', tag: ['region:eu', 'env:dev'], limit: '2' };
      const first = await listPage(query);
      const respelled = {
        ...query,
        from: '2024-01-01T01:00:00+01:00',
        tag: ['env:dev', 'region:eu'],
        cursor: first.nextCursor!,
      };
      expect((await list(respelled)).status).to.equal(200);
    });

    it('stays valid across a restart: the signing key is kept in the database', async () => {
      const again = await startService(database().url);
      try {
        const res = await fetch(withQuery(`${again.url}/audits`, { imsOrgId: ORG, limit: '3', cursor }), { headers });
        expect(res.status).to.equal(200);
        expect(ids(((await res.json()) as { items: StoredAuditEvent[] }).items)).to.deep.equal(
          ids([...events].sort(newestFirst).slice(3, 6)),
        );
      } finally {
        await again.close();
      }
    });
  });

  describe('bad query parameters get 400 ErrorResponse naming the problem', () => {
    const cases: [string, Query, RegExp][] = [
      ['limit 0', { limit: '0' }, /^query\.limit must be >= 1$/],
      ['limit 1001', { limit: '1001' }, /^query\.limit must be <= 1000$/],
      ['limit abc', { limit: 'abc' }, /^query\.limit must be integer$/],
      ['limit 1.5', { limit: '1.5' }, /^query\.limit must be integer$/],
      ['limit twice', { limit: ['1', '2'] }, /^query\.limit must be integer$/],
      ['from without a time', { from: '2024-01-01' }, /^query\.from must be an RFC 3339 date-time/],
      ['from without a zone', { from: '2024-01-01T00:00:00' }, /^query\.from must be an RFC 3339 date-time/],
      ['to as free text', { to: 'yesterday' }, /^query\.to must be an RFC 3339 date-time/],
      ['to on a day that does not exist', { to: '2023-02-29T00:00:00Z' }, /^query\.to must be an RFC 3339 date-time/],
      ['a tag without a colon', { tag: 'region' }, /^query\.tag\[0\] must match pattern/],
      ['a tag with an empty key', { tag: ':eu' }, /^query\.tag\[0\] must match pattern/],
      ['an empty filter value', { action: '' }, /^query\.action must not be empty$/],
      ['a NUL in a filter', { userIdentifier: 'a\u0000b' }, /^query\.userIdentifier must not contain NUL characters$/],
      ['an unknown parameter', { actor: 'jane' }, /^query\.actor is not a known query parameter$/],
      ['an export-only parameter', { format: 'csv' }, /^query\.format is not a known query parameter$/],
    ];
    for (const [name, query, message] of cases) {
      it(name, async () => {
        const res = await list({ imsOrgId: ORG, ...query });
        expect(res.status).to.equal(400);
        const body = (await res.json()) as ErrorResponse;
        expect(body).to.have.keys('reason', 'message', 'details');
        expect(body.reason).to.equal('bad_request');
        expect(body.message).to.match(message);
      });
    }

    it('a missing imsOrgId', async () => {
      const res = await list({});
      expect(res.status).to.equal(400);
      expect(await res.json()).to.deep.include({ reason: 'bad_request', message: 'query.imsOrgId is required' });
    });

    it('names every problem at once', async () => {
      const body = (await (await list({ limit: '0', from: 'x', nope: '1' })).json()) as ErrorResponse;
      expect(body.details!.map((d) => d.path)).to.have.members([
        'query.imsOrgId',
        'query.limit',
        'query.from',
        'query.nope',
      ]);
    });
  });

  describe('auth and tenant walls', () => {
    it('403 for a tenant the token does not cover, naming it', async () => {
      const res = await list({ imsOrgId: OTHER_ORG });
      expect(res.status).to.equal(403);
      expect(await res.json()).to.deep.equal({
        reason: 'forbidden',
        message: `token does not cover imsOrgId "${OTHER_ORG}"`,
      });
    });

    it('never returns another tenant’s events', async () => {
      const walk = await walkPages(running.url, { imsOrgId: ORG, limit: '1000' }, headers);
      expect(walk.items.every((event) => event.imsOrgId === ORG)).to.equal(true);
      const other = await walkPages(
        running.url,
        { imsOrgId: OTHER_ORG, limit: '1000' },
        await authHeaders({ orgs: '*' }),
      );
      expect(other.items).to.have.length(fixtureEvents(OTHER_ORG).length);
      expect(other.items.every((event) => event.imsOrgId === OTHER_ORG)).to.equal(true);
    });

    it('403 for a token without scope audit.read', async () => {
      const res = await list({ imsOrgId: ORG }, await authHeaders({ scope: 'audit.write' }));
      expect(res.status).to.equal(403);
      expect(await res.json()).to.deep.equal({ reason: 'forbidden', message: 'token lacks scope audit.read' });
    });

    it('401 with a JSON string without credentials, before looking at the query', async () => {
      const res = await fetch(`${running.url}/audits?limit=0`);
      expect(res.status).to.equal(401);
      expect(await res.json()).to.equal('missing x-api-key header');
    });
  });
});
