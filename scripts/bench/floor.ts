// The floor for `npm run bench:floor`: the cheapest durable insert of audit events, straight
// through better-sqlite3 on one connection, into a database the service migrated (the same table,
// indexes and triggers), `synchronous=FULL`, in groups of a given size, one transaction each.
// Nothing but the insert: rows are plain arrays, ids and seqs from a counter. Run as
// `node dist/benchFloor.js FILE GROUP_SIZE SECONDS`; prints one JSON line with its figures.
import Database from 'better-sqlite3';
import { EVENT_COLUMNS } from '../../src/store/rows';
import { configureSqlite } from '../../src/store/sqliteConnection';

const [filename, groupArg, secondsArg] = process.argv.slice(2);
const GROUP = Number(groupArg);
const SECONDS = Number(secondsArg);
const ORG = 'BENCH@AdobeOrg';

const connection = new Database(filename, { fileMustExist: true });
configureSqlite(connection, 5000);
const insert = connection.prepare(
  `INSERT INTO audit_events (${EVENT_COLUMNS.join(', ')}) VALUES (${EVENT_COLUMNS.map(() => '?').join(', ')})`,
);
const begin = connection.prepare('BEGIN IMMEDIATE');
const commit = connection.prepare('COMMIT');

// Values the size of the service's: a UUIDv7-shaped id, two tags and three salts, a base64 hash.
const salt = 'x'.repeat(43);
const salts = JSON.stringify({ userIdentifier: salt, tags: { env: salt, region: salt } });
const tags = JSON.stringify({ env: 'bench', region: 'eu-west-1' });
const leafHash = 'y'.repeat(43) + '=';
const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');
let seq = 0;
const rowAt = (n: number): unknown[] => {
  const id = `0193${hex(Math.floor(n / 1e8), 4)}-0000-7000-8000-${hex(n % 1e8, 12)}`;
  const now = 1_796_000_000_000 + n;
  // EVENT_COLUMNS' order: id, ims_org_id, seq, action, source, service_id, resource_id,
  // user_identifier, occurred_at, received_at, tags, salts, leaf_hash.
  return [
    id,
    ORG,
    n,
    'update',
    'marketingcloud',
    'SKMS-1234',
    'stream/42',
    'jane.doe@example.com',
    now,
    now,
    tags,
    salts,
    leafHash,
  ];
};
const nextGroup = () => Array.from({ length: GROUP }, () => rowAt(++seq));

const cpuBefore = process.cpuUsage();
let commitMs = 0;
let groups = 0;
let rows = nextGroup();
const started = performance.now();
const deadline = started + SECONDS * 1000;
while (performance.now() < deadline) {
  begin.run();
  for (const row of rows) insert.run(row);
  const committing = performance.now();
  commit.run();
  commitMs += performance.now() - committing;
  groups += 1;
  rows = nextGroup();
}
const ms = performance.now() - started;
const cpu = process.cpuUsage(cpuBefore);
connection.close();
console.log(JSON.stringify({ events: groups * GROUP, groups, ms, commitMs, cpuMs: (cpu.user + cpu.system) / 1000 }));
