// The SQLite commit thread that SqliteCommitter starts: one connection, one commit at a time.
import { readlinkSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import {
  claimedDigests,
  EMPTY_HEAD,
  linkGroup,
  type LogHead,
  planGroup,
  type WriteOutcome,
  type WriteRequest,
} from '../domain/linking';
import {
  EVENT_COLUMNS,
  eventValues,
  fromHeadRow,
  fromKeyRow,
  type HeadRow,
  KEY_COLUMNS,
  keyValues,
  type KeyRow,
  NODE_COLUMNS,
  nodeValues,
  toHeadRow,
  toKeyRow,
  toNodeRow,
  toRow,
} from './rows';
import { openSqlite, type SqliteFile } from './sqliteConnection';

export type CommitThreadSettings = SqliteFile & { idempotencyTtlMs: number };

export interface CommitReply {
  id: number;
  outcomes?: WriteOutcome[];
  /** The thread's time in the group, and in its COMMIT (the fsync), in ms (CommitStats). */
  threadMs?: number;
  commitMs?: number;
  /** The thread's Linux thread id, so a benchmark can read its CPU time from /proc (CommitStats). */
  tid?: number;
  /** What the commit threw, with the code that tells a fault of the database from a bad request. */
  error?: { name: string; message: string; code?: string };
}

const settings = workerData as CommitThreadSettings;

const TID = ((): number | undefined => {
  try {
    return Number(readlinkSync('/proc/thread-self').split('/').pop());
  } catch {
    return undefined; // not Linux
  }
})();

/** The statements of a commit, prepared once for the thread's connection. */
function prepare(connection: Database.Database) {
  return {
    // IMMEDIATE takes the write lock up front: no other process can slip in between our reads and writes.
    begin: connection.prepare('BEGIN IMMEDIATE'),
    commit: connection.prepare('COMMIT'),
    rollback: connection.prepare('ROLLBACK'),
    deleteExpiredKey: connection.prepare('DELETE FROM idempotency_keys WHERE key_digest = ? AND expires_at <= ?'),
    selectKey: connection.prepare<[string], KeyRow>('SELECT * FROM idempotency_keys WHERE key_digest = ?'),
    selectHead: connection.prepare<[string], HeadRow>(
      'SELECT seq, root_hash, frontier FROM audit_log_heads WHERE ims_org_id = ?',
    ),
    upsertHead: connection.prepare(
      `INSERT INTO audit_log_heads (ims_org_id, seq, root_hash, frontier) VALUES (?, ?, ?, ?)
       ON CONFLICT (ims_org_id) DO UPDATE SET seq = excluded.seq, root_hash = excluded.root_hash, frontier = excluded.frontier`,
    ),
    insertEvents: multiRowInsert(connection, 'audit_events', EVENT_COLUMNS),
    insertNode: connection.prepare(
      `INSERT INTO audit_tree_nodes (${NODE_COLUMNS.join(', ')}) VALUES (${NODE_COLUMNS.map(() => '?').join(', ')})`,
    ),
    insertKey: connection.prepare(
      `INSERT INTO idempotency_keys (${KEY_COLUMNS.join(', ')}) VALUES (${KEY_COLUMNS.map(() => '?').join(', ')})`,
    ),
  };
}

type Statements = ReturnType<typeof prepare>;

// Rows per INSERT statement: one statement per 64 rows rather than one per row measured 87 → 60 µs
// of the thread's time per event outside COMMIT. 64 × 13 columns stays far below SQLite's 32,766 parameters.
const ROWS_PER_INSERT = 64;

/**
 * Inserts rows into `table`, ROWS_PER_INSERT per statement (positional parameters: binding by
 * name measured about 10% slower per event). A statement is prepared once per row count.
 */
function multiRowInsert(connection: Database.Database, table: string, columns: readonly string[]) {
  const statements = new Map<number, Database.Statement>();
  const row = `(${columns.map(() => '?').join(', ')})`;
  const statement = (rows: number) => {
    let prepared = statements.get(rows);
    if (!prepared) {
      prepared = connection.prepare(
        `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${Array(rows).fill(row).join(', ')}`,
      );
      statements.set(rows, prepared);
    }
    return prepared;
  };
  return (rows: readonly unknown[][]): void => {
    for (let at = 0; at < rows.length; at += ROWS_PER_INSERT) {
      const chunk = rows.slice(at, at + ROWS_PER_INSERT);
      statement(chunk.length).run(chunk.flat());
    }
  };
}

/** One group commit in one transaction. Synchronous: nothing else runs on the connection meanwhile. */
function commitGroup(s: Statements, requests: WriteRequest[], timing: { commitMs: number }): WriteOutcome[] {
  s.begin.run();
  try {
    const now = Date.now();
    const live = claimedDigests(requests).flatMap((digest) => {
      s.deleteExpiredKey.run(digest, now);
      return s.selectKey.all(digest).map(fromKeyRow);
    });
    const plan = planGroup(requests, live);
    const heads = new Map(
      plan.orgs.map((org): [string, LogHead] => {
        const row = s.selectHead.get(org);
        return [org, row ? fromHeadRow(row) : EMPTY_HEAD];
      }),
    );
    const linked = linkGroup(requests, plan, heads, now, settings.idempotencyTtlMs);
    s.insertEvents(linked.events.map((event) => eventValues(toRow(event))));
    for (const node of linked.nodes) s.insertNode.run(nodeValues(toNodeRow(node)));
    for (const key of linked.keys) s.insertKey.run(keyValues(toKeyRow(key)));
    for (const [org, head] of linked.heads) {
      const row = toHeadRow(org, head);
      s.upsertHead.run(row.ims_org_id, row.seq, row.root_hash, row.frontier);
    }
    const committing = performance.now();
    s.commit.run();
    timing.commitMs = performance.now() - committing;
    return linked.outcomes;
  } catch (error) {
    if (s.begin.database.inTransaction) s.rollback.run();
    throw error;
  }
}

/** The thread's connection; failing to open it is a fault of the environment, whatever better-sqlite3 calls it. */
function open(): { connection: Database.Database; statements: Statements } {
  try {
    const connection = openSqlite(settings);
    return { connection, statements: prepare(connection) };
  } catch (error) {
    throw Object.assign(error as Error, { code: (error as { code?: string }).code ?? 'SQLITE_CANTOPEN' });
  }
}
let opened: ReturnType<typeof open> | undefined;

// Messages are handled strictly in turn (each commit is synchronous): two commits never share a transaction.
parentPort!.on('message', (message: { id: number; requests: WriteRequest[] } | 'close') => {
  if (message === 'close') {
    opened?.connection.close();
    parentPort!.close();
    return;
  }
  let reply: CommitReply;
  const started = performance.now();
  try {
    opened ??= open();
    const timing = { commitMs: 0 };
    const outcomes = commitGroup(opened.statements, message.requests, timing);
    reply = { id: message.id, outcomes, threadMs: performance.now() - started, commitMs: timing.commitMs, tid: TID };
  } catch (caught) {
    const { name, message: text, code } = caught as Error & { code?: unknown };
    reply = { id: message.id, error: { name, message: text, code: typeof code === 'string' ? code : undefined } };
    // A failed COMMIT (busy, disk full, I/O error) can leave the transaction open: the next
    // commit starts on a fresh connection.
    if (opened?.connection.inTransaction) {
      opened.connection.close();
      opened = undefined;
    }
  }
  parentPort!.postMessage(reply);
});
