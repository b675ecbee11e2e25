// `npm run bench`: POST /audits throughput of the real service against a bare Koa echo, in one run.
// Each target runs as its own child process on loopback, built as `npm start` runs it; wrk (when
// installed, else autocannon) drives it with the same authenticated body, at each --connections
// count; targets are interleaved over several rounds so machine noise hits them alike. Besides
// req/s and latency it reads, from /proc, the CPU time of each of the server's threads (main, the
// SQLite commit thread, the rest), of the PostgreSQL backends serving it and of the load generator,
// and from the service (SIGUSR2) its groups' sizes and round trips. `--pin` also runs every target
// with the server on core 0 and the load on core 1. `--floor` (npm run bench:floor) runs the
// cheapest durable insert (scripts/bench/floor.ts) against the service's 100-event batches.
// Prints a table and writes bench/results/<time>.json.
import { randomBytes } from 'node:crypto';
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseDatabaseUrl } from '../src/config';
import { AuditStore } from '../src/store/auditStore';
import { openDatabase } from '../src/store/db';
import type { CommitStats } from '../src/store/eventWriter';
import { spawnServer, spawnService, type ChildService } from '../test/helpers/child';
import { createTestDatabase, type DatabaseKind } from '../test/helpers/databases';
import { mintToken } from '../test/helpers/tokens';
import { type Generator, runLoad, wrkInstalled } from './bench/load';
import { peakRssMb, postgresBackends, processCpuMs, summedCpuMs, threadCpuMs } from './bench/proc';
import { buildService, BUILT } from './build';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '50,256' },
    // Another checkout, built (`npm run build` there): its service runs beside this one, interleaved,
    // so a change is measured against what it changes in one run.
    baseline: { type: 'string' },
    // Every target twice per round: anywhere, and with the server on core 0 and the load on core 1.
    pin: { type: 'boolean', default: false },
    generator: { type: 'string', default: wrkInstalled() ? 'wrk' : 'autocannon' },
    // Only the targets whose names contain one of these (comma-separated), e.g. `koa-echo,service-sqlite`.
    targets: { type: 'string' },
    // The cheapest durable insert (bench:floor) against the service's batches, nothing else.
    floor: { type: 'boolean', default: false },
    'floor-groups': { type: 'string', default: '100,25' },
  },
});
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const CONNECTIONS = values.connections.split(',').map(Number);
const GENERATOR = values.generator as Generator;
if (GENERATOR !== 'wrk' && GENERATOR !== 'autocannon') throw new Error(`--generator wrk or autocannon`);
const BATCH_SIZE = 100;
const POSTGRES_URL = process.env.TEST_POSTGRES_URL || process.env.DATABASE_URL || '';
const SECRET = randomBytes(32).toString('hex');
const ORG = 'BENCH@AdobeOrg';
const SERVER_CORE = 0;
const LOAD_CORE = 1;

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
  /** Events per request (per group for the floor). */
  eventsPerRequest: number;
  /** A service build that logs its commit counters on SIGUSR2; the echo, the floor and older baselines do not. */
  service: boolean;
  database?: DatabaseKind;
  /** Only at the first --connections count (batches: 256 × 100 events would overrun the write queue). */
  firstConnectionsOnly?: boolean;
  /** The floor: a process that inserts for SECONDS and prints its figures, no HTTP. */
  floorGroup?: number;
  start(wrapper: string[]): Promise<ChildService>;
}

interface Sample {
  target: string;
  connections: number;
  pinned: boolean;
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
  /** By thread, per request: the event loop's, the SQLite commit thread's, the rest's (GC, libuv, V8 helpers). */
  mainUsPerRequest: number;
  writerUsPerRequest: number;
  otherUsPerRequest: number;
  /** The PostgreSQL backends serving the service's connections, per request. */
  postgresUsPerRequest: number;
  /** The commit thread's CPU per event committed. */
  writerUsPerEvent: number;
  /** The load generator's own CPU per request. */
  loadUsPerRequest: number;
  /** Server + PostgreSQL backends + load generator CPU over the run's wall time. */
  coresBusy: number;
  /** Averages per group from the service's counters (0 where there are none). */
  eventsPerGroup: number;
  roundTripMs: number;
  threadMsPerGroup: number;
  commitMsPerGroup: number;
}

const cleanups: (() => Promise<unknown>)[] = [];
const BASELINE = values.baseline && path.resolve(values.baseline, 'dist/main.js');
// A build from before the commit counters has no SIGUSR2 handler, and the signal would end it.
const COUNTED = (entry: string) => entry === BUILT.service || readFileSync(entry, 'utf8').includes('SIGUSR2');

/** A fresh database per measurement, removed at the end (tests' helper: a SQLite file or a PostgreSQL schema). */
const freshDatabase = async (kind: DatabaseKind) => {
  const database = await createTestDatabase(kind, POSTGRES_URL);
  cleanups.push(() => database.dispose());
  return database.url;
};

const serviceTarget = (name: string, database: DatabaseKind, batch = false, entry = BUILT.service): Target => ({
  name,
  path: batch ? '/audits/batch' : '/audits',
  body: JSON.stringify(batch ? Array(BATCH_SIZE).fill(event) : event),
  eventsPerRequest: batch ? BATCH_SIZE : 1,
  service: COUNTED(entry),
  database,
  firstConnectionsOnly: batch,
  start: async (wrapper) =>
    spawnService(await freshDatabase(database), { env: { AUTH_JWT_SECRET: SECRET }, entry, wrapper }),
});

// The receiver of the subscribed targets' webhooks: answers 200 to everything, in this process.
const receiver = createServer((request, response) => {
  request.resume();
  request.on('end', () => response.end());
});
await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
cleanups.push(() => new Promise((resolve) => receiver.close(resolve)));
const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;

/** `serviceTarget` with one active webhook subscription on the tenant being written (#15: within 10%). */
const subscribedTarget = (name: string, database: DatabaseKind): Target => ({
  ...serviceTarget(name, database),
  start: async (wrapper) => {
    const server = await spawnService(await freshDatabase(database), {
      env: { AUTH_JWT_SECRET: SECRET, WEBHOOK_ALLOWED_HOSTS: '127.0.0.1' },
      entry: BUILT.service,
      wrapper,
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

const floorTarget = (group: number): Target => ({
  name: `floor${group}-sqlite`,
  path: '',
  body: '',
  eventsPerRequest: group,
  service: false,
  database: 'sqlite',
  firstConnectionsOnly: true,
  floorGroup: group,
  start: () => {
    throw new Error('the floor is run, not started');
  },
});

const echo: Target = {
  name: 'koa-echo',
  path: '/audits',
  body: JSON.stringify(event),
  eventsPerRequest: 1,
  service: false,
  start: (wrapper) => spawnServer('dist/koaEcho.js', { wrapper }),
};

const allTargets: Target[] = values.floor
  ? [
      ...values['floor-groups'].split(',').map((n) => floorTarget(Number(n))),
      serviceTarget('batch100-sqlite', 'sqlite', true),
      ...(BASELINE ? [serviceTarget('baseline-batch100-sqlite', 'sqlite', true, BASELINE)] : []),
    ]
  : [
      echo,
      serviceTarget('service-sqlite', 'sqlite'),
      subscribedTarget('subscribed-sqlite', 'sqlite'),
      ...(POSTGRES_URL
        ? [serviceTarget('service-postgres', 'postgres'), subscribedTarget('subscribed-postgres', 'postgres')]
        : []),
      serviceTarget('batch100-sqlite', 'sqlite', true),
      ...(BASELINE
        ? [
            serviceTarget('baseline-sqlite', 'sqlite', false, BASELINE),
            ...(POSTGRES_URL ? [serviceTarget('baseline-postgres', 'postgres', false, BASELINE)] : []),
            serviceTarget('baseline-batch100-sqlite', 'sqlite', true, BASELINE),
          ]
        : []),
    ];
const wanted = values.targets?.split(',');
// The echo always runs (every ratio is to it), except in the floor's own run.
const targets = allTargets.filter(
  (t) => !wanted || t === echo || wanted.some((w) => t.name === w || t.name.includes(w)),
);

/** Asks the service for its commit counters since the last ask (main.ts: SIGUSR2) and waits for the line. */
async function commitStats(server: ChildService): Promise<CommitStats> {
  // The newest stats line: the output kept is trimmed as request lines pour in, so lines are not counted.
  const newest = () => {
    const output = server.output();
    const at = output.lastIndexOf('"msg":"commit stats"');
    const end = output.indexOf('\n', at);
    return at < 0 || end < 0 ? undefined : output.slice(output.lastIndexOf('\n', at) + 1, end);
  };
  const before = newest();
  process.kill(server.pid, 'SIGUSR2');
  for (let waited = 0; waited < 5000; waited += 20) {
    const line = newest();
    if (line && line !== before) return (JSON.parse(line) as { commitStats: CommitStats }).commitStats;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('the service did not log its commit stats');
}

async function runFloor(target: Target, round: number, pinned: boolean): Promise<Sample> {
  const url = await freshDatabase('sqlite');
  const store = new AuditStore(openDatabase(parseDatabaseUrl(url)));
  await store.migrate();
  await store.close();
  const filename = parseDatabaseUrl(url);
  if (filename.client !== 'sqlite') throw new Error('the floor runs on SQLite');
  const command = [
    ...(pinned ? ['taskset', '-c', String(SERVER_CORE)] : []),
    process.execPath,
    'dist/benchFloor.js',
    filename.filename,
    String(target.floorGroup),
    String(SECONDS),
  ];
  const output = await new Promise<string>((resolve, reject) =>
    execFile(command[0], command.slice(1), (error, stdout, stderr) =>
      error ? reject(new Error(`the floor failed: ${stderr}`)) : resolve(stdout),
    ),
  );
  const result = JSON.parse(output) as { events: number; groups: number; ms: number; commitMs: number; cpuMs: number };
  const eventsPerSecond = (result.events * 1000) / result.ms;
  return {
    ...emptySample(target, target.floorGroup!, pinned, round),
    requestsPerSecond: eventsPerSecond / target.eventsPerRequest,
    eventsPerSecond,
    cpuUsPerRequest: (result.cpuMs * 1000) / result.groups,
    mainUsPerRequest: (result.cpuMs * 1000) / result.groups,
    writerUsPerEvent: (result.cpuMs * 1000) / result.events,
    coresBusy: result.cpuMs / result.ms,
    eventsPerGroup: target.floorGroup!,
    roundTripMs: result.ms / result.groups,
    threadMsPerGroup: (result.ms - result.commitMs) / result.groups,
    commitMsPerGroup: result.commitMs / result.groups,
  };
}

const emptySample = (target: Target, connections: number, pinned: boolean, round: number): Sample => ({
  target: target.name,
  connections,
  pinned,
  round,
  requestsPerSecond: 0,
  eventsPerSecond: 0,
  p50Ms: 0,
  p99Ms: 0,
  non2xx: 0,
  errors: 0,
  peakRssMb: 0,
  cpuUsPerRequest: 0,
  mainUsPerRequest: 0,
  writerUsPerRequest: 0,
  otherUsPerRequest: 0,
  postgresUsPerRequest: 0,
  writerUsPerEvent: 0,
  loadUsPerRequest: 0,
  coresBusy: 0,
  eventsPerGroup: 0,
  roundTripMs: 0,
  threadMsPerGroup: 0,
  commitMsPerGroup: 0,
});

async function measure(
  target: Target,
  connections: number,
  pinned: boolean,
  round: number,
  headers: Record<string, string>,
): Promise<Sample> {
  if (target.floorGroup) return runFloor(target, round, pinned);
  const server = await target.start(pinned ? ['taskset', '-c', String(SERVER_CORE)] : []);
  try {
    const load = {
      url: server.url + target.path,
      headers,
      body: target.body,
      connections,
      core: pinned ? LOAD_CORE : undefined,
    };
    // A short warm-up so JIT compilation and first connections do not count.
    await runLoad(GENERATOR, { ...load, seconds: 1 });
    if (target.service) await commitStats(server);
    const backends = target.database === 'postgres' ? await postgresBackends(server.pid, POSTGRES_URL) : [];
    const threadsBefore = threadCpuMs(server.pid);
    const cpuBefore = processCpuMs(server.pid);
    const postgresBefore = summedCpuMs(backends);
    const started = performance.now();
    const result = await runLoad(GENERATOR, { ...load, seconds: SECONDS });
    const wallMs = performance.now() - started;
    const cpuMs = processCpuMs(server.pid) - cpuBefore;
    const threadsAfter = threadCpuMs(server.pid);
    const postgresMs = summedCpuMs(backends) - postgresBefore;
    const stats = target.service ? await commitStats(server) : undefined;
    const used = (tid: number) => (threadsAfter.get(tid) ?? 0) - (threadsBefore.get(tid) ?? 0);
    const mainMs = used(server.pid);
    const writerMs = stats?.writerTid ? used(stats.writerTid) : 0;
    const perRequest = (ms: number) => (ms * 1000) / result.requests;
    const groups = stats?.groups || 1;
    return {
      ...emptySample(target, connections, pinned, round),
      requestsPerSecond: result.requestsPerSecond,
      eventsPerSecond: result.requestsPerSecond * target.eventsPerRequest,
      p50Ms: result.p50Ms,
      p99Ms: result.p99Ms,
      non2xx: result.non2xx,
      errors: result.errors,
      peakRssMb: peakRssMb(server.pid),
      cpuUsPerRequest: perRequest(cpuMs),
      mainUsPerRequest: perRequest(mainMs),
      writerUsPerRequest: perRequest(writerMs),
      otherUsPerRequest: perRequest(cpuMs - mainMs - writerMs),
      postgresUsPerRequest: perRequest(postgresMs),
      writerUsPerEvent: stats?.events ? (writerMs * 1000) / stats.events : 0,
      loadUsPerRequest: perRequest(result.cpuMs),
      coresBusy: (cpuMs + postgresMs + result.cpuMs) / wallMs,
      eventsPerGroup: stats ? stats.events / groups : 0,
      roundTripMs: stats ? stats.roundTripMs / groups : 0,
      threadMsPerGroup: stats ? stats.threadMs / groups : 0,
      commitMsPerGroup: stats ? stats.commitMs / groups : 0,
    };
  } finally {
    await server.kill('SIGTERM');
  }
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: number[]) => sorted(xs)[Math.floor(xs.length / 2)];
/** "median (min–max)" over rounds. */
const spread = (xs: number[], digits = 0) => {
  const s = sorted(xs);
  const f = (x: number) => x.toFixed(digits);
  return s.length > 1 ? `${f(median(s))} (${f(s[0])}–${f(s.at(-1)!)})` : f(s[0]);
};

try {
  // Both servers run built, as `npm start` runs the service.
  await buildService({ koaEcho: 'scripts/bench/koaEcho.ts', benchFloor: 'scripts/bench/floor.ts' });
  if (values.pin && GENERATOR === 'autocannon') {
    // autocannon runs in this process: all its threads go to the load's core.
    execFileSync('taskset', ['-a', '-p', '-c', String(LOAD_CORE), String(process.pid)], { stdio: 'ignore' });
  }
  const token = await mintToken({
    clientId: 'bench',
    orgs: [ORG],
    scope: 'audit.write',
    expiresIn: 3600,
    secret: SECRET,
  });
  const headers = { 'content-type': 'application/json', 'x-api-key': 'bench', authorization: `Bearer ${token}` };
  console.log(
    `load generator: ${GENERATOR}${GENERATOR === 'wrk' ? ' (installed)' : wrkInstalled() ? ' (--generator; wrk is installed)' : ' (wrk is not installed)'}; ` +
      `${ROUNDS} rounds of ${SECONDS} s at ${CONNECTIONS.join(' and ')} connections${values.pin ? ', unpinned and pinned' : ''}`,
  );
  const samples: Sample[] = [];
  const pins = values.pin ? [false, true] : [false];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const connections of CONNECTIONS) {
      for (const target of targets) {
        if (target.firstConnectionsOnly && connections !== CONNECTIONS[0]) continue;
        for (const pinned of pins) {
          const sample = await measure(target, connections, pinned, round, headers);
          samples.push(sample);
          console.log(
            `round ${round} c${connections}${pinned ? ' pinned' : ''} ${target.name.padEnd(24)} ` +
              `${sample.requestsPerSecond.toFixed(0).padStart(6)} req/s ${sample.eventsPerSecond.toFixed(0).padStart(7)} events/s ` +
              `p99 ${sample.p99Ms.toFixed(1)} ms  non-2xx ${sample.non2xx + sample.errors}  ` +
              `CPU ${sample.cpuUsPerRequest.toFixed(0)} µs/req (main ${sample.mainUsPerRequest.toFixed(0)}, writer ` +
              `${sample.writerUsPerRequest.toFixed(0)}, other ${sample.otherUsPerRequest.toFixed(0)}, pg ` +
              `${sample.postgresUsPerRequest.toFixed(0)}; load ${sample.loadUsPerRequest.toFixed(0)})  ` +
              `cores ${sample.coresBusy.toFixed(2)}  group ${sample.eventsPerGroup.toFixed(1)}  round trip ` +
              `${sample.roundTripMs.toFixed(2)} ms (thread ${sample.threadMsPerGroup.toFixed(2)}, COMMIT ${sample.commitMsPerGroup.toFixed(2)})`,
          );
        }
      }
    }
  }
  // Ratios per round (same machine state), then the median and range over rounds.
  const matching = (name: string, s: Sample) =>
    samples.find(
      (o) => o.target === name && o.round === s.round && o.connections === s.connections && o.pinned === s.pinned,
    );
  const variants = [...new Set(samples.map((s) => `${s.target}|${s.connections}|${s.pinned}`))];
  const summary = variants.map((variant) => {
    const [target, connections, pinned] = variant.split('|');
    const mine = samples.filter((s) => `${s.target}|${s.connections}|${s.pinned}` === variant);
    const toEcho = mine.flatMap((s) => {
      const e = matching('koa-echo', s);
      return e
        ? [{ rps: s.requestsPerSecond / e.requestsPerSecond, main: s.mainUsPerRequest / e.mainUsPerRequest }]
        : [];
    });
    const toFloor = mine.flatMap((s) => {
      const f = samples.find((o) => o.target === 'floor100-sqlite' && o.round === s.round && o.pinned === s.pinned);
      return f && s.target.includes('batch100') ? [s.eventsPerSecond / f.eventsPerSecond] : [];
    });
    const column = (key: keyof Sample) => mine.map((s) => s[key] as number);
    return {
      target,
      connections: Number(connections),
      pinned: pinned === 'true',
      requestsPerSecond: spread(column('requestsPerSecond')),
      eventsPerSecond: spread(column('eventsPerSecond')),
      p50Ms: spread(column('p50Ms'), 1),
      p99Ms: spread(column('p99Ms'), 1),
      failed: mine.reduce((n, s) => n + s.non2xx + s.errors, 0),
      peakRssMb: Math.round(Math.max(...column('peakRssMb'))),
      cpuUsPerRequest: spread(column('cpuUsPerRequest')),
      mainUsPerRequest: spread(column('mainUsPerRequest')),
      writerUsPerRequest: spread(column('writerUsPerRequest')),
      otherUsPerRequest: spread(column('otherUsPerRequest')),
      postgresUsPerRequest: spread(column('postgresUsPerRequest')),
      writerUsPerEvent: spread(column('writerUsPerEvent'), 1),
      loadUsPerRequest: spread(column('loadUsPerRequest')),
      coresBusy: spread(column('coresBusy'), 2),
      eventsPerGroup: spread(column('eventsPerGroup'), 1),
      roundTripMs: spread(column('roundTripMs'), 2),
      threadMsPerGroup: spread(column('threadMsPerGroup'), 2),
      commitMsPerGroup: spread(column('commitMsPerGroup'), 2),
      ratioToEcho: toEcho.length
        ? spread(
            toEcho.map((r) => r.rps),
            2,
          )
        : '',
      mainRatioToEcho: toEcho.length
        ? spread(
            toEcho.map((r) => r.main),
            2,
          )
        : '',
      ratioToFloor: toFloor.length ? spread(toFloor, 2) : '',
    };
  });
  console.log(
    `\nmedian (min–max) over rounds; ratios per round against koa-echo / floor100 in the same round (${GENERATOR}):`,
  );
  const head = (text: string) => text.split(' ')[0];
  console.table(
    summary.map((s) => ({
      target: s.target,
      conn: s.connections + (s.pinned ? ' pin' : ''),
      'req/s': s.requestsPerSecond,
      'events/s': s.target.includes('batch') || s.target.includes('floor') ? s.eventsPerSecond : '',
      'p99 ms': s.p99Ms,
      'main µs': s.mainUsPerRequest,
      'writer µs/ev': s.writerUsPerEvent,
      'other µs': head(s.otherUsPerRequest),
      'pg µs': head(s.postgresUsPerRequest),
      'load µs': head(s.loadUsPerRequest),
      cores: head(s.coresBusy),
      group: head(s.eventsPerGroup),
      'trip ms (thread/COMMIT)': s.eventsPerGroup.startsWith('0.0')
        ? ''
        : `${head(s.roundTripMs)} (${head(s.threadMsPerGroup)}/${head(s.commitMsPerGroup)})`,
      // A batch is 100 events a request: its measure is the floor's insert rate, not the echo's.
      ratio: s.ratioToFloor ? `floor ${s.ratioToFloor}` : s.target.includes('batch') ? '' : s.ratioToEcho,
      'main/echo': s.target.includes('batch') ? '' : s.mainRatioToEcho,
    })),
  );
  // Ingest with one active webhook subscription against the same run without one, per round.
  for (const database of ['sqlite', 'postgres']) {
    const subscribed = samples.filter((s) => s.target === `subscribed-${database}`);
    const ratios = subscribed.flatMap((s) => {
      const plain = matching(`service-${database}`, s);
      return plain ? [s.requestsPerSecond / plain.requestsPerSecond] : [];
    });
    if (ratios.length)
      console.log(
        `${database}: ingest with one active subscription = ${spread(ratios.map((r) => r * 100))}% of without`,
      );
  }
  mkdirSync('bench/results', { recursive: true });
  const file = path.join('bench/results', `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        command: process.argv.slice(2).join(' '),
        generator: GENERATOR,
        seconds: SECONDS,
        rounds: ROUNDS,
        connections: CONNECTIONS,
        pin: values.pin,
        summary,
        samples,
      },
      null,
      2,
    ),
  );
  console.log(`results written to ${file}`);
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
}
