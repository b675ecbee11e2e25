// `npm run bench`: POST /audits throughput of the real service against a bare Koa echo, in one run.
// Each target runs as its own child process on loopback; autocannon drives it from this process
// with the same authenticated body at 50 connections; targets are interleaved over several rounds
// so machine noise hits them alike. Prints a table and writes bench/results/<time>.json.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { spawnServer, spawnService, type ChildService } from '../test/helpers/child';
import { createTestDatabase, type DatabaseKind } from '../test/helpers/databases';
import { mintToken } from '../test/helpers/tokens';
import { buildService, BUILT } from './build';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '50' },
    // Another checkout, built (`npm run build` there): its service runs beside this one, interleaved,
    // so a change is measured against what it changes in one run.
    baseline: { type: 'string' },
  },
});
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const CONNECTIONS = Number(values.connections);
const BATCH_SIZE = 100;
const POSTGRES_URL = process.env.TEST_POSTGRES_URL || process.env.DATABASE_URL || '';
const SECRET = randomBytes(32).toString('hex');
const ORG = 'BENCH@AdobeOrg';

const event = {
  source: 'marketingcloud',
  service: { serviceId: 'SKMS-1234' },
  resource: { resourceId: 'stream/42' },
  action: 'update',
  imsOrgId: ORG,
  timestamp: '2017-10-31T00:02:04.232Z',
  tags: { region: 'eu-west-1', env: 'bench' },
  userIdentifier: 'jane.doe@example.com',
};

interface Target {
  name: string;
  path: string;
  body: string;
  eventsPerRequest: number;
  start(): Promise<ChildService>;
}

interface Sample {
  target: string;
  round: number;
  requestsPerSecond: number;
  eventsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
  peakRssMb: number;
  /** The server's CPU time (all threads, user + system) per request: steadier than req/s on a busy machine. */
  cpuUsPerRequest: number;
}

const cleanups: (() => Promise<unknown>)[] = [];
const serviceTarget = (
  name: string,
  databaseUrl: () => Promise<string>,
  batch = false,
  entry = BUILT.service,
): Target => ({
  name,
  path: batch ? '/audits/batch' : '/audits',
  body: JSON.stringify(batch ? Array(BATCH_SIZE).fill(event) : event),
  eventsPerRequest: batch ? BATCH_SIZE : 1,
  start: async () => spawnService(await databaseUrl(), { env: { AUTH_JWT_SECRET: SECRET }, entry }),
});
const BASELINE = values.baseline && path.resolve(values.baseline, 'dist/main.js');

/** A fresh database per measurement, removed at the end (tests' helper: a SQLite file or a PostgreSQL schema). */
const freshDatabase = (kind: DatabaseKind) => async () => {
  const database = await createTestDatabase(kind, POSTGRES_URL);
  cleanups.push(() => database.dispose());
  return database.url;
};

// The receiver of the subscribed targets' webhooks: answers 200 to everything, in this process.
const receiver = createServer((request, response) => {
  request.resume();
  request.on('end', () => response.end());
});
await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
cleanups.push(() => new Promise((resolve) => receiver.close(resolve)));
const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;

/** `serviceTarget` with one active webhook subscription on the tenant being written (#15: within 10%). */
const subscribedTarget = (name: string, databaseUrl: () => Promise<string>): Target => ({
  ...serviceTarget(name, databaseUrl),
  start: async () => {
    const server = await spawnService(await databaseUrl(), {
      env: { AUTH_JWT_SECRET: SECRET, WEBHOOK_ALLOWED_HOSTS: '127.0.0.1' },
      entry: BUILT.service,
    });
    const token = await mintToken({
      clientId: 'bench',
      orgs: [ORG],
      scope: 'audit.admin',
      expiresIn: 3600,
      secret: SECRET,
    });
    const response = await fetch(`${server.url}/audits/subscriptions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'bench', authorization: `Bearer ${token}` },
      body: JSON.stringify({ imsOrgId: ORG, url: receiverUrl, format: 'json' }),
    });
    if (response.status !== 201) throw new Error(`subscribing got ${response.status}: ${await response.text()}`);
    return server;
  },
});

const targets: Target[] = [
  {
    name: 'koa-echo',
    path: '/audits',
    body: JSON.stringify(event),
    eventsPerRequest: 1,
    start: () => spawnServer('dist/koaEcho.js'),
  },
  serviceTarget('service-sqlite', freshDatabase('sqlite')),
  subscribedTarget('subscribed-sqlite', freshDatabase('sqlite')),
  ...(POSTGRES_URL
    ? [
        serviceTarget('service-postgres', freshDatabase('postgres')),
        subscribedTarget('subscribed-postgres', freshDatabase('postgres')),
      ]
    : []),
  serviceTarget('batch100-sqlite', freshDatabase('sqlite'), true),
  ...(BASELINE
    ? [
        serviceTarget('baseline-sqlite', freshDatabase('sqlite'), false, BASELINE),
        ...(POSTGRES_URL ? [serviceTarget('baseline-postgres', freshDatabase('postgres'), false, BASELINE)] : []),
        serviceTarget('baseline-batch100-sqlite', freshDatabase('sqlite'), true, BASELINE),
      ]
    : []),
];

function cpuMs(pid: number): number {
  // utime and stime, fields 14 and 15 of /proc/<pid>/stat, in clock ticks (100 per second on Linux).
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function peakRssMb(pid: number): number {
  // VmHWM is the process's peak resident set size so far.
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

async function measure(target: Target, round: number, headers: Record<string, string>): Promise<Sample> {
  const server = await target.start();
  try {
    // A short warm-up so JIT compilation and first connections do not count.
    await autocannon({
      url: server.url + target.path,
      method: 'POST',
      headers,
      body: target.body,
      connections: CONNECTIONS,
      duration: 1,
    });
    const cpuBefore = cpuMs(server.pid);
    const result = await autocannon({
      url: server.url + target.path,
      method: 'POST',
      headers,
      body: target.body,
      connections: CONNECTIONS,
      duration: SECONDS,
    });
    const requestsPerSecond = result.requests.average;
    return {
      target: target.name,
      round,
      requestsPerSecond,
      eventsPerSecond: requestsPerSecond * target.eventsPerRequest,
      p50Ms: result.latency.p50,
      p99Ms: result.latency.p99,
      non2xx: result.non2xx,
      errors: result.errors + result.timeouts,
      peakRssMb: peakRssMb(server.pid),
      cpuUsPerRequest: ((cpuMs(server.pid) - cpuBefore) * 1000) / result.requests.total,
    };
  } finally {
    await server.kill('SIGTERM');
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

try {
  // Both servers run built, as `npm start` runs the service.
  await buildService({ koaEcho: 'scripts/bench/koaEcho.ts' });
  const token = await mintToken({
    clientId: 'bench',
    orgs: [ORG],
    scope: 'audit.write',
    expiresIn: 3600,
    secret: SECRET,
  });
  const headers = { 'content-type': 'application/json', 'x-api-key': 'bench', authorization: `Bearer ${token}` };
  const samples: Sample[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const target of targets) {
      const sample = await measure(target, round, headers);
      samples.push(sample);
      console.log(
        `round ${round} ${target.name.padEnd(16)} ${sample.requestsPerSecond.toFixed(0).padStart(6)} req/s ` +
          `${sample.eventsPerSecond.toFixed(0).padStart(7)} events/s  p50 ${sample.p50Ms} ms  p99 ${sample.p99Ms} ms  ` +
          `non-2xx ${sample.non2xx}  errors ${sample.errors}  peak RSS ${sample.peakRssMb.toFixed(0)} MB  ` +
          `CPU ${sample.cpuUsPerRequest.toFixed(0)} µs/req`,
      );
    }
  }
  const koa = samples.filter((s) => s.target === 'koa-echo');
  const summary = targets.map(({ name }) => {
    const mine = samples.filter((s) => s.target === name);
    // Ratio per round (same machine state), then the median over rounds.
    const ratios = mine.map((s) => s.requestsPerSecond / koa.find((k) => k.round === s.round)!.requestsPerSecond);
    return {
      target: name,
      medianRequestsPerSecond: median(mine.map((s) => s.requestsPerSecond)),
      medianEventsPerSecond: median(mine.map((s) => s.eventsPerSecond)),
      medianP50Ms: median(mine.map((s) => s.p50Ms)),
      medianP99Ms: median(mine.map((s) => s.p99Ms)),
      totalNon2xx: mine.reduce((n, s) => n + s.non2xx + s.errors, 0),
      peakRssMb: Math.max(...mine.map((s) => s.peakRssMb)),
      medianCpuUsPerRequest: median(mine.map((s) => s.cpuUsPerRequest)),
      medianRatioToKoa: median(ratios),
    };
  });
  console.log('\nmedian over rounds (ratio = requests/s against koa-echo in the same round):');
  console.table(
    summary.map((s) => ({
      target: s.target,
      'req/s': Math.round(s.medianRequestsPerSecond),
      'events/s': Math.round(s.medianEventsPerSecond),
      'p50 ms': s.medianP50Ms,
      'p99 ms': s.medianP99Ms,
      'non-2xx': s.totalNon2xx,
      'peak RSS MB': Math.round(s.peakRssMb),
      'CPU µs/req': Math.round(s.medianCpuUsPerRequest),
      'ratio/koa': s.medianRatioToKoa.toFixed(2),
    })),
  );
  // Ingest with one active webhook subscription against the same run without one, per round.
  for (const database of ['sqlite', 'postgres']) {
    const plain = samples.filter((s) => s.target === `service-${database}`);
    const subscribed = samples.filter((s) => s.target === `subscribed-${database}`);
    if (subscribed.length === 0) continue;
    const ratio = median(
      subscribed.map((s) => s.requestsPerSecond / plain.find((p) => p.round === s.round)!.requestsPerSecond),
    );
    console.log(`${database}: ingest with one active subscription = ${(ratio * 100).toFixed(1)}% of without`);
  }
  mkdirSync('bench/results', { recursive: true });
  const file = path.join('bench/results', `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    JSON.stringify(
      { date: new Date().toISOString(), seconds: SECONDS, rounds: ROUNDS, connections: CONNECTIONS, summary, samples },
      null,
      2,
    ),
  );
  console.log(`results written to ${file}`);
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
}
