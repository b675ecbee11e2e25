import type { WriteOutcome, WriteRequest } from '../domain/linking';

/**
 * Commits a group of write requests in one transaction (group commit: one fsync for many
 * requests), resolving only after the commit, with one outcome per request in input order.
 * The linking and idempotency rules are the domain's (linking.ts); an implementation runs
 * them between its database's reads and writes. One per database: sqliteCommitter.ts,
 * postgresCommitter.ts. Throws if the group cannot be committed as a whole (a fault of the
 * database: StoreUnavailableError; otherwise the driver's error, and the queue retries the
 * requests one by one).
 */
export interface Committer {
  commit(requests: WriteRequest[]): Promise<WriteOutcome[]>;
  /** Ends what the committer started (a thread); the caller closes the database. */
  close(): Promise<void>;
}
