import { expect } from 'chai';
import { describeEachDatabase } from './helpers/databases';
import { postJson, sampleEvent, startService, type RunningService } from './helpers/service';
import { authHeaders } from './helpers/tokens';

// The spec's page budget (listAuditEvents): a page ends early once it holds about this much.
const PAGE_BUDGET_BYTES = 4 * 1024 * 1024;
const EVENTS = 150;
// About 61 KB of tags per event: close to the 64 KiB body limit.
const bigTags = (i: number) =>
  Object.fromEntries(Array.from({ length: 60 }, (_, j) => [`k${j}`, `${i}-${j}-`.padEnd(1000, 'v')]));

describeEachDatabase('Large events: pages and exports bounded by bytes', (database) => {
  let running: RunningService;
  let headers: Record<string, string>;
  const org = `LARGE-${Date.now()}@AdobeOrg`;
  const ids: string[] = [];
  before(async function () {
    this.timeout(60_000);
    running = await startService(database().url);
    headers = await authHeaders({ orgs: '*' });
    for (let first = 0; first < EVENTS; first += 15) {
      const batch = Array.from({ length: 15 }, (_, k) => sampleEvent({ imsOrgId: org, tags: bigTags(first + k) }));
      const res = await postJson(`${running.url}/audits/batch`, batch, headers);
      expect(res.status).to.equal(201);
      ids.push(...((await res.json()) as { ids: string[] }).ids);
    }
  });
  after(() => running?.close());

  const list = async (cursor?: string) => {
    const query = new URLSearchParams({ imsOrgId: org, limit: '1000', ...(cursor && { cursor }) });
    const res = await fetch(`${running.url}/audits?${query.toString()}`, { headers });
    expect(res.status).to.equal(200);
    const text = await res.text();
    return {
      bytes: Buffer.byteLength(text),
      page: JSON.parse(text) as { items: { id: string }[]; nextCursor: string | null },
    };
  };

  it('ends a limit=1000 page early, with a cursor, once it holds about 4 MiB', async () => {
    const { bytes, page } = await list();
    expect(page.items.length).to.be.above(0).and.below(EVENTS);
    expect(page.nextCursor).to.be.a('string');
    expect(bytes).to.be.at.most(PAGE_BUDGET_BYTES);
    // Full up to the budget: one more event would not have fitted.
    expect(bytes).to.be.above(PAGE_BUDGET_BYTES - 2 * 64 * 1024);
  });

  it('returns every event exactly once when paging through', async function () {
    this.timeout(30_000);
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const { bytes, page } = await list(cursor);
      expect(bytes).to.be.at.most(PAGE_BUDGET_BYTES);
      seen.push(...page.items.map((item) => item.id));
      cursor = page.nextCursor ?? undefined;
      pages++;
    } while (cursor && pages < 100);
    expect(pages).to.be.above(1);
    expect(seen).to.have.length(EVENTS);
    expect([...seen].sort()).to.deep.equal([...ids].sort());
  });

  it('exports and verifies them all', async function () {
    this.timeout(30_000);
    const res = await fetch(`${running.url}/audits/export?imsOrgId=${encodeURIComponent(org)}`, { headers });
    const lines = (await res.text()).trimEnd().split('\n');
    const exported = lines.map((line) => (JSON.parse(line) as { id: string }).id);
    expect(exported.sort()).to.deep.equal([...ids].sort());
    const verify = await fetch(`${running.url}/audits/verify?imsOrgId=${encodeURIComponent(org)}`, { headers });
    expect(await verify.json()).to.include({ verified: true, count: EVENTS });
  });
});
