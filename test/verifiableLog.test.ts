import { expect } from 'chai';
import type { StoredAuditEvent } from '../src/domain/api';
import { logOrigin } from '../src/domain/checkpoints';
import { type Checkpoint, openNote, parseCheckpoint, parseVerifierKey } from '../src/domain/note';
import { EMPTY_ROOT, rootFromLeaves, verifyConsistency, verifyInclusion } from '../src/domain/merkle';
import { TEST_CHECKPOINT_VERIFIER_KEY } from './helpers/checkpointKeys';
import { describeEachDatabase } from './helpers/databases';
import { postJson, type RunningService, sampleEvent, startService } from './helpers/service';
import { authHeaders } from './helpers/tokens';

const KEY = parseVerifierKey(TEST_CHECKPOINT_VERIFIER_KEY);
const bytes = (text: string) => new Uint8Array(Buffer.from(text, 'base64'));
const b64 = (data: Uint8Array) => Buffer.from(data).toString('base64');

/** A note's checkpoint, after checking its signature with the tests' key. */
function checked(note: string): Checkpoint {
  return parseCheckpoint(openNote(note, [KEY]).text);
}

interface InclusionBody {
  leafIndex: number;
  treeSize: number;
  leafHash: string;
  inclusionProof: string[];
  checkpoint: string;
}

describeEachDatabase('The verifiable log over HTTP', (database, kind) => {
  let running: RunningService;
  let headers: Record<string, string>;
  let n = 0;
  const freshOrg = () => `vlog ${Date.now()}+${n++}/ACME@AdobeOrg`;
  const get = (path: string, h = headers) => fetch(`${running.url}${path}`, { headers: h });
  const q = encodeURIComponent;
  const post = async (org: string, count: number, url = running.url): Promise<string[]> => {
    const res = await postJson(
      `${url}/audits/batch`,
      Array.from({ length: count }, () => sampleEvent({ imsOrgId: org })),
      headers,
    );
    expect(res.status).to.equal(201);
    return ((await res.json()) as { ids: string[] }).ids;
  };
  const events = async (org: string): Promise<StoredAuditEvent[]> =>
    running.service.store.eventsAfterSeq(org, 0, 10_000);

  before(async () => {
    running = await startService(database().url);
    headers = await authHeaders({ orgs: '*' });
  });
  after(() => running?.close());

  describe('GET /audits/checkpoint', () => {
    it('is the signed C2SP checkpoint of the latest tree, byte-identical for the same size, covering every 201', async () => {
      const org = freshOrg();
      await post(org, 3);
      const res = await get(`/audits/checkpoint?imsOrgId=${q(org)}`);
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.equal('text/plain; charset=utf-8');
      const note = await res.text();
      const checkpoint = checked(note);
      expect(checkpoint.origin).to.equal(logOrigin('audit.test', org));
      expect(checkpoint.origin).to.not.match(/[\s+]/);
      expect(checkpoint.size).to.equal(3);
      expect(b64(checkpoint.rootHash)).to.equal(b64(rootFromLeaves((await events(org)).map((e) => bytes(e.leafHash)))));
      expect(await (await get(`/audits/checkpoint?imsOrgId=${q(org)}`)).text()).to.equal(note);
      await post(org, 1);
      expect(checked(await (await get(`/audits/checkpoint?imsOrgId=${q(org)}`)).text()).size).to.equal(4);
    });

    it("is size 0 with the empty tree's root for a tenant without events", async () => {
      const checkpoint = checked(await (await get(`/audits/checkpoint?imsOrgId=${q(freshOrg())}`)).text());
      expect(checkpoint.size).to.equal(0);
      expect(b64(checkpoint.rootHash)).to.equal(b64(EMPTY_ROOT));
    });

    it('holds the tenant walls: 403 for another tenant, 400 without imsOrgId, 401 without a token', async () => {
      const narrow = await authHeaders({ orgs: ['ORG-A@AdobeOrg'] });
      expect((await get(`/audits/checkpoint?imsOrgId=${q(freshOrg())}`, narrow)).status).to.equal(403);
      expect((await get('/audits/checkpoint')).status).to.equal(400);
      expect((await fetch(`${running.url}/audits/checkpoint?imsOrgId=x`)).status).to.equal(401);
    });
  });

  it('GET /audits/checkpoint/key lists the verifier key without authentication', async () => {
    const res = await fetch(`${running.url}/audits/checkpoint/key`);
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.equal('text/plain; charset=utf-8');
    expect(await res.text()).to.equal(`${TEST_CHECKPOINT_VERIFIER_KEY}\n`);
  });

  describe('GET /audits/{id}/proof', () => {
    it('proves an event in the latest tree and in an earlier one, against signed checkpoints', async () => {
      const org = freshOrg();
      const ids = await post(org, 7);
      const stored = await events(org);
      for (const treeSize of [undefined, 5, 3]) {
        const res = await get(`/audits/${ids[2]}/proof${treeSize ? `?treeSize=${treeSize}` : ''}`);
        expect(res.status).to.equal(200);
        const body = (await res.json()) as InclusionBody;
        const checkpoint = checked(body.checkpoint);
        expect(body).to.include({ leafIndex: 2, treeSize: treeSize ?? 7, leafHash: stored[2].leafHash });
        expect(checkpoint.size).to.equal(body.treeSize);
        const proof = body.inclusionProof.map(bytes);
        expect(verifyInclusion(2, body.treeSize, bytes(stored[2].leafHash), proof, checkpoint.rootHash)).to.equal(true);
        expect(verifyInclusion(2, body.treeSize, bytes(stored[3].leafHash), proof, checkpoint.rootHash)).to.equal(
          false,
        );
      }
    });

    it('refuses a tree size outside [seq, size] with 400 naming it, and is 404 for an unknown or hidden event', async () => {
      const org = freshOrg();
      const ids = await post(org, 4);
      const tooSmall = await get(`/audits/${ids[3]}/proof?treeSize=2`);
      expect(tooSmall.status).to.equal(400);
      expect(((await tooSmall.json()) as { message: string }).message).to.match(/event 4 is not in the tree of size 2/);
      const tooLarge = await get(`/audits/${ids[0]}/proof?treeSize=5`);
      expect(tooLarge.status).to.equal(400);
      expect(((await tooLarge.json()) as { message: string }).message).to.match(/past the log's current size, 4/);
      expect((await get(`/audits/${ids[0]}/proof?treeSize=0`)).status).to.equal(400);
      expect((await get('/audits/01933b1e-7c4a-7d2e-9b1a-2f4e5d6c7b8a/proof')).status).to.equal(404);
      // Another tenant's event is 404 whatever the tree size, so a token learns nothing of it.
      const narrow = await authHeaders({ orgs: ['ORG-A@AdobeOrg'] });
      for (const query of ['', '?treeSize=1', '?treeSize=99']) {
        const other = await get(`/audits/${ids[0]}/proof${query}`, narrow);
        expect(other.status, query).to.equal(404);
      }
    });
  });

  describe('GET /audits/consistency', () => {
    it('proves that an earlier tree is a prefix of a later one', async () => {
      const org = freshOrg();
      await post(org, 3);
      const old = checked(await (await get(`/audits/checkpoint?imsOrgId=${q(org)}`)).text());
      await post(org, 6);
      const res = await get(`/audits/consistency?imsOrgId=${q(org)}&from=3&to=9`);
      expect(res.status).to.equal(200);
      const body = (await res.json()) as {
        fromSize: number;
        toSize: number;
        consistencyProof: string[];
        checkpoint: string;
      };
      const later = checked(body.checkpoint);
      expect(body).to.include({ fromSize: 3, toSize: 9 });
      const proof = body.consistencyProof.map(bytes);
      expect(verifyConsistency(3, 9, old.rootHash, later.rootHash, proof)).to.equal(true);
      expect(verifyConsistency(3, 9, later.rootHash, later.rootHash, proof)).to.equal(false);
    });

    it('refuses sizes outside 1 ≤ from ≤ to ≤ size with 400 saying why', async () => {
      const org = freshOrg();
      await post(org, 2);
      for (const [from, to, why] of [
        [0, 2, /from|>= 1/],
        [2, 1, /at most to/],
        [1, 3, /past the log's current size, 2/],
      ] as const) {
        const res = await get(`/audits/consistency?imsOrgId=${q(org)}&from=${from}&to=${to}`);
        expect(res.status, `${from}..${to}`).to.equal(400);
        expect(JSON.stringify(await res.json())).to.match(why);
      }
    });
  });

  it("GET /audits/verify with since checks only what was added, with that size's root", async () => {
    const org = freshOrg();
    await post(org, 4);
    const old = checked(await (await get(`/audits/checkpoint?imsOrgId=${q(org)}`)).text());
    await post(org, 3);
    const res = await get(`/audits/verify?imsOrgId=${q(org)}&since=4`);
    expect(res.status).to.equal(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).to.include({ verified: true, count: 3, since: 4, treeSize: 7, sinceRootHash: b64(old.rootHash) });
    expect((await get(`/audits/verify?imsOrgId=${q(org)}&since=8`)).status).to.equal(400);
  });

  describe('GET /audits/export?proofs=true', () => {
    it('starts with the checkpoint it was cut against, and each event carries its inclusion proof to it', async () => {
      const org = freshOrg();
      await post(org, 5);
      const res = await get(`/audits/export?imsOrgId=${q(org)}&proofs=true`);
      expect(res.status).to.equal(200);
      const [first, ...lines] = (await res.text()).trimEnd().split('\n');
      const checkpoint = checked((JSON.parse(first) as { checkpoint: string }).checkpoint);
      expect(checkpoint.size).to.equal(5);
      expect(lines).to.have.length(5);
      for (const line of lines) {
        const event = JSON.parse(line) as StoredAuditEvent & { inclusionProof: string[] };
        const proof = event.inclusionProof.map(bytes);
        expect(verifyInclusion(event.seq - 1, 5, bytes(event.leafHash), proof, checkpoint.rootHash)).to.equal(true);
      }
    });

    it('is 400 with a format other than NDJSON', async () => {
      const res = await get(`/audits/export?imsOrgId=${q(freshOrg())}&proofs=true&format=csv`);
      expect(res.status).to.equal(400);
      expect(((await res.json()) as { message: string }).message).to.match(/proofs=true needs format=ndjson/);
    });
  });

  if (kind === 'postgres') {
    it('two instances on one PostgreSQL, interleaving writes, build one tree in which every proof verifies', async function () {
      this.timeout(30_000);
      const other = await startService(database().url);
      try {
        const org = freshOrg();
        await Promise.all(
          Array.from({ length: 20 }, (_, i) => post(org, 1 + (i % 3), i % 2 ? other.url : running.url)),
        );
        const stored = await events(org);
        expect(stored.map((e) => e.seq)).to.deep.equal(stored.map((_, i) => i + 1));
        const notes = await Promise.all(
          [running.url, other.url].map(async (url) =>
            (await fetch(`${url}/audits/checkpoint?imsOrgId=${q(org)}`, { headers })).text(),
          ),
        );
        expect(notes[0], 'both instances sign the same checkpoint').to.equal(notes[1]);
        const root = checked(notes[0]).rootHash;
        expect(b64(root)).to.equal(b64(rootFromLeaves(stored.map((e) => bytes(e.leafHash)))));
        for (const event of stored) {
          const body = (await (
            await fetch(`${other.url}/audits/${event.id}/proof`, { headers })
          ).json()) as InclusionBody;
          expect(
            verifyInclusion(event.seq - 1, stored.length, bytes(event.leafHash), body.inclusionProof.map(bytes), root),
          ).to.equal(true);
        }
        expect((await running.service.store.log.verify(org)).verified).to.equal(true);
      } finally {
        await other.close();
      }
    });
  }
});
