import { expect } from 'chai';
import type { AuditEvent, StoredAuditEvent } from '../../src/domain/api';
import type { AuditStore } from '../../src/store/auditStore';

export type { StoredAuditEvent };
export type Query = Record<string, string | string[]>;

const BASE = Date.parse('2024-01-01T00:00:00Z');
const MINUTE = 60_000;
export const iso = (epochMs: number) => new Date(epochMs).toISOString();
const at = (event: StoredAuditEvent) => Date.parse(event.timestamp);

/**
 * A tenant's worth of varied events: every filterable field cycles through a few values with
 * different periods, so each filter and each combination selects a different subset, and
 * timestamps repeat in threes, so ties must be broken by id. Returned in a shuffled order so
 * that insertion (and id) order is not timestamp order.
 */
export function fixtureEvents(imsOrgId: string, count = 90): AuditEvent[] {
  const events = Array.from({ length: count }, (_, i): AuditEvent => {
    const tags: Record<string, string> = {
      region: i % 2 ? 'us' : 'eu',
      env: i % 3 ? 'dev' : 'prod',
      link: `https://a.example:8443/${i % 4}`,
      ...(i % 5 === 0 && { note: '' }),
    };
    return {
      imsOrgId,
      action: ['create', 'update', 'delete'][i % 3],
      source: i % 2 ? 'azure' : 'marketingcloud',
      service: { serviceId: `SKMS-${i % 4}` },
      resource: { resourceId: `stream/${i % 5}` },
      userIdentifier: `user${i % 6}@example.com`,
      timestamp: iso(BASE + Math.floor(i / 3) * MINUTE),
      ...(i % 7 !== 0 && { tags }),
    };
  });
  // A fixed permutation (7 is coprime with 90), so runs are repeatable.
  return events.map((_, i) => events[(i * 7) % count]);
}

export interface FilterCase {
  name: string;
  query: Query;
  matches: (event: StoredAuditEvent) => boolean;
}

const tag = (event: StoredAuditEvent, key: string) => event.tags?.[key];

export const FILTER_CASES: FilterCase[] = [
  { name: 'action', query: { action: 'delete' }, matches: (e) => e.action === 'delete' },
  { name: 'source', query: { source: 'azure' }, matches: (e) => e.source === 'azure' },
  { name: 'serviceId', query: { serviceId: 'SKMS-1' }, matches: (e) => e.service.serviceId === 'SKMS-1' },
  { name: 'resourceId', query: { resourceId: 'stream/2' }, matches: (e) => e.resource.resourceId === 'stream/2' },
  {
    name: 'userIdentifier',
    query: { userIdentifier: 'user3@example.com' },
    matches: (e) => e.userIdentifier === 'user3@example.com',
  },
  { name: 'from (inclusive)', query: { from: iso(BASE + 10 * MINUTE) }, matches: (e) => at(e) >= BASE + 10 * MINUTE },
  { name: 'to (exclusive)', query: { to: iso(BASE + 10 * MINUTE) }, matches: (e) => at(e) < BASE + 10 * MINUTE },
  {
    name: 'from and to written with offsets',
    query: { from: '2024-01-01T01:05:00+01:00', to: '2023-12-31T19:20:00-05:00' },
    matches: (e) => at(e) >= BASE + 5 * MINUTE && at(e) < BASE + 20 * MINUTE,
  },
  { name: 'one tag', query: { tag: 'region:eu' }, matches: (e) => tag(e, 'region') === 'eu' },
  {
    name: 'a tag whose value holds colons',
    query: { tag: 'link:https://a.example:8443/3' },
    matches: (e) => tag(e, 'link') === 'https://a.example:8443/3',
  },
  { name: 'a tag with an empty value', query: { tag: 'note:' }, matches: (e) => tag(e, 'note') === '' },
  {
    name: 'two tags, both required',
    query: { tag: ['region:eu', 'env:prod'] },
    matches: (e) => tag(e, 'region') === 'eu' && tag(e, 'env') === 'prod',
  },
  {
    name: 'action and userIdentifier',
    query: { action: 'update', userIdentifier: 'user1@example.com' },
    matches: (e) => e.action === 'update' && e.userIdentifier === 'user1@example.com',
  },
  {
    name: 'every filter at once',
    query: {
      action: 'create',
      source: 'marketingcloud',
      serviceId: 'SKMS-0',
      resourceId: 'stream/2',
      userIdentifier: 'user0@example.com',
      from: iso(BASE),
      to: iso(BASE + 25 * MINUTE),
      tag: ['region:eu', 'env:prod'],
    },
    matches: (e) =>
      e.action === 'create' &&
      e.source === 'marketingcloud' &&
      e.service.serviceId === 'SKMS-0' &&
      e.resource.resourceId === 'stream/2' &&
      e.userIdentifier === 'user0@example.com' &&
      at(e) >= BASE &&
      at(e) < BASE + 25 * MINUTE &&
      tag(e, 'region') === 'eu' &&
      tag(e, 'env') === 'prod',
  },
];

/** The list order: newest timestamp first, ties by id descending. */
export function newestFirst(a: StoredAuditEvent, b: StoredAuditEvent): number {
  return at(b) - at(a) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

export function withQuery(base: string, query: Query): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) for (const item of [value].flat()) params.append(name, item);
  return `${base}?${params.toString()}`;
}

export interface Walk {
  items: StoredAuditEvent[];
  pages: number;
}

/**
 * Follows nextCursor from the first page to the last, checking each page's shape on the way;
 * `between` runs after each page that has a successor.
 */
export async function walkPages(
  url: string,
  query: Query,
  headers: Record<string, string>,
  between: (pageIndex: number) => Promise<void> = async () => {},
): Promise<Walk> {
  const items: StoredAuditEvent[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const res = await fetch(withQuery(`${url}/audits`, cursor ? { ...query, cursor } : query), { headers });
    expect(res.status, `page ${pages}`).to.equal(200);
    const page = (await res.json()) as { items: StoredAuditEvent[]; nextCursor: string | null };
    expect(Object.keys(page).sort()).to.deep.equal(['items', 'nextCursor']);
    if (query.limit) expect(page.items.length).to.be.at.most(Number(query.limit));
    if (page.nextCursor !== null)
      expect(page.items.length, 'a page before the last is full').to.equal(Number(query.limit ?? 100));
    items.push(...page.items);
    cursor = page.nextCursor;
    pages++;
    if (cursor !== null) await between(pages);
    expect(pages, 'pages walked').to.be.below(10_000);
  } while (cursor !== null);
  return { items, pages };
}

/** Stores events straight through the store, in one commit (fixtures faster than the API allows). */
export async function appendEvents(store: AuditStore, events: AuditEvent[]): Promise<StoredAuditEvent[]> {
  const [outcome] = await store.commit([{ events }]);
  if (outcome.kind !== 'stored') throw new Error(`fixture events were not stored: ${outcome.kind}`);
  // A commit answers only the ids: read the stored events back, tenant by tenant.
  const stored = new Map<string, StoredAuditEvent>();
  for (const imsOrgId of new Set(events.map((event) => event.imsOrgId))) {
    for await (const batch of await store.exportEvents({ imsOrgId }))
      for (const event of batch) stored.set(event.id, event);
  }
  return outcome.eventIds.map((id) => stored.get(id)!);
}
