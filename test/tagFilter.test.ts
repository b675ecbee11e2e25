import { expect } from 'chai';
import { describeEachDatabase } from './helpers/databases';
import { withQuery } from './helpers/reads';
import { postJson, sampleEvent, startService, type RunningService } from './helpers/service';
import { authHeaders, ORG } from './helpers/tokens';

describeEachDatabase('tag filters name any key: \\: and \\\\ escape in the key', (database) => {
  let running: RunningService;
  let headers: Record<string, string>;
  const ids: Record<string, string> = {};
  const tagged: Record<string, Record<string, string>> = {
    colon: { 'urn:env': 'prod' },
    backslash: { 'a\\b': 'x' },
    both: { 'c:\\': 'y:z' },
    plain: { urn: 'env:prod' },
  };
  before(async () => {
    running = await startService(database().url);
    headers = await authHeaders({ orgs: [ORG] });
    for (const [name, tags] of Object.entries(tagged)) {
      const res = await postJson(`${running.url}/audits`, sampleEvent({ tags, action: name }), headers);
      expect(res.status).to.equal(201);
      ids[name] = (await res.json()) as string;
    }
  });
  after(() => running?.close());

  const cases: [string, string[]][] = [
    ['urn\\:env:prod', ['colon']],
    ['urn:env:prod', ['plain']],
    ['a\\\\b:x', ['backslash']],
    ['a\\b:x', ['backslash']],
    ['c\\:\\\\:y:z', ['both']],
    ['c\\:\\:y:z', []],
  ];

  for (const [tag, expected] of cases) {
    it(`tag=${tag} finds ${expected.join(', ') || 'nothing'}, in the list and the export`, async () => {
      const list = await fetch(withQuery(`${running.url}/audits`, { imsOrgId: ORG, tag }), { headers });
      expect(list.status).to.equal(200);
      const page = (await list.json()) as { items: { id: string }[] };
      expect(page.items.map((e) => e.id)).to.have.members(expected.map((name) => ids[name]));

      const exported = await fetch(withQuery(`${running.url}/audits/export`, { imsOrgId: ORG, tag }), { headers });
      expect(exported.status).to.equal(200);
      const lines = (await exported.text()).split('\n').filter(Boolean);
      expect(lines.map((line) => (JSON.parse(line) as { id: string }).id)).to.have.members(
        expected.map((name) => ids[name]),
      );
    });
  }

  it('400 for a tag whose every colon is escaped, so it names no value', async () => {
    const res = await fetch(withQuery(`${running.url}/audits`, { imsOrgId: ORG, tag: 'urn\\:env' }), { headers });
    expect(res.status).to.equal(400);
    expect(((await res.json()) as { message: string }).message).to.match(/^query\.tag\[0\] must match pattern/);
  });
});
