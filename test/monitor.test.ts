import { expect } from 'chai';
import type { AuditEvent } from '../src/domain/api';
import { eventLeafHash } from '../src/domain/leaf';
import { rootFromLeaves } from '../src/domain/merkle';
import { type EventRow, fromRow, toHeadRow } from '../src/store/rows';
import { appendLeaf, EMPTY_FRONTIER, type Frontier, frontierRoot } from '../src/domain/merkle';
import { describeEachDatabase } from './helpers/databases';
import { captureLogs } from './helpers/logs';
import { type RunningService, sampleEvent, startService } from './helpers/service';
import { withKnex } from './helpers/sql';
import { TAMPERINGS, where } from './helpers/tamperings';

describeEachDatabase('The log monitor', (database) => {
  let running: RunningService;
  let logs: ReturnType<typeof captureLogs>;
  let n = 0;
  const freshOrg = (name: string) => `monitor-${name}-${Date.now()}-${n++}@AdobeOrg`;
  const seed = async (org: string, count: number) => {
    const events = Array.from({ length: count }, () => sampleEvent({ imsOrgId: org }) as AuditEvent);
    await running.service.store.commit([{ events }]);
  };
  const metric = async (name: string) => {
    const res = await fetch(`${running.url}/metrics`);
    const match = new RegExp(`^${name} (\\d+)`, 'm').exec(await res.text());
    return Number(match?.[1] ?? NaN);
  };

  before(async () => {
    logs = captureLogs();
    // Rounds are run by the tests, not by a timer.
    running = await startService(database().url, { MONITOR_INTERVAL_MS: '0', LOG_LEVEL: 'info' }, logs.logger);
  });

  after(async () => {
    await running?.close();
  });

  it('verifies what each tenant appended since its last round, and counts it', async () => {
    await running.service.monitor.runRound({ full: true });
    const org = freshOrg('ok');
    await seed(org, 5);
    const before = await metric('audit_monitor_events_verified_total');
    expect((await running.service.monitor.runRound({ full: false })).filter((f) => f.imsOrgId === org)).to.deep.equal(
      [],
    );
    await seed(org, 3);
    expect((await running.service.monitor.runRound({ full: false })).filter((f) => f.imsOrgId === org)).to.deep.equal(
      [],
    );
    // Each event once, as it was appended: 5, then 3; every other tenant was verified already.
    expect(await metric('audit_monitor_events_verified_total')).to.equal(before + 8);
  });

  for (const [name, tamper, brokenAt, reason] of TAMPERINGS) {
    it(`finds ${name}, names the tenant and seq in an error log, and counts it`, async () => {
      const org = freshOrg('tamper');
      await seed(org, 5);
      await running.service.monitor.runRound();
      const failures = await metric('audit_monitor_failures_total');
      await withKnex(database().url, (db) => tamper(db, org));
      const round = await running.service.monitor.runRound({ full: true });
      const findings = round.filter((f) => f.imsOrgId === org);
      expect(findings).to.have.length(1);
      // Verification's own finding, or the checkpoint it kept no longer holding.
      const kept = /changed since it was verified|is not consistent with the one of size 5/;
      expect(findings[0].reason).to.satisfy((text: string) => reason.test(text) || kept.test(text));
      if (reason.test(findings[0].reason)) expect(findings[0].brokenAt).to.equal(brokenAt);
      // Each finding counts (earlier tests' broken tenants are found again, every round).
      expect(await metric('audit_monitor_failures_total')).to.equal(failures + round.length);
      const line = logs.lines().find((l) => l.level === 50 && l.imsOrgId === org);
      // The line names the tenant and seq, and nothing of the events.
      expect(JSON.stringify(line)).to.not.include('jane');
      expect(line?.msg).to.match(new RegExp(`broken at seq ${findings[0].brokenAt}`));
    });
  }

  it('finds a history rewritten consistently (event, leaf hash, head), which verification alone cannot', async () => {
    const org = freshOrg('rewrite');
    await seed(org, 5);
    await running.service.monitor.runRound();
    await withKnex(database().url, async (db) => {
      // Rewrite event 3 and recompute everything after it, as someone with write access but no signing key could.
      const rows = (await db('audit_events').where({ ims_org_id: org }).orderBy('seq')) as EventRow[];
      let frontier: Frontier = EMPTY_FRONTIER;
      for (const row of rows) {
        const edited = Number(row.seq) === 3 ? { ...row, action: 'rewritten' } : row;
        const { leafHash: _old, salts, ...hashed } = fromRow(edited);
        const leaf = eventLeafHash(hashed, salts);
        await db('audit_events')
          .where(where(org, Number(row.seq)))
          .update({ action: edited.action, leaf_hash: leaf });
        frontier = appendLeaf(frontier, Buffer.from(leaf, 'base64'));
      }
      const head = toHeadRow(org, {
        size: 5,
        rootHash: Buffer.from(frontierRoot(frontier)).toString('base64'),
        frontier,
      });
      await db('audit_log_heads')
        .where({ ims_org_id: org })
        .update({ root_hash: head.root_hash, frontier: head.frontier });
    });
    expect((await running.service.store.log.verify(org)).verified, 'the rewrite is self-consistent').to.equal(true);
    const [finding] = (await running.service.monitor.runRound()).filter((f) => f.imsOrgId === org);
    expect(finding).to.include({ brokenAt: 5 });
    expect(finding.reason).to.match(/root of the tree of size 5 changed/);
  });

  it('finds a log that shrank: the tail deleted and the head rolled back consistently', async () => {
    const org = freshOrg('shrink');
    await seed(org, 5);
    await running.service.monitor.runRound();
    await withKnex(database().url, async (db) => {
      const rows = (await db('audit_events').where({ ims_org_id: org }).orderBy('seq')) as EventRow[];
      const leaves = rows.slice(0, 4).map((row) => new Uint8Array(Buffer.from(row.leaf_hash, 'base64')));
      const frontier = leaves.reduce<Frontier>((f, leaf) => appendLeaf(f, leaf), EMPTY_FRONTIER);
      await db('audit_events').where(where(org, 5)).delete();
      const head = toHeadRow(org, {
        size: 4,
        rootHash: Buffer.from(rootFromLeaves(leaves)).toString('base64'),
        frontier,
      });
      await db('audit_log_heads')
        .where({ ims_org_id: org })
        .update({ seq: 4, root_hash: head.root_hash, frontier: head.frontier });
    });
    const [finding] = (await running.service.monitor.runRound()).filter((f) => f.imsOrgId === org);
    expect(finding.reason).to.match(/shrank from 5 events to 4/);
  });
});
