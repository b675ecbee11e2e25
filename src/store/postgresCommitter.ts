import type pg from 'pg';
import {
  claimedDigests,
  EMPTY_HEAD,
  type LogHead,
  type LinkedGroup,
  linkGroup,
  planGroup,
  type WriteOutcome,
  type WriteRequest,
} from '../domain/linking';
import type { Committer } from './committer';
import { isUnavailable } from './errors';
import {
  EVENT_COLUMN_TYPES,
  EVENT_COLUMNS,
  fromHeadRow,
  fromKeyRow,
  type HeadRow,
  KEY_COLUMN_TYPES,
  KEY_COLUMNS,
  type KeyRow,
  NODE_COLUMN_TYPES,
  NODE_COLUMNS,
  toHeadRow,
  toKeyRow,
  toNodeRow,
  toRow,
} from './rows';

/** `unnest($first::type[], …)`: rows from whole columns, one parameter per column. */
const unnest = (types: Record<string, string>, first: number) =>
  `unnest(${Object.values(types)
    .map((type, i) => `$${first + i}::${type}[]`)
    .join(', ')})`;
// The parameters: the event columns, the node columns, the key columns, then the moved heads (writeValues).
const NODES_FROM = 1 + EVENT_COLUMNS.length;
const KEYS_FROM = NODES_FROM + NODE_COLUMNS.length;
const HEADS_FROM = KEYS_FROM + KEY_COLUMNS.length;
const h = (offset: number) => `$${HEADS_FROM + offset}`;
const insertEvents = (where = '') =>
  `INSERT INTO audit_events (${EVENT_COLUMNS.join(', ')}) SELECT * FROM ${unnest(EVENT_COLUMN_TYPES, 1)} ${where}`;
const insertNodes = (where = '') =>
  `INSERT INTO audit_tree_nodes (${NODE_COLUMNS.join(', ')}) SELECT * FROM ${unnest(NODE_COLUMN_TYPES, NODES_FROM)} ${where}`;
const insertKeys = (where = '') =>
  `INSERT INTO idempotency_keys (${KEY_COLUMNS.join(', ')}) SELECT * FROM ${unnest(KEY_COLUMN_TYPES, KEYS_FROM)} ${where}`;
// The moved heads: org, size, root, frontier.
const NEW_HEADS = `unnest(${h(0)}::text[], ${h(1)}::bigint[], ${h(2)}::text[], ${h(3)}::text[]) AS new(org, seq, root_hash, frontier)`;

/**
 * Each statement takes whole columns as arrays (unnest), so its text is the same for any
 * group size and is prepared once per connection (named statements). Prepared statements
 * through the driver rather than knex building each one: that cost more than the commit.
 */
const STATEMENTS = {
  // Expired keys are deleted so they can be claimed again; the SELECT sees the rows as they
  // were before the DELETE, hence its own expiry condition. One round trip.
  liveKeys: `WITH expired AS (DELETE FROM idempotency_keys WHERE key_digest = ANY($1::text[]) AND expires_at <= $2)
    SELECT * FROM idempotency_keys WHERE key_digest = ANY($1::text[]) AND expires_at > $2`,
  // Creates missing heads and locks every one (DO UPDATE locks the row) in one round trip;
  // the orgs arrive sorted, so two writers never wait on each other in a cycle.
  lockHeads: `INSERT INTO audit_log_heads (ims_org_id, seq, root_hash, frontier)
    SELECT org, 0, $2, '' FROM unnest($1::text[]) AS org
    ON CONFLICT (ims_org_id) DO UPDATE SET seq = audit_log_heads.seq RETURNING ims_org_id, seq, root_hash, frontier`,
  // All the writes in one statement: one round trip while the heads are locked.
  write: `WITH events AS (${insertEvents()}), nodes AS (${insertNodes()}), keys AS (${insertKeys()})
    UPDATE audit_log_heads AS head SET seq = new.seq, root_hash = new.root_hash, frontier = new.frontier
    FROM ${NEW_HEADS} WHERE head.ims_org_id = new.org`,
  // write's parameters, then each org's expected head (size, root: the root commits to the
  // frontier too). The heads are locked first (sorted, as lockHeads does); only if every one is
  // still as expected is anything written. The CTEs that write read `unchanged`, so they run
  // after the lock and the check.
  writeIfHeads: `WITH expected AS (
      SELECT new.*, old.* FROM ${NEW_HEADS}
        JOIN unnest(${h(0)}::text[], ${h(4)}::bigint[], ${h(5)}::text[]) AS old(old_org, old_seq, old_root) ON old.old_org = new.org
    ), locked AS (
      SELECT ims_org_id, seq, root_hash FROM audit_log_heads WHERE ims_org_id = ANY(${h(0)}::text[])
      ORDER BY ims_org_id FOR UPDATE
    ), unchanged AS (
      SELECT count(*) = cardinality(${h(0)}::text[]) AS unchanged FROM locked JOIN expected
        ON locked.ims_org_id = expected.org AND locked.seq = expected.old_seq AND locked.root_hash = expected.old_root
    ), events AS (${insertEvents('WHERE (SELECT unchanged FROM unchanged)')}
    ), nodes AS (${insertNodes('WHERE (SELECT unchanged FROM unchanged)')}
    ), keys AS (${insertKeys('WHERE (SELECT unchanged FROM unchanged)')}
    ), moved AS (
      UPDATE audit_log_heads AS head SET seq = expected.seq, root_hash = expected.root_hash, frontier = expected.frontier
      FROM expected WHERE head.ims_org_id = expected.org AND (SELECT unchanged FROM unchanged)
    )
    SELECT unchanged FROM unchanged`,
};

/**
 * The chain heads this instance wrote last, by org: a group whose heads are all known here
 * is committed in one round trip. Only a guess: the statement checks it under lock, so
 * another instance moving a head costs a second attempt, never a fork.
 */
export class LogHeadCache {
  private readonly heads = new Map<string, LogHead>();

  constructor(private readonly maxOrgs = 10_000) {}

  /** The heads of all the orgs, or undefined if any is unknown. */
  lookup(orgs: string[]): Map<string, LogHead> | undefined {
    const found = new Map<string, LogHead>();
    for (const org of orgs) {
      const head = this.heads.get(org);
      if (!head) return undefined;
      found.set(org, head);
    }
    return found;
  }

  remember(heads: ReadonlyMap<string, LogHead>): void {
    // Bounded by starting over: tenants that still write come back at their next commit.
    if (this.heads.size + heads.size > this.maxOrgs) this.heads.clear();
    for (const [org, head] of heads) this.heads.set(org, head);
  }

  forget(orgs: Iterable<string>): void {
    for (const org of orgs) this.heads.delete(org);
  }
}

/** The cached heads were unknown or another instance has moved them since: nothing was written. */
const STALE = 'stale heads';

/**
 * Group commits on PostgreSQL, on connections of the service's pool (postgresPool.ts). When
 * this instance knows every head the group extends, the writes go out as one autocommit
 * statement (`writeIfHeads`) that locks those heads, checks they are still the known ones
 * and only then writes: one round trip instead of BEGIN, lock, write and COMMIT, whose waits
 * bounded throughput. Otherwise the group is committed in a transaction that locks and reads
 * the heads first, so any number of instances extend one gapless chain per tenant.
 */
export class PostgresCommitter implements Committer {
  private readonly heads = new LogHeadCache();

  constructor(
    private readonly pool: pg.Pool,
    private readonly idempotencyTtlMs: number,
  ) {}

  async commit(requests: WriteRequest[]): Promise<WriteOutcome[]> {
    const client = await this.pool.connect();
    let failure: unknown;
    try {
      const outcomes = await this.commitOnKnownHeads(client, requests);
      return outcomes !== STALE ? outcomes : await this.commitInTransaction(client, requests);
    } catch (error) {
      failure = error;
      throw error;
    } finally {
      // A fault (a reply that timed out, a lost connection) closes the connection instead of
      // pooling it; so does a transaction left open (postgresPool.ts).
      client.release(isUnavailable(failure) ? (failure as Error) : undefined);
    }
  }

  async close(): Promise<void> {}

  private async commitOnKnownHeads(
    client: pg.PoolClient,
    requests: WriteRequest[],
  ): Promise<WriteOutcome[] | typeof STALE> {
    const now = Date.now();
    const plan = planGroup(requests, await liveKeys(client, requests, now));
    const known = this.heads.lookup(plan.orgs);
    if (!known) return STALE;
    const linked = linkGroup(requests, plan, known, now, this.idempotencyTtlMs);
    if (linked.events.length > 0) {
      const expected = [...linked.heads.keys()].map((org) => known.get(org)!);
      const [{ unchanged }] = await run<{ unchanged: boolean }>(client, 'writeIfHeads', [
        ...writeValues(linked),
        expected.map((head) => head.size),
        expected.map((head) => head.rootHash),
      ]).catch((error: unknown) => this.forgetOnError(plan.orgs, error));
      if (!unchanged) {
        this.heads.forget(plan.orgs);
        return STALE;
      }
      this.heads.remember(linked.heads);
    }
    return linked.outcomes;
  }

  private async commitInTransaction(client: pg.PoolClient, requests: WriteRequest[]): Promise<WriteOutcome[]> {
    await client.query('BEGIN');
    let orgs: string[] = [];
    try {
      const now = Date.now();
      const plan = planGroup(requests, await liveKeys(client, requests, now));
      orgs = plan.orgs;
      const heads = orgs.length > 0 ? await lockHeads(client, orgs) : new Map<string, LogHead>();
      const linked = linkGroup(requests, plan, heads, now, this.idempotencyTtlMs);
      if (linked.events.length > 0) await run(client, 'write', writeValues(linked));
      await client.query('COMMIT');
      this.heads.remember(linked.heads);
      return linked.outcomes;
    } catch (error) {
      // After a fault the connection is closed, which rolls the transaction back at the server;
      // a ROLLBACK sent on it would only wait for another timeout.
      if (!isUnavailable(error)) await client.query('ROLLBACK').catch(() => {});
      return this.forgetOnError(orgs, error);
    }
  }

  /** After a failed write the heads are unknown: whether it committed is not known either. */
  private forgetOnError(orgs: string[], error: unknown): never {
    this.heads.forget(orgs);
    throw error;
  }
}

async function run<Row = Record<string, unknown>>(
  client: pg.PoolClient,
  name: keyof typeof STATEMENTS,
  values: unknown[],
): Promise<Row[]> {
  const result = await client.query({ name: `audit_${name}`, text: STATEMENTS[name], values });
  return result.rows as Row[];
}

async function liveKeys(client: pg.PoolClient, requests: WriteRequest[], now: number) {
  const digests = claimedDigests(requests);
  if (digests.length === 0) return [];
  return (await run<KeyRow>(client, 'liveKeys', [digests, now])).map(fromKeyRow);
}

async function lockHeads(client: pg.PoolClient, orgs: string[]): Promise<Map<string, LogHead>> {
  const rows = await run<HeadRow>(client, 'lockHeads', [orgs, EMPTY_HEAD.rootHash]);
  return new Map(rows.map((row) => [row.ims_org_id, fromHeadRow(row)]));
}

/** The parameters of `write`, which `writeIfHeads` begins with: columns of events, nodes, keys, moved heads. */
function writeValues(linked: LinkedGroup): unknown[] {
  const events = linked.events.map(toRow);
  const nodes = linked.nodes.map(toNodeRow);
  const keys = linked.keys.map(toKeyRow);
  const heads = [...linked.heads].map(([org, head]) => toHeadRow(org, head));
  return [
    ...EVENT_COLUMNS.map((column) => events.map((row) => row[column])),
    ...NODE_COLUMNS.map((column) => nodes.map((row) => row[column])),
    ...KEY_COLUMNS.map((column) => keys.map((row) => row[column])),
    heads.map((row) => row.ims_org_id),
    heads.map((row) => row.seq),
    heads.map((row) => row.root_hash),
    heads.map((row) => row.frontier),
  ];
}
