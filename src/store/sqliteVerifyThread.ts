// A SQLite verify thread that SqliteVerifiers starts: it reads a stretch of a tenant's events
// on a read-only connection of its own and checks each row as the main thread's walk would
// (eventCheck.ts). Reading rows and recomputing their leaf hashes is most of a verification's
// cost; threads do it side by side while the main thread grows the tree.
import { parentPort, workerData } from 'node:worker_threads';
import { HASH_SIZE } from '../domain/merkle';
import { checkRow } from './eventCheck';
import { type EventRow, READ_COLUMNS } from './rows';
import { openSqliteReader, type SqliteFile } from './sqliteConnection';

export interface StretchRequest {
  id: number;
  imsOrgId: string;
  from: number;
  to: number;
}

export interface StretchReply {
  id: number;
  /** The leaf hashes of events from..to, when every one of them is in place and checks out. */
  leaves?: Uint8Array;
  /** How many of them erasure took personal data from. */
  erasedEvents: number;
}

const connection = openSqliteReader(workerData as SqliteFile);
const select = connection.prepare<[string, number, number], EventRow>(
  `SELECT ${READ_COLUMNS.join(', ')} FROM audit_events WHERE ims_org_id = ? AND seq >= ? AND seq <= ? ORDER BY seq`,
);

function check({ imsOrgId, from, to }: StretchRequest): Omit<StretchReply, 'id'> {
  const rows = select.all(imsOrgId, from, to);
  if (rows.length !== to - from + 1) return { erasedEvents: 0 };
  const leaves = new Uint8Array(rows.length * HASH_SIZE);
  let erasedEvents = 0;
  for (let i = 0; i < rows.length; i++) {
    const verdict = checkRow(rows[i], from + i, false);
    if (!('leaf' in verdict)) return { erasedEvents: 0 };
    leaves.set(verdict.leaf, i * HASH_SIZE);
    if (verdict.erased) erasedEvents += 1;
  }
  return { leaves, erasedEvents };
}

parentPort!.on('message', (message: StretchRequest | 'close') => {
  if (message === 'close') {
    connection.close();
    parentPort!.close();
    return;
  }
  let checked: Omit<StretchReply, 'id'>;
  try {
    checked = check(message);
  } catch {
    // A fault of the database: the main thread walks this stretch itself and meets it there.
    checked = { erasedEvents: 0 };
  }
  const reply: StretchReply = { id: message.id, ...checked };
  parentPort!.postMessage(reply, reply.leaves ? [reply.leaves.buffer as ArrayBuffer] : []);
});
