import { expect } from 'chai';
import { parseDatabaseUrl } from '../src/config';
import { AuditStore } from '../src/store/auditStore';
import { openDatabase } from '../src/store/db';
import { describeEachDatabase } from './helpers/databases';
import { sampleEvent } from './helpers/service';
import type { AuditEvent } from '../src/domain/api';

// On PostgreSQL each instance remembers the chain heads it wrote and commits on that guess in
// one statement; a head another instance moved since must be noticed, never forked.
describeEachDatabase('Chain heads shared by two instances', (database) => {
  it('alternating writers to one tenant each extend the current head: one gapless chain', async function () {
    this.timeout(30_000);
    const [a, b] = [0, 1].map(() => new AuditStore(openDatabase(parseDatabaseUrl(database().url))));
    try {
      await a.migrate();
      const org = `heads-${Date.now()}@AdobeOrg`;
      const event = (action: string) => sampleEvent({ imsOrgId: org, action }) as AuditEvent;
      // a and b take turns, so each one's remembered head is stale at its next write.
      for (let round = 0; round < 3; round++) {
        for (const [name, store] of [
          ['a', a],
          ['b', b],
        ] as const) {
          const [outcome] = await store.commit([{ events: [event(`${name}${round}.1`), event(`${name}${round}.2`)] }]);
          expect(outcome.kind).to.equal('stored');
        }
      }
      // A group across two tenants, one of them new, still commits both or neither.
      const other = `heads-other-${Date.now()}@AdobeOrg`;
      const [mixed] = await a.commit([{ events: [event('a.mixed'), sampleEvent({ imsOrgId: other })] }]);
      expect(mixed.kind).to.equal('stored');

      const verification = await b.log.verify(org);
      expect(verification).to.include({ verified: true, count: 13, headSeq: 13 });
      expect((await b.log.verify(other)).verified).to.equal(true);
      const page = await b.list({ imsOrgId: org }, { limit: 20 });
      expect(page.items.map((e) => e.seq).sort((x, y) => x - y)).to.deep.equal([
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
      ]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
