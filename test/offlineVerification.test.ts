import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { leafHashOf, verifyCheckpoint, verifyEventInclusion } from '../src/client/index';
import type { StoredAuditEvent } from '../src/domain/api';
import { TEST_CHECKPOINT_VERIFIER_KEY } from './helpers/checkpointKeys';
import { describeEachDatabase } from './helpers/databases';
import { postJson, type RunningService, sampleEvent, startService } from './helpers/service';
import { withKnex } from './helpers/sql';
import { verifyOffline } from './helpers/child';
import { TAMPERINGS } from './helpers/tamperings';
import { authHeaders } from './helpers/tokens';

// What the server serves, checked with the client package alone: the real write path's leaf
// hashes, proofs and checkpoints, and the offline CLI on the server's own exports.
describeEachDatabase('Verification without the server', (database) => {
  let running: RunningService;
  let headers: Record<string, string>;
  let dir: string;
  let n = 0;
  const freshOrg = () => `offline-${Date.now()}-${n++}@AdobeOrg`;
  const get = (p: string) => fetch(`${running.url}${p}`, { headers });
  const q = encodeURIComponent;
  const seed = async (org: string, count: number) => {
    const events = Array.from({ length: count }, (_, i) => sampleEvent({ imsOrgId: org, action: `a${i}` }));
    expect((await postJson(`${running.url}/audits/batch`, events, headers)).status).to.equal(201);
  };
  const saved = async (name: string, text: string) => {
    const file = path.join(dir, name);
    await writeFile(file, text);
    return file;
  };

  before(async () => {
    running = await startService(database().url);
    headers = await authHeaders({ orgs: '*' });
    dir = await mkdtemp(path.join(tmpdir(), 'audit-offline-'));
  });
  after(async () => {
    await running?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('the client package recomputes every served leaf hash and verifies every served proof and checkpoint', async () => {
    const org = freshOrg();
    await seed(org, 9);
    const page = (await (await get(`/audits?imsOrgId=${q(org)}&limit=100`)).json()) as { items: StoredAuditEvent[] };
    expect(page.items).to.have.length(9);
    const note = await (await get(`/audits/checkpoint?imsOrgId=${q(org)}`)).text();
    expect(verifyCheckpoint(note, [TEST_CHECKPOINT_VERIFIER_KEY]).treeSize).to.equal(9);
    for (const event of page.items) {
      expect(leafHashOf(event)).to.equal(event.leafHash);
      const proof = await (await get(`/audits/${event.id}/proof`)).json();
      expect(verifyEventInclusion(event, proof as never, [TEST_CHECKPOINT_VERIFIER_KEY])).to.include({ treeSize: 9 });
      const tampered = { ...event, action: `${event.action}!` };
      expect(() => verifyEventInclusion(tampered, proof as never, [TEST_CHECKPOINT_VERIFIER_KEY])).to.throw();
    }
  });

  it('an export with proofs, with the published key, verifies offline: exit 0', async () => {
    const org = freshOrg();
    await seed(org, 12);
    const key = await saved('key.txt', await (await fetch(`${running.url}/audits/checkpoint/key`)).text());
    const exported = await saved(
      'proven.ndjson',
      await (await get(`/audits/export?imsOrgId=${q(org)}&proofs=true`)).text(),
    );
    const run = await verifyOffline('--key', key, '--export', exported);
    expect(run.code, run.out).to.equal(0);
    expect(run.out).to.match(/^OK: the export is the whole log at checkpoint .* tree size 12/m);
  });

  for (const [name, tamper] of TAMPERINGS) {
    it(`finds ${name} against a checkpoint kept before: exit 1`, async function () {
      this.timeout(60_000);
      const org = freshOrg();
      await seed(org, 5);
      const kept = await saved(`kept-${n}.txt`, await (await get(`/audits/checkpoint?imsOrgId=${q(org)}`)).text());
      await withKnex(database().url, (db) => tamper(db, org));
      // The whole tenant as exported now, plain and with proofs (which the server may fail to
      // build from a damaged tree: then that download is cut off, and only the plain one is checked).
      const plain = await saved(`plain-${n}.ndjson`, await (await get(`/audits/export?imsOrgId=${q(org)}`)).text());
      const proven = await get(`/audits/export?imsOrgId=${q(org)}&proofs=true`)
        .then((res) => res.text())
        .then((text) => saved(`proven-${n}.ndjson`, text))
        .catch(() => undefined);
      const runs = await Promise.all(
        [plain, proven]
          .filter((file): file is string => file !== undefined)
          .map((file) => verifyOffline('--key', TEST_CHECKPOINT_VERIFIER_KEY, '--checkpoint', kept, '--export', file)),
      );
      expect(
        runs.map((run) => run.code),
        runs.map((run) => run.out).join('\n'),
      ).to.include(1);
      // Nothing else goes wrong, except that a head moved to another size cannot be compared with
      // the kept checkpoint without a consistency proof (exit 2 says so).
      for (const run of runs) {
        if (run.code === 2)
          expect(run.out).to.match(/cut against a checkpoint of tree size \d+, --checkpoint is of size 5/);
        else expect(run.code, run.out).to.be.oneOf([0, 1]);
      }
    });
  }
});
