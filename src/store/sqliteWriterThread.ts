// The SQLite commit thread that SqliteWriter starts: one connection, one commit at a time.
import { parentPort, workerData } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { inSqliteTransaction } from './commitSql';
import { commitGroup, type WriteOutcome, type WriteRequest } from './groupCommit';
import { openSqlite, type SqliteFile } from './sqliteConnection';

export type WriterSettings = SqliteFile & { idempotencyTtlMs: number };

export interface CommitReply {
  id: number;
  outcomes?: WriteOutcome[];
  /** What the commit threw, with the code that tells a fault of the database from a bad request. */
  error?: { name: string; message: string; code?: string };
}

const settings = workerData as WriterSettings;

/** The thread's connection; failing to open it is a fault of the environment, whatever better-sqlite3 calls it. */
function open(): Database.Database {
  try {
    return openSqlite(settings);
  } catch (error) {
    throw Object.assign(error as Error, { code: (error as { code?: string }).code ?? 'SQLITE_CANTOPEN' });
  }
}
let connection: Database.Database | undefined;
// Messages are handled strictly in turn: two commits must never share a transaction.
let turn = Promise.resolve();

parentPort!.on('message', (message: { id: number; requests: WriteRequest[] } | 'close') => {
  turn = turn.then(async () => {
    if (message === 'close') {
      connection?.close();
      parentPort!.close();
      return;
    }
    let reply: CommitReply;
    try {
      connection ??= open();
      const outcomes = await inSqliteTransaction(connection, (sql) =>
        commitGroup(sql, message.requests, settings.idempotencyTtlMs),
      );
      reply = { id: message.id, outcomes };
    } catch (caught) {
      const { name, message: text, code } = caught as Error & { code?: unknown };
      reply = { id: message.id, error: { name, message: text, code: typeof code === 'string' ? code : undefined } };
      // A failed COMMIT (busy, disk full, I/O error) can leave the transaction open: the next
      // commit starts on a fresh connection.
      if (connection?.inTransaction) {
        connection.close();
        connection = undefined;
      }
    }
    parentPort!.postMessage(reply);
  });
});
