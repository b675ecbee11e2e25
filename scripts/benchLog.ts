// `npm run bench:log`: the verifiable log's figures (#13) on a tenant of --events events (default
// 1,000,000), on SQLite and, with TEST_POSTGRES_URL, PostgreSQL: inclusion and consistency proofs
// over HTTP from the built service (one request at a time: latency, not throughput), the rate of a
// full GET /audits/verify there, and what `since` costs after adding 1% more. The tenant is
// written through the store's own commit path, in groups of 2,000, so its tree is the real one.
import { randomInt } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseDatabaseUrl } from '../src/config';
import type { AuditEvent } from '../src/domain/api';
import { AuditStore } from '../src/store/auditStore';
import { openDatabase } from '../src/store/db';
import { spawnService } from '../test/helpers/child';
import { createTestDatabase, type DatabaseKind, TEST_POSTGRES_URL } from '../test/helpers/databases';
import { mintToken, TEST_SECRET } from '../test/helpers/tokens';
import { buildService, BUILT } from './build';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    proofs: { type: 'string', default: '500' },
  },
});
const EVENTS = Number(values.events);
const PROOFS = Number(values.proofs);
const GROUP = 2000;
const ORG = 'LOG-BENCH@AdobeOrg';

const eventAt = (i: number): AuditEvent => ({
  source: 'marketingcloud',
  service: { serviceId: `SKMS-${i % 50}` },
  resource: { resourceId: `stream/${i % 10_007}` },
  action: ['create', 'update', 'delete'][i % 3],
  imsOrgId: ORG,
  timestamp: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
  tags: { region: `eu-${i % 3}`, env: 'bench' },
  userIdentifier: `user${i % 1009}@example.com`,
});

async function append(store: AuditStore, from: number, count: number): Promise<void> {
  for (let i = from; i < from + count; i += GROUP) {
    const events = Array.from({ length: Math.min(GROUP, from + count - i) }, (_, j) => eventAt(i + j));
    await store.commit([{ events }]);
  }
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];

async function measure(kind: DatabaseKind): Promise<Record<string, number | string>> {
  const database = await createTestDatabase(kind);
  const store = new AuditStore(openDatabase(parseDatabaseUrl(database.url)));
  try {
    await store.migrate();
    const started = performance.now();
    await append(store, 0, EVENTS);
    const seedSeconds = (performance.now() - started) / 1000;
    console.error(`${kind}: ${EVENTS} events written in ${seedSeconds.toFixed(1)} s`);

    const seqs = Array.from({ length: PROOFS }, () => 1 + randomInt(EVENTS));
    const ids = await Promise.all(seqs.map(async (seq) => (await store.eventsAfterSeq(ORG, seq - 1, 1))[0].id));
    const service = await spawnService(database.url, { env: { AUTH_JWT_SECRET: TEST_SECRET }, entry: BUILT.service });
    const token = await mintToken({ orgs: [ORG] });
    const headers = { 'x-api-key': 'test-client', authorization: `Bearer ${token}` };
    const time = async (path: string) => {
      const begun = performance.now();
      const res = await fetch(`${service.url}${path}`, { headers });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
      return performance.now() - begun;
    };
    let inclusion: number[];
    let consistency: number[];
    let fullSeconds: number;
    let sinceSeconds: number;
    const added = Math.max(1, Math.round(EVENTS / 100));
    try {
      for (const id of ids.slice(0, 20)) await time(`/audits/${id}/proof`); // warm up
      inclusion = [];
      for (const id of ids) inclusion.push(await time(`/audits/${id}/proof`));
      consistency = [];
      for (const seq of seqs)
        consistency.push(
          await time(`/audits/consistency?imsOrgId=${encodeURIComponent(ORG)}&from=${seq}&to=${EVENTS}`),
        );
      // Verification as clients ask for it, in the built service.
      const verify = async (query: string) => {
        const begun = performance.now();
        const res = await fetch(`${service.url}/audits/verify?imsOrgId=${encodeURIComponent(ORG)}${query}`, {
          headers,
        });
        const body = (await res.json()) as { verified: boolean; count: number; reason?: string };
        if (!body.verified) throw new Error(`the log does not verify: ${body.reason}`);
        return { seconds: (performance.now() - begun) / 1000, count: body.count };
      };
      fullSeconds = (await verify('')).seconds;
      await append(store, EVENTS, added);
      const since = await verify(`&since=${EVENTS}`);
      if (since.count !== added) throw new Error(`since= verified ${since.count} events, not ${added}`);
      sinceSeconds = since.seconds;
    } finally {
      await service.kill('SIGTERM');
    }
    inclusion.sort((a, b) => a - b);
    consistency.sort((a, b) => a - b);
    return {
      database: kind,
      events: EVENTS,
      inclusionP50Ms: Number(percentile(inclusion, 0.5).toFixed(2)),
      inclusionP99Ms: Number(percentile(inclusion, 0.99).toFixed(2)),
      consistencyP50Ms: Number(percentile(consistency, 0.5).toFixed(2)),
      consistencyP99Ms: Number(percentile(consistency, 0.99).toFixed(2)),
      fullVerifySeconds: Number(fullSeconds.toFixed(2)),
      fullVerifyEventsPerSecond: Math.round(EVENTS / fullSeconds),
      sinceAdded: added,
      sinceSeconds: Number(sinceSeconds.toFixed(3)),
      // since= in proportion to what was added: its share of the full run's time against its share of the events.
      sinceCostRatio: Number((sinceSeconds / fullSeconds / (added / EVENTS)).toFixed(2)),
    };
  } finally {
    await store.close();
    await database.dispose();
  }
}

await buildService();
const kinds: DatabaseKind[] = TEST_POSTGRES_URL ? ['sqlite', 'postgres'] : ['sqlite'];
const results = [];
for (const kind of kinds) results.push(await measure(kind));
console.table(results);
mkdirSync('bench/results', { recursive: true });
const file = `bench/results/log-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
console.log(`written to ${file}`);
