import { verifyOffline } from './helpers/child';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import pino from 'pino';
import { verifyCheckpoint, verifyConsistency, verifyEventInclusion } from '../src/client/index';
import { ConfigError, loadConfig } from '../src/config';
import type { StoredAuditEvent } from '../src/domain/api';
import { parseRetention } from '../src/domain/retention';
import { PURGE_ACTION, RetentionJob } from '../src/retention';
import { TEST_CHECKPOINT_VERIFIER_KEY } from './helpers/checkpointKeys';
import { describeEachDatabase } from './helpers/databases';
import { postJson, type RunningService, sampleEvent, startService } from './helpers/service';
import { withKnex } from './helpers/sql';
import { authHeaders } from './helpers/tokens';

const KEYS = [TEST_CHECKPOINT_VERIFIER_KEY];

describe('Retention durations', () => {
  it('accepts weeks, days, hours, minutes and seconds, in ms', () => {
    expect(parseRetention('PT2S')).to.deep.equal({ ms: 2000 });
    expect(parseRetention('P90D')).to.deep.equal({ ms: 90 * 86_400_000 });
    expect(parseRetention('P1W2DT3H4M5S')).to.deep.equal({ ms: ((9 * 24 + 3) * 60 + 4) * 60_000 + 5000 });
    expect(parseRetention('PT90M')).to.deep.equal({ ms: 90 * 60_000 });
  });

  for (const [text, problem] of [
    ['P1M', /months and years/],
    ['P1Y', /months and years/],
    ['P1Y2D', /months and years/],
    ['-P1D', /negative/],
    ['PT0S', /at least 1 second/],
    ['PT1.5S', /fractions/],
    ['P36501D', /at most 36500 days/],
    ['P', /not an ISO 8601 duration/],
    ['PT', /not an ISO 8601 duration/],
    ['90 days', /not an ISO 8601 duration/],
    ['P1DT', /not an ISO 8601 duration/],
  ] as const) {
    it(`refuses ${JSON.stringify(text)}, saying why`, () => {
      const parsed = parseRetention(text);
      expect(parsed).to.have.property('problem').that.matches(problem);
    });
  }

  it('RETENTION_DEFAULT and RETENTION_INTERVAL: unset keeps forever and runs hourly; bad values name the variable', () => {
    const base = { AUTH_JWT_SECRET: 'x'.repeat(32) };
    expect(loadConfig(base).retention).to.deep.equal({ default: undefined, intervalMs: 3600_000 });
    expect(loadConfig({ ...base, RETENTION_DEFAULT: 'P90D', RETENTION_INTERVAL: 'PT1S' }).retention).to.deep.equal({
      default: { text: 'P90D', ms: 90 * 86_400_000 },
      intervalMs: 1000,
    });
    expect(() => loadConfig({ ...base, RETENTION_INTERVAL: 'PT0S' })).to.throw(
      ConfigError,
      /RETENTION_INTERVAL.*at least 1 second/,
    );
    expect(() => loadConfig({ ...base, RETENTION_DEFAULT: 'P1M' })).to.throw(ConfigError, /RETENTION_DEFAULT.*months/);
  });
});

describeEachDatabase('Retention', (database, kind) => {
  let running: RunningService;
  let headers: Record<string, string>;
  let dir: string;
  let n = 0;
  const freshOrg = (name: string) => `retention-${name}-${Date.now()}-${n++}@AdobeOrg`;
  const q = encodeURIComponent;
  const url = (p: string) => `${running.url}${p}`;
  const get = (p: string, h = headers) => fetch(url(p), { headers: h });
  const put = (org: string, body: unknown, h = headers) =>
    fetch(url(`/audits/policy?imsOrgId=${q(org)}`), {
      method: 'PUT',
      headers: { 'content-type': 'application/json', ...h },
      body: JSON.stringify(body),
    });
  const seed = async (org: string, count: number, prefix = 'a') => {
    const ids: string[] = [];
    // A batch holds at most 1000 events.
    for (let from = 0; from < count; from += 500) {
      const events = Array.from({ length: Math.min(500, count - from) }, (_, i) =>
        sampleEvent({ imsOrgId: org, action: `${prefix}${from + i}` }),
      );
      const res = await postJson(url('/audits/batch'), events, headers);
      expect(res.status).to.equal(201);
      ids.push(...((await res.json()) as { ids: string[] }).ids);
    }
    return ids;
  };
  const events = async (org: string): Promise<StoredAuditEvent[]> => {
    const res = await get(`/audits/export?imsOrgId=${q(org)}`);
    expect(res.status).to.equal(200);
    return (await res.text())
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as StoredAuditEvent);
  };
  const verify = async (org: string) =>
    (await (await get(`/audits/verify?imsOrgId=${q(org)}`)).json()) as Record<string, unknown>;
  /**
   * An old prefix (`old` events), then `recent` more received later, and `now` for a round such
   * that with PT2S exactly the old ones are due (without waiting two seconds).
   */
  const oldThenRecent = async (org: string, old: number, recent: number) => {
    const oldIds = await seed(org, old, 'old');
    await new Promise((resolve) => setTimeout(resolve, 5));
    const recentIds = await seed(org, recent, 'recent');
    const first = (await (await get(`/audits/${recentIds[0]}`)).json()) as StoredAuditEvent;
    return { oldIds, recentIds, now: () => Date.parse(first.receivedAt) + 2000 };
  };
  const job = (options: { batch?: number; defaultMs?: number } = {}, service = running.service) =>
    new RetentionJob(service.store, service.writer, pino({ level: 'silent' }), { intervalMs: 3600_000, ...options });

  before(async () => {
    running = await startService(database().url);
    headers = await authHeaders({ orgs: '*', scope: 'audit.write audit.read audit.admin' });
    dir = await mkdtemp(path.join(tmpdir(), 'audit-retention-'));
  });
  after(async () => {
    await running?.close();
    await rm(dir, { recursive: true, force: true });
  });

  describe('GET and PUT /audits/policy', () => {
    it('a tenant without a policy (or without events) answers the default; PUT stores its own', async () => {
      const org = freshOrg('policy');
      const fresh = await get(`/audits/policy?imsOrgId=${q(org)}`);
      expect(fresh.status).to.equal(200);
      expect(await fresh.json()).to.deep.equal({
        retention: null,
        legalHold: false,
        inherited: true,
        prunedThrough: 0,
      });
      const stored = await put(org, { retention: 'P90D', legalHold: true });
      expect(stored.status).to.equal(200);
      const answer = { retention: 'P90D', legalHold: true, inherited: false, prunedThrough: 0 };
      expect(await stored.json()).to.deep.equal(answer);
      expect(await (await get(`/audits/policy?imsOrgId=${q(org)}`)).json()).to.deep.equal(answer);
      expect(await (await put(org, { retention: null, legalHold: false })).json()).to.deep.include({ retention: null });
    });

    it('answers RETENTION_DEFAULT for a tenant without a policy', async () => {
      const other = await startService(database().url, { RETENTION_DEFAULT: 'P30D' });
      try {
        const res = await fetch(`${other.url}/audits/policy?imsOrgId=${q(freshOrg('default'))}`, { headers });
        expect(await res.json()).to.deep.equal({
          retention: 'P30D',
          legalHold: false,
          inherited: true,
          prunedThrough: 0,
        });
      } finally {
        await other.close();
      }
    });

    it('bad input gets its status and a message naming the problem, and nothing is stored or pruned', async () => {
      const org = freshOrg('bad');
      await seed(org, 3);
      const cases: [unknown, Record<string, string>, number, RegExp][] = [
        [{ retention: 'P1M', legalHold: false }, headers, 400, /body\.retention.*months and years/],
        [{ retention: '-P1D', legalHold: false }, headers, 400, /retention/],
        [{ retention: 'PT0S', legalHold: false }, headers, 400, /at least 1 second/],
        [{ retention: 'ninety days', legalHold: false }, headers, 400, /retention/],
        [{ retention: 'PT2S' }, headers, 400, /legalHold/],
        [{ retention: 'PT2S', legalHold: false, extra: 1 }, headers, 400, /extra/],
        [
          { retention: 'PT2S', legalHold: false },
          await authHeaders({ orgs: '*', scope: 'audit.read audit.write' }),
          403,
          /scope audit\.admin/,
        ],
        [
          { retention: 'PT2S', legalHold: false },
          await authHeaders({ orgs: ['OTHER@AdobeOrg'], scope: 'audit.admin' }),
          403,
          /does not cover imsOrgId/,
        ],
      ];
      for (const [body, h, status, message] of cases) {
        const res = await put(org, body, h);
        expect(res.status, JSON.stringify(body)).to.equal(status);
        expect(((await res.json()) as { message: string }).message, JSON.stringify(body)).to.match(message);
      }
      expect(
        (await get(`/audits/policy?imsOrgId=${q(org)}`, await authHeaders({ orgs: '*', scope: 'audit.read' }))).status,
      ).to.equal(403);
      expect(await (await get(`/audits/policy?imsOrgId=${q(org)}`)).json()).to.include({ inherited: true });
      await job().runRound(() => Date.now() + 3600_000);
      expect(await events(org)).to.have.length(3);
    });
  });

  describe('the purge', () => {
    it('PT2S deletes the old prefix and nothing after it; reads, verify and the policy show it', async () => {
      const org = freshOrg('prefix');
      expect((await put(org, { retention: 'PT2S', legalHold: false })).status).to.equal(200);
      const { oldIds, recentIds, now } = await oldThenRecent(org, 7, 4);
      const reports = await job().runRound(now);
      expect(reports.filter((r) => r.imsOrgId === org)).to.deep.equal([{ imsOrgId: org, count: 7, prunedThrough: 7 }]);
      for (const id of oldIds) expect((await get(`/audits/${id}`)).status).to.equal(404);
      for (const id of recentIds) expect((await get(`/audits/${id}`)).status).to.equal(200);
      const left = await events(org);
      expect(left.map((e) => e.seq).sort((x, y) => x - y)).to.deep.equal([8, 9, 10, 11, 12]);
      const list = (await (await get(`/audits?imsOrgId=${q(org)}`)).json()) as { items: StoredAuditEvent[] };
      expect(list.items).to.have.length(5);
      expect(await verify(org)).to.include({ verified: true, prunedThrough: 7, treeSize: 12, count: 5 });
      expect(await (await get(`/audits/policy?imsOrgId=${q(org)}`)).json()).to.include({ prunedThrough: 7 });
      await withKnex(database().url, async (db) => {
        expect(await db('audit_events').where('ims_org_id', org).andWhere('seq', '<=', 7).first()).to.equal(undefined);
        const kept = await db('audit_tree_nodes').where({ ims_org_id: org, level: 0 }).orderBy('idx');
        expect(kept.map((row: { idx: number | string }) => Number(row.idx))).to.deep.equal([0, 1, 2, 3, 4, 5, 6]);
      });
      // A second round finds nothing more due.
      expect((await job().runRound(now)).filter((r) => r.imsOrgId === org)).to.deep.equal([]);
    });

    it('the purge is logged in the tenant log: who, through which seq, how many, nothing of the purged events', async () => {
      const org = freshOrg('logged');
      await put(org, { retention: 'PT2S', legalHold: false });
      const { oldIds, now } = await oldThenRecent(org, 5, 1);
      const purged = await Promise.all(oldIds.map(async (id) => (await get(`/audits/${id}`)).json()));
      await job().runRound(now);
      const [purge, ...others] = (await events(org)).filter((e) => e.action === PURGE_ACTION);
      expect(others).to.deep.equal([]);
      expect(purge).to.deep.include({
        seq: 7,
        source: 'audit-service',
        service: { serviceId: 'audit-service' },
        userIdentifier: 'audit-service',
        tags: { prunedThrough: '5', count: '5' },
      });
      const text = JSON.stringify(purge);
      for (const event of purged as StoredAuditEvent[]) {
        for (const value of [event.id, event.action, event.leafHash]) expect(text).not.to.include(value);
      }
    });

    it('proofs of the remaining events, consistency with a checkpoint kept before, and offline verification hold', async function () {
      this.timeout(60_000);
      const org = freshOrg('proofs');
      await put(org, { retention: 'PT2S', legalHold: false });
      const { now } = await oldThenRecent(org, 300, 20);
      const keptNote = await (await get(`/audits/checkpoint?imsOrgId=${q(org)}`)).text();
      const kept = verifyCheckpoint(keptNote, KEYS);
      const [report] = (await job({ batch: 64 }).runRound(now)).filter((r) => r.imsOrgId === org);
      expect(report).to.deep.equal({ imsOrgId: org, count: 300, prunedThrough: 300 });
      const key = await (await fetch(url('/audits/checkpoint/key'))).text();
      const remaining = await events(org);
      expect(remaining).to.have.length(21);
      for (const event of remaining) {
        const proof = await (await get(`/audits/${event.id}/proof`)).json();
        expect(verifyEventInclusion(event, proof as never, [key.trim()])).to.include({ treeSize: 321 });
        // And against the tree of the checkpoint kept before the purge.
        if (event.seq <= kept.treeSize) {
          const old = await (await get(`/audits/${event.id}/proof?treeSize=${kept.treeSize}`)).json();
          expect(verifyEventInclusion(event, old as never, KEYS)).to.include({ treeSize: 320 });
        }
      }
      const latest = verifyCheckpoint(await (await get(`/audits/checkpoint?imsOrgId=${q(org)}`)).text(), KEYS);
      const consistency = (await (
        await get(`/audits/consistency?imsOrgId=${q(org)}&from=${kept.treeSize}&to=${latest.treeSize}`)
      ).json()) as { consistencyProof: string[] };
      expect(
        verifyConsistency({
          fromSize: kept.treeSize,
          toSize: latest.treeSize,
          fromRoot: kept.rootHash,
          toRoot: latest.rootHash,
          proof: consistency.consistencyProof,
        }),
      ).to.equal(true);
      expect(await verify(org)).to.include({ verified: true, prunedThrough: 300, count: 21 });
      const since = (await (await get(`/audits/verify?imsOrgId=${q(org)}&since=10`)).json()) as Record<string, unknown>;
      expect(since).to.include({ verified: true, prunedThrough: 300 });
      const exported = path.join(dir, `${n}.ndjson`);
      await writeFile(exported, await (await get(`/audits/export?imsOrgId=${q(org)}&proofs=true`)).text());
      const run = await verifyOffline('--key', TEST_CHECKPOINT_VERIFIER_KEY, '--export', exported);
      expect(run.code, run.out).to.equal(0);
      expect(run.out).to.match(/^OK:/m);
    });

    it('the monitor keeps verifying a pruned log, and GET /audits/verify finds a row put back into the pruned prefix', async () => {
      const org = freshOrg('monitor');
      await put(org, { retention: 'PT2S', legalHold: false });
      const { now } = await oldThenRecent(org, 6, 3);
      await running.service.monitor.runRound({ full: true });
      await job().runRound(now);
      await seed(org, 2, 'after');
      for (const full of [false, true]) {
        const findings = await running.service.monitor.runRound({ full });
        expect(findings.filter((f) => f.imsOrgId === org)).to.deep.equal([]);
      }
      const [survivor] = await events(org);
      await withKnex(database().url, async (db) => {
        const row = (await db('audit_events').where({ id: survivor.id }).first()) as Record<string, unknown>;
        await db('audit_events').insert({ ...row, id: '01900000-0000-7000-8000-000000000000', seq: 3 });
      });
      expect(await verify(org))
        .to.include({ verified: false, brokenAt: 3 })
        .and.to.have.property('reason')
        .that.matches(/pruned prefix.*inserted/);
    });

    it('GET /audits/verify finds an edited kept leaf hash', async () => {
      const org = freshOrg('leaf');
      await put(org, { retention: 'PT2S', legalHold: false });
      const { now } = await oldThenRecent(org, 4, 2);
      await job().runRound(now);
      await withKnex(database().url, (db) =>
        db('audit_tree_nodes')
          .where({ ims_org_id: org, level: 0, idx: 1 })
          .update({ hash: Buffer.alloc(32, 7).toString('base64') }),
      );
      expect(await verify(org)).to.include({ verified: false });
    });

    it('a legal hold blocks the purge until it is lifted', async () => {
      const org = freshOrg('hold');
      await put(org, { retention: 'PT2S', legalHold: true });
      const { now } = await oldThenRecent(org, 5, 1);
      expect((await job().runRound(now)).filter((r) => r.imsOrgId === org)).to.deep.equal([]);
      expect(await events(org)).to.have.length(6);
      expect(await verify(org)).to.include({ verified: true, prunedThrough: 0 });
      await put(org, { retention: 'PT2S', legalHold: false });
      expect((await job().runRound(now)).filter((r) => r.imsOrgId === org)).to.deep.equal([
        { imsOrgId: org, count: 5, prunedThrough: 5 },
      ]);
    });

    it('RETENTION_DEFAULT applies to tenants without a policy; retention null keeps forever', async () => {
      const byDefault = freshOrg('default');
      const forever = freshOrg('forever');
      await put(forever, { retention: null, legalHold: false });
      const a = await oldThenRecent(byDefault, 3, 1);
      await oldThenRecent(forever, 3, 1);
      const reports = await job({ defaultMs: 2000 }).runRound(a.now);
      expect(reports.filter((r) => r.imsOrgId === byDefault)).to.deep.equal([
        { imsOrgId: byDefault, count: 3, prunedThrough: 3 },
      ]);
      expect(reports.filter((r) => r.imsOrgId === forever)).to.deep.equal([]);
    });

    it('runs by itself every RETENTION_INTERVAL', async function () {
      this.timeout(20_000);
      const org = freshOrg('timer');
      await put(org, { retention: 'PT2S', legalHold: false });
      await seed(org, 3);
      const timed = await startService(database().url, { RETENTION_INTERVAL: 'PT1S' });
      try {
        const deadline = Date.now() + 10_000;
        let state: Record<string, unknown> = {};
        while (Date.now() < deadline) {
          state = (await (await get(`/audits/policy?imsOrgId=${q(org)}`)).json()) as Record<string, unknown>;
          if (state.prunedThrough === 3) break;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
        expect(state).to.include({ prunedThrough: 3 });
      } finally {
        await timed.close();
      }
    });

    it(`two instances purging at once never purge an event twice or leave a hole [${kind}]`, async function () {
      this.timeout(60_000);
      const org = freshOrg('instances');
      await put(org, { retention: 'PT2S', legalHold: false });
      const { now } = await oldThenRecent(org, 1500, 5);
      // A second service on the same database (on SQLite, in this process: each batch is one
      // synchronous step, so neither holds the lock while the other waits on the event loop).
      const second = await startService(database().url);
      const other = second.service;
      try {
        const rounds = await Promise.all(
          [running.service, other, running.service, other].map((service) => job({ batch: 25 }, service).runRound(now)),
        );
        const counts = rounds.flat().filter((r) => r.imsOrgId === org);
        expect(counts.reduce((sum, r) => sum + r.count, 0)).to.equal(1500);
        // Give the purge events their commits, then account for every seq.
        const purges = (await events(org)).filter((e) => e.action === PURGE_ACTION);
        expect(purges.map((e) => Number(e.tags!.count)).reduce((a, b) => a + b, 0)).to.equal(1500);
        await withKnex(database().url, async (db) => {
          const kept = await db('audit_tree_nodes').where({ ims_org_id: org, level: 0 }).count({ n: '*' });
          expect(Number(kept[0].n)).to.equal(1500);
          expect(await db('audit_events').where('ims_org_id', org).andWhere('seq', '<=', 1500).first()).to.equal(
            undefined,
          );
          const head = await db('audit_log_heads')
            .where({ ims_org_id: org })
            .first<{ pruned_through: number | string }>('pruned_through');
          expect(Number(head.pruned_through)).to.equal(1500);
        });
        expect(await verify(org)).to.include({ verified: true, prunedThrough: 1500 });
      } finally {
        await second.close();
      }
    });
  });
});
