// `npm run soak -- --seconds N [--database postgres://…|sqlite:…] [--writers 16]`: a bounded load on
// the service in a child process — valid posts and batches, bad input, reads — for N seconds. Then it
// compares acknowledged with stored events (exit 1 unless equal, every chain verifies and nothing got
// a 5xx other than 503), and prints the status histograms and the server's RSS over time.
// A postgres:// URL names a server: the soak works in a fresh schema there and drops it afterwards.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { spawnService } from '../test/helpers/child';
import { createTestDatabase, type TestDatabase } from '../test/helpers/databases';
import { Load } from '../test/helpers/load';
import { sampleEvent } from '../test/helpers/service';
import { withStore } from '../test/helpers/sql';
import { buildService, BUILT } from './build';
import { authHeaders } from '../test/helpers/tokens';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    database: { type: 'string' },
    writers: { type: 'string', default: '16' },
  },
});
const SECONDS = Number(values.seconds);
const WRITERS = Number(values.writers);
// Verifying rereads a whole chain, and the chains grow all the time: one reader, paced like a
// monitor or an anchoring job would be, so the soak measures writes rather than verify's O(n).
const READ_INTERVAL_MS = 5000;
const SAMPLES = 20;

const orgs = [1, 2, 3].map((i) => `SOAK-${Date.now()}-${i}@AdobeOrg`);
// Each malformed request and the status the contract gives it.
const badRequests: { path: string; body: string; contentType?: string; expect: number }[] = [
  { path: '/audits', body: JSON.stringify({ ...sampleEvent(), action: undefined }), expect: 400 },
  { path: '/audits', body: JSON.stringify(sampleEvent({ timestamp: '2017-02-30T00:00:00Z' })), expect: 400 },
  { path: '/audits', body: JSON.stringify(sampleEvent({ unknownField: 1 })), expect: 400 },
  { path: '/audits', body: '{"source": "truncated', expect: 400 },
  { path: '/audits', body: JSON.stringify(sampleEvent()), contentType: 'text/plain', expect: 415 },
  { path: '/audits/batch', body: JSON.stringify([sampleEvent(), sampleEvent({ imsOrgId: '' })]), expect: 400 },
  { path: '/audits/batch', body: '[]', expect: 400 },
];

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

const count = (histogram: Record<string, number>, status: number | string) =>
  (histogram[status] = (histogram[status] ?? 0) + 1);

/** Runs `work` until stopped; a request without any answer counts as its network error code. */
async function loop(
  running: () => boolean,
  histogram: Record<string, number>,
  work: () => Promise<void>,
): Promise<void> {
  while (running()) {
    await work().catch(async (error) => {
      count(histogram, (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name);
      await new Promise((resolve) => setTimeout(resolve, 20));
    });
  }
}

const database: TestDatabase = values.database?.startsWith('postgres')
  ? await createTestDatabase('postgres', values.database)
  : values.database
    ? { kind: 'sqlite', url: values.database, dispose: async () => {} }
    : await createTestDatabase('sqlite');
let failed: boolean;
try {
  // The build, as npm start runs it, so memory is the product's and not the TypeScript loader's.
  await buildService();
  const service = await spawnService(database.url, { entry: BUILT.service });
  const headers = await authHeaders({ orgs, expiresIn: SECONDS + 600 });
  console.log(
    `soak: ${SECONDS} s against ${database.kind} (pid ${service.pid}); ${WRITERS} writers, 1 verify reader, 1 bad-input client`,
  );

  const load = new Load({ url: service.url, headers, orgs, concurrency: WRITERS, keep: false });
  let running = true;
  const reads: Record<string, number> = {};
  const bad: Record<string, number> = {};
  let unverified = 0;
  let misanswered = 0;
  let n = 0;
  const verifyMs: number[] = [];
  const others = [
    loop(
      () => running,
      reads,
      async () => {
        const org = orgs[n++ % orgs.length];
        const start = Date.now();
        const res = await fetch(`${service.url}/audits/verify?imsOrgId=${encodeURIComponent(org)}`, { headers });
        count(reads, res.status);
        const body = (await res.json()) as { verified?: boolean };
        verifyMs.push(Date.now() - start);
        if (res.status === 200 && !body.verified) unverified += 1;
        await new Promise((resolve) => setTimeout(resolve, READ_INTERVAL_MS));
      },
    ),
    loop(
      () => running,
      bad,
      async () => {
        const request = badRequests[n++ % badRequests.length];
        const res = await fetch(service.url + request.path, {
          method: 'POST',
          headers: { ...headers, 'content-type': request.contentType ?? 'application/json' },
          body: request.body,
        });
        await res.arrayBuffer();
        count(bad, res.status);
        if (res.status !== request.expect) misanswered += 1;
      },
    ),
  ];

  const samples: { t: number; rss: number; acked: number }[] = [];
  const every = (SECONDS * 1000) / SAMPLES;
  const start = Date.now();
  const unanswered = () =>
    [load.histogram(), reads, bad].reduce(
      (sum, h) =>
        sum +
        Object.entries(h)
          .filter(([s]) => !/^\d+$/.test(s))
          .reduce((n, [, c]) => n + c, 0),
      0,
    );
  const sample = () => {
    const s = { t: (Date.now() - start) / 1000, rss: rssMb(service.pid), acked: load.ackedEvents };
    samples.push(s);
    console.log(
      `  t=${s.t.toFixed(0).padStart(5)} s  RSS ${s.rss.toFixed(0).padStart(4)} MB  acknowledged events ${s.acked}` +
        `  unanswered requests ${unanswered()}`,
    );
  };
  sample();
  while (Date.now() - start < SECONDS * 1000) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(every, SECONDS * 1000 - (Date.now() - start))));
    sample();
  }
  running = false;
  await Promise.all([load.stop(), ...others]);
  const exit = await service.kill('SIGTERM');

  const stored = await withStore(database.url, async (store) => {
    const perOrg = await Promise.all(orgs.map((org) => store.log.verify(org)));
    return {
      count: perOrg.reduce((sum, result) => sum + result.count, 0),
      broken: perOrg.filter((result) => !result.verified),
    };
  });

  const writes = load.histogram();
  const serverErrors = [writes, reads, bad].flatMap((h) => Object.keys(h).filter((s) => /^5/.test(s) && s !== '503'));
  const networkErrors = [writes, reads, bad].flatMap((h) => Object.keys(h).filter((s) => !/^\d+$/.test(s)));
  const steady = samples.slice(Math.floor(samples.length / 4));
  console.log(`\nwrites (status: requests):     ${JSON.stringify(writes)}`);
  console.log(
    `reads, verify (status: reqs):  ${JSON.stringify(reads)}${unverified ? `  NOT VERIFIED: ${unverified}` : ''}` +
      `  (first ${verifyMs[0]} ms, last ${verifyMs.at(-1)} ms)`,
  );
  console.log(
    `bad input (status: requests):  ${JSON.stringify(bad)}${misanswered ? `  UNEXPECTED STATUS: ${misanswered}` : ''}`,
  );
  console.log(
    `acknowledged events: ${load.ackedEvents}   stored events: ${stored.count}   ${load.ackedEvents === stored.count ? 'EQUAL' : 'MISMATCH'}`,
  );
  console.log(`chains: ${orgs.length - stored.broken.length} of ${orgs.length} tenants verify`);
  console.log(
    `RSS: start ${samples[0].rss.toFixed(0)} MB, after warm-up ${steady[0].rss.toFixed(0)} MB, ` +
      `end ${samples.at(-1)!.rss.toFixed(0)} MB, peak ${Math.max(...samples.map((s) => s.rss)).toFixed(0)} MB`,
  );
  console.log(`server exit on SIGTERM: ${exit.code ?? exit.signal}`);
  failed =
    load.ackedEvents !== stored.count ||
    stored.broken.length > 0 ||
    serverErrors.length > 0 ||
    networkErrors.length > 0 ||
    unverified > 0 ||
    misanswered > 0 ||
    exit.code !== 0;
  console.log(failed ? '\nSOAK FAILED' : '\nsoak passed');
} finally {
  await database.dispose();
}
process.exit(failed ? 1 : 0);
