// The tenants' logs as Merkle trees (RFC 9162), as the commits store them: the head (size, root,
// frontier) per tenant, each event's leaf hash in its row, and the nodes at every TILE_HEIGHT-th
// level in audit_tree_nodes. Any other node is computed from at most 2^(TILE_HEIGHT-1) stored
// ones below it, so a proof reads about a hundred hashes in one statement whatever the log's size.
// Retention (#14) deletes a prefix of a log's event rows and keeps their leaf hashes as level-0
// nodes in audit_tree_nodes (up to the head's pruned_through), so the tree stays whole.
import type { Knex } from 'knex';
import type { ChainVerification, StoredAuditEvent } from '../domain/api';
import { toBase64 } from '../domain/crypto';
import { AuditError, UnavailableError } from '../domain/errors';
import { isEventId } from '../domain/ids';
import { EMPTY_HEAD, type LogHead } from '../domain/linking';
import {
  appendLeafInPlace,
  consistencyProof,
  frontierRoot,
  type Hash,
  HASH_SIZE,
  inclusionProof,
  isTileLevel,
  type NodeId,
  type NodeRange,
  nodesForConsistencyProof,
  nodesForInclusionProof,
  nodesForTreeHash,
  type StoredNode,
  tiledHashes,
  tileRanges,
  treeHash,
} from '../domain/merkle';
import { translateErrors } from './errors';
import { checkRow, describeSeq, logSeq } from './eventCheck';
import { type EventRow, fromHeadRow, fromRow, type HeadRow, type NodeRow, READ_COLUMNS, storedHash } from './rows';
import type { PostgresPool } from './postgresPool';
import type { SqliteVerifiers } from './sqliteVerifiers';
import { turn } from './steps';

// Verification reads pages of this many rows, each in one short synchronous step on SQLite.
// The schema bounds an event to about 80 kB (64 tags of 1 kB at most), so a page holds at most
// about 20 MiB, and in practice a few hundred kB. (Reading sizes first
// to bound pages by bytes read every row twice: a third of verification's time.)
const VERIFY_PAGE = 256;

/** A proof, and the root of the tree it is for. */
export interface Proof {
  proof: Hash[];
  root: Hash;
}

/** The stored tree is missing or garbles a hash a proof needs: the database was damaged or edited. */
export class DamagedTreeError extends UnavailableError {
  constructor(imsOrgId: string, node: NodeId) {
    super(
      `the stored tree of tenant ${JSON.stringify(imsOrgId).slice(0, 80)} lacks a valid hash at level ${node.level}, ` +
        `index ${node.index}; GET /audits/verify names what is wrong`,
      { retryAfterSeconds: 60 },
    );
  }
}

export interface VerifyOptions {
  /** Check only the events after this tree size, and the tree's consistency with it. */
  since?: number;
  /** The root the tree of size `since` must have (what a monitor verified before). */
  sinceRoot?: string;
  onProgress?: (checked: number, total: number) => void;
}

/** A head as stored: the tree's head, and the seq up to which retention deleted the events' rows. */
type StoredHead = LogHead & { prunedThrough: number };

/** What a log store uses beside knex, by database: SQLite's verify threads, PostgreSQL's pool. */
export interface LogStoreEngines {
  /** SQLite: the threads that check long verification walks side by side. */
  verifiers?: SqliteVerifiers;
  /** PostgreSQL: the pool, for the proofs' reads as named statements (PG_PROOF_READS). */
  pool?: PostgresPool;
}

// PostgreSQL: a proof's two reads as named statements, planned once per connection, with the
// node ranges as arrays. Built by knex as a UNION ALL of one arm per range, they took 2.1–3.4 ms
// a proof at 200,000 events (query building and planning), this way 1.1–1.5 ms (p50, same run,
// alternating). LATERAL keeps one index seek per range whatever the planner thinks of unnest.
const PG_PROOF_READS = {
  // The columns by name, not e.*: a prepared statement's result must keep its shape across migrations.
  eventAndHead: `SELECT ${READ_COLUMNS.map((column) => `e.${column}`).join(', ')},
      h.seq AS head_seq, h.root_hash AS head_root_hash, h.frontier AS head_frontier
    FROM audit_events e JOIN audit_log_heads h ON h.ims_org_id = e.ims_org_id WHERE e.id = $1 LIMIT 1`,
  storedNodes: `SELECT r.level, n.idx, n.hash, 1 AS kept
    FROM unnest($2::int[], $3::bigint[], $4::bigint[]) AS r (level, lo, hi),
      LATERAL (SELECT idx, hash FROM audit_tree_nodes
        WHERE ims_org_id = $1 AND level = r.level AND idx >= r.lo AND idx < r.hi) n
    UNION ALL
    SELECT 0, e.seq - 1, e.leaf_hash, 0
    FROM unnest($5::bigint[], $6::bigint[]) AS l (lo, hi),
      LATERAL (SELECT seq, leaf_hash FROM audit_events WHERE ims_org_id = $1 AND seq > l.lo AND seq <= l.hi) e`,
};

export class LogStore {
  private readonly verifiers: SqliteVerifiers | undefined;
  private readonly pool: PostgresPool | undefined;

  constructor(
    private readonly db: Knex,
    private readonly postgres: boolean,
    { verifiers, pool }: LogStoreEngines = {},
  ) {
    this.verifiers = verifiers;
    this.pool = pool;
  }

  /** The tenant's head: size, root and frontier (the empty tree's before its first event). */
  async head(imsOrgId: string): Promise<LogHead> {
    return translateErrors(() => this.readHead(imsOrgId));
  }

  /** Up to `limit` tenants with a log, in order, after `after` (for walking them all in pages). */
  async tenantsAfter(after: string, limit: number): Promise<string[]> {
    const rows = await translateErrors(() =>
      this.db<HeadRow>('audit_log_heads')
        .where('ims_org_id', '>', after)
        .orderBy('ims_org_id')
        .limit(limit)
        .select('ims_org_id'),
    );
    return rows.map((row) => row.ims_org_id);
  }

  /**
   * The event with this id and its tenant's head, read together (one round trip fewer for a
   * proof on PostgreSQL), or undefined for an id that names no event.
   */
  async eventAndHead(id: string): Promise<{ event: StoredAuditEvent; head: LogHead } | undefined> {
    if (!isEventId(id)) return undefined;
    return translateErrors(async () => {
      type Joined = EventRow & { head_seq: number | string; head_root_hash: string; head_frontier: string };
      const row = this.pool
        ? (
            await this.pool.query<Joined>({
              name: 'audit_log_event_and_head',
              text: PG_PROOF_READS.eventAndHead,
              values: [id],
            })
          ).rows[0]
        : await this.db<Joined>('audit_events as e')
            .join('audit_log_heads as h', 'h.ims_org_id', 'e.ims_org_id')
            .where('e.id', id)
            .first<Joined | undefined>(
              'e.*',
              'h.seq as head_seq',
              'h.root_hash as head_root_hash',
              'h.frontier as head_frontier',
            );
      if (!row) return undefined;
      const head = fromHeadRow({ seq: row.head_seq, root_hash: row.head_root_hash, frontier: row.head_frontier });
      return { event: fromRow(row), head };
    });
  }

  /** The RFC 9162 inclusion proof of leaf `seq − 1` in the tree of `treeSize` (default: the current size). */
  async inclusionProof(
    imsOrgId: string,
    seq: number,
    treeSize?: number,
    knownHead?: LogHead,
  ): Promise<Proof & { treeSize: number }> {
    return translateErrors(async () => {
      const head = knownHead ?? (await this.readHead(imsOrgId));
      const size = treeSize ?? head.size;
      if (size > head.size) {
        throw new AuditError('bad_request', `treeSize ${size} is past the log's current size, ${head.size}`);
      }
      if (seq > size) {
        throw new AuditError(
          'bad_request',
          `event ${seq} is not in the tree of size ${size}: treeSize must be at least ${seq}`,
        );
      }
      const [proof] = await this.inclusionProofs(imsOrgId, [seq], size, head);
      return { ...proof, treeSize: size };
    });
  }

  /**
   * Inclusion proofs of several events in the tree of `size` (at most the head's), from one read
   * of the nodes they need together: an export's batch shares most of them.
   */
  async inclusionProofs(imsOrgId: string, seqs: number[], size: number, head?: LogHead): Promise<Proof[]> {
    const current = head ?? (await this.head(imsOrgId));
    const paths = seqs.map((seq) => nodesForInclusionProof(seq - 1, size));
    const hashes = await this.hashes(imsOrgId, [...paths.flat(), ...this.rootNodes(size, current)]);
    const root = this.root(size, current, hashes);
    return seqs.map((seq) => ({ proof: inclusionProof(seq - 1, size, hashes.reader), root }));
  }

  /** The RFC 9162 consistency proof from the tree of `from` leaves to the tree of `to`, 1 ≤ from ≤ to ≤ the size. */
  async consistencyProof(imsOrgId: string, from: number, to: number): Promise<Proof> {
    return translateErrors(async () => {
      const head = await this.readHead(imsOrgId);
      if (from < 1 || from > to)
        throw new AuditError('bad_request', `from (${from}) must be at least 1 and at most to (${to})`);
      if (to > head.size)
        throw new AuditError('bad_request', `to (${to}) is past the log's current size, ${head.size}`);
      const hashes = await this.hashes(imsOrgId, [...nodesForConsistencyProof(from, to), ...this.rootNodes(to, head)]);
      return { proof: consistencyProof(from, to, hashes.reader), root: this.root(to, head, hashes) };
    });
  }

  private rootNodes(size: number, head: LogHead): NodeId[] {
    // The head holds the current root; an earlier one is computed from stored nodes.
    return size === head.size ? [] : nodesForTreeHash(size);
  }

  private root(size: number, head: LogHead, hashes: NodeHashes): Hash {
    return size === head.size ? Buffer.from(head.rootHash, 'base64') : treeHash(size, hashes.reader);
  }

  /**
   * The hashes of `nodes` (complete subtrees of the stored tree), read in one batch, as a
   * HashReader that answers any list of them (merkle.ts calls it with exactly the nodes its
   * `nodesFor…` function named).
   */
  private async hashes(imsOrgId: string, nodes: NodeId[]): Promise<NodeHashes> {
    const unique = [...new Map(nodes.map((node) => [nodeKey(node), node])).values()];
    const stored = await this.readStored(imsOrgId, tileRanges(unique));
    const computed = new Map<string, Hash>();
    tiledHashes(unique, (level, index) => {
      const hash = stored.get(nodeKey({ level, index }));
      if (!hash) throw new DamagedTreeError(imsOrgId, { level, index });
      return hash;
    }).forEach((hash, i) => computed.set(nodeKey(unique[i]), hash));
    return { reader: (wanted) => wanted.map((node) => computed.get(nodeKey(node))!) };
  }

  /**
   * The stored hashes in `ranges`, by nodeKey: leaves from the events, or for the pruned prefix
   * from the level-0 nodes a purge kept (which win, should a row be inserted there), higher
   * levels from audit_tree_nodes.
   */
  private async readStored(imsOrgId: string, ranges: NodeRange[]): Promise<Map<string, Hash>> {
    const found = new Map<string, Hash>();
    if (ranges.length === 0) return found;
    const rows = this.pool
      ? await this.readStoredPostgres(imsOrgId, ranges)
      : await this.readStoredKnex(imsOrgId, ranges);
    // A kept leaf hash wins over a row in the pruned prefix (which verification reports as inserted).
    for (const row of rows.sort((x, y) => Number(x.kept) - Number(y.kept))) {
      const hash = storedHash(row.hash);
      if (hash) found.set(nodeKey({ level: Number(row.level), index: Number(row.idx) }), hash);
    }
    return found;
  }

  private async readStoredPostgres(imsOrgId: string, ranges: NodeRange[]): Promise<StoredNodeRow[]> {
    const leaves = ranges.filter(({ level }) => level === 0);
    const values = [
      imsOrgId,
      ranges.map(({ level }) => level),
      ranges.map(({ from }) => from),
      ranges.map(({ to }) => to),
      leaves.map(({ from }) => from),
      leaves.map(({ to }) => to),
    ];
    const result = await this.pool!.query<StoredNodeRow>({
      name: 'audit_log_stored_nodes',
      text: PG_PROOF_READS.storedNodes,
      values,
    });
    return result.rows;
  }

  private async readStoredKnex(imsOrgId: string, ranges: NodeRange[]): Promise<StoredNodeRow[]> {
    // One index seek per range, all in one statement (one round trip): a disjunction of ranges
    // made SQLite scan the tenant's seq index instead (119 ms a proof at a million events). A
    // leaf range is read from the events and from the leaf hashes a purge kept (an index probe
    // that finds nothing in a log never pruned).
    const kept = (level: number, from: number, to: number) =>
      this.db('audit_tree_nodes')
        .where({ ims_org_id: imsOrgId, level })
        .andWhere('idx', '>=', from)
        .andWhere('idx', '<', to)
        .select('level', 'idx', 'hash', this.db.raw('1 AS kept'));
    const arms = ranges.flatMap(({ level, from, to }) =>
      level === 0
        ? [
            this.db('audit_events')
              .where('ims_org_id', imsOrgId)
              .whereBetween('seq', [from + 1, to])
              .select(
                this.db.raw('0 AS level'),
                this.db.raw('seq - 1 AS idx'),
                'leaf_hash AS hash',
                this.db.raw('0 AS kept'),
              ),
            kept(0, from, to),
          ]
        : [kept(level, from, to)],
    );
    const [first, ...rest] = arms;
    return (await (rest.length > 0 ? first.unionAll(rest) : first)) as StoredNodeRow[];
  }

  private async readHead(imsOrgId: string): Promise<StoredHead> {
    const row = await this.db<HeadRow & { pruned_through: number | string }>('audit_log_heads')
      .where({ ims_org_id: imsOrgId })
      .first('seq', 'root_hash', 'frontier', 'pruned_through');
    return row
      ? { ...fromHeadRow(row), prunedThrough: Number(row.pruned_through) }
      : { ...EMPTY_HEAD, prunedThrough: 0 };
  }

  /**
   * Recomputes the tenant's log from its rows, in seq order and in pages bounded by count and bytes
   * (constant memory, short steps): every event's leaf hash (each personal-data value against its
   * salt), then the tree from the leaves, which must match every stored tile-level node and the
   * head as it was when verification began (size, root, frontier). Events committed meanwhile
   * (each commit moves the head with its events) are left to the next verification. Every row of
   * the tenant is accounted for: the walk reads seq 1..head, and any row below 1, past the head or
   * (SQLite) with a seq that is not an integer breaks the log, named by its id and seq. With
   * `since`, the walk starts from the stored tree of that size. Stops at the first bad position.
   *
   * After a purge (#14) the rows up to pruned_through are gone: the walk starts from the stored
   * tree of that size (the kept leaf hashes and nodes), and a row at or below it breaks the log.
   * A purge that runs meanwhile deletes rows the walk expected, so a verification that fails
   * while pruned_through moved is run once more, from the new prefix.
   */
  async verify(imsOrgId: string, options: VerifyOptions = {}): Promise<ChainVerification> {
    return translateErrors(async () => {
      const result = await this.verifyOnce(imsOrgId, options);
      if (result.verified || (await this.readHead(imsOrgId)).prunedThrough === result.prunedThrough) return result;
      return this.verifyOnce(imsOrgId, options);
    });
  }

  private async verifyOnce(imsOrgId: string, options: VerifyOptions): Promise<ChainVerification> {
    const head = await this.readHead(imsOrgId);
    const pruned = head.prunedThrough;
    const { since, onProgress = () => {} } = options;
    if (since !== undefined && since > head.size) {
      throw new AuditError('bad_request', `since (${since}) is past the log's current size, ${head.size}`);
    }
    const result: ChainVerification = {
      imsOrgId,
      verified: false,
      count: 0,
      headSeq: head.size,
      headHash: '0'.repeat(64),
      treeSize: head.size,
      rootHash: head.rootHash,
      prunedThrough: pruned,
      erasedEvents: 0,
      ...(since !== undefined && { since }),
    };
    const broken = (brokenAt: number, reason: string): ChainVerification => ({ ...result, brokenAt, reason });
    // The tree recomputed so far, grown in place.
    let frontier: { size: number; hashes: Hash[] } = { size: 0, hashes: [] };
    if (since) {
      try {
        const hashes = await this.hashes(imsOrgId, nodesForTreeHash(since));
        frontier = { size: since, hashes: hashes.reader(nodesForTreeHash(since)) };
      } catch (error) {
        if (error instanceof DamagedTreeError)
          return broken(since, `the stored tree of size ${since} is incomplete: ${error.message}`);
        throw error;
      }
      result.sinceRootHash = toBase64(frontierRoot(frontier));
      if (options.sinceRoot !== undefined && result.sinceRootHash !== options.sinceRoot) {
        return broken(since, `the tree of size ${since} no longer has the root verified before: the log was rewritten`);
      }
    }
    if (pruned > frontier.size) {
      // The events up to `pruned` are gone: start from the stored tree over them.
      try {
        const hashes = await this.hashes(imsOrgId, nodesForTreeHash(pruned));
        frontier = { size: pruned, hashes: hashes.reader(nodesForTreeHash(pruned)) };
      } catch (error) {
        if (error instanceof DamagedTreeError)
          return broken(
            pruned,
            `the stored tree over the pruned events 1 to ${pruned} is incomplete: ${error.message}`,
          );
        throw error;
      }
    }
    const start = frontier.size;
    const tenant = () => this.db<EventRow>('audit_events').where({ ims_org_id: imsOrgId });
    let lastLeaf: Hash | undefined;
    // The tile-level nodes the walk completed since it last compared them with the stored ones.
    const completed: StoredNode[] = [];
    const append = (leaf: Hash) => {
      appendLeafInPlace(frontier.hashes, frontier.size, leaf, (level, index, hash) => {
        if (isTileLevel(level)) completed.push({ level, index, hash });
      });
      frontier.size += 1;
      result.count += 1;
      lastLeaf = leaf;
    };
    const compareCompleted = async (): Promise<ChainVerification | undefined> => {
      const damaged = await this.compareStored(imsOrgId, completed.splice(0));
      if (!damaged) return undefined;
      const first = damaged.index * 2 ** damaged.level + 1;
      return broken(
        first,
        `the events ${first} to ${first + 2 ** damaged.level - 1} do not give the stored tree node over them ` +
          `(level ${damaged.level}): an event and its leaf hash were rewritten, or the node was`,
      );
    };
    // On SQLite, threads check long walks stretch by stretch; from the first stretch that does
    // not check out, the main thread walks on by itself and names what is wrong.
    let stretches =
      this.verifiers && head.size - frontier.size >= this.verifiers.minEvents
        ? this.verifiers.stretches(imsOrgId, frontier.size + 1, head.size)
        : undefined;
    try {
      while (frontier.size < head.size) {
        if (stretches) {
          const next = await stretches.next();
          const stretch = next.done ? undefined : next.value;
          if (stretch?.leaves && stretch.from === frontier.size + 1) {
            for (let at = 0; at < stretch.leaves.length; at += HASH_SIZE) {
              append(stretch.leaves.subarray(at, at + HASH_SIZE));
            }
            result.erasedEvents += stretch.erasedEvents;
            const damaged = await compareCompleted();
            if (damaged) return damaged;
            onProgress(result.count, head.size - start);
            continue;
          }
          await stretches.return(undefined);
          stretches = undefined;
        }
        const expectedSeq = frontier.size + 1;
        await turn();
        // By seq range, not by ids: SQLite would walk the tenant's whole seq index probing for them.
        const rows = await tenant()
          .andWhere('seq', '>=', expectedSeq)
          .andWhere('seq', '<=', head.size)
          .orderBy('seq')
          .limit(VERIFY_PAGE);
        if (rows.length === 0) break;
        for (const row of rows) {
          const verdict = checkRow(row, frontier.size + 1, this.postgres);
          if (!('leaf' in verdict)) {
            if (verdict.counted) result.count += 1;
            return broken(verdict.brokenAt, verdict.reason);
          }
          append(verdict.leaf);
          if (verdict.erased) result.erasedEvents += 1;
        }
        const damaged = await compareCompleted();
        if (damaged) return damaged;
        onProgress(result.count, head.size - start);
      }
    } finally {
      await stretches?.return(undefined);
    }
    if (frontier.size < head.size) {
      return broken(
        frontier.size + 1,
        `events ${frontier.size + 1} to ${head.size} are missing from the end of the log`,
      );
    }
    if (toBase64(frontierRoot(frontier)) !== head.rootHash || !sameHashes(frontier.hashes, head.frontier.hashes)) {
      return broken(
        head.size,
        `the log's head (size ${head.size}) does not match its events: the head was rewritten, or events were ` +
          'replaced together with their leaf hashes',
      );
    }
    if (head.size > 0) {
      lastLeaf ??= storedHash((await tenant().where('seq', head.size).first('leaf_hash'))?.leaf_hash);
      // Every event was pruned (a purge's own event is appended after it, so only for a moment).
      lastLeaf ??= storedHash(
        (
          await this.db<NodeRow>('audit_tree_nodes')
            .where({ ims_org_id: imsOrgId, level: 0, idx: head.size - 1 })
            .first('hash')
        )?.hash,
      );
      if (lastLeaf) result.headHash = Buffer.from(lastLeaf).toString('hex');
    }
    // Below 1, or in the pruned prefix, whose rows a purge deleted (a real seq such as 0.5 too).
    const below = await tenant()
      .andWhere('seq', '<', pruned + 1)
      .orderBy('seq')
      .first('id', 'seq');
    if (below) {
      const seq = logSeq(below.seq, this.postgres);
      const where = seq !== undefined && seq >= 1 ? `in the pruned prefix (1 to ${pruned})` : "before the log's start";
      return broken(seq ?? 0, `event ${below.id} has seq ${describeSeq(below.seq)}, ${where}: it was inserted`);
    }
    // An event past the head is genuine only if the commit that stored it also moved the head
    // past it. Read the events first and the head second, so a commit landing in between
    // cannot pass for an insertion. Descending, SQLite puts a text or blob seq first.
    const beyond = await tenant().andWhere('seq', '>', head.size).orderBy('seq', 'desc').first('id', 'seq');
    const now = await this.readHead(imsOrgId);
    if (beyond) {
      const seq = logSeq(beyond.seq, this.postgres);
      if (seq === undefined || seq > now.size) {
        return broken(
          seq ?? now.size + 1,
          `event ${beyond.id} has seq ${describeSeq(beyond.seq)}, beyond the log's head (seq ${now.size}): it was inserted`,
        );
      }
    }
    return { ...result, verified: true };
  }

  /** The first of `nodes` whose stored hash differs or is missing, if any. */
  private async compareStored(imsOrgId: string, nodes: StoredNode[]): Promise<StoredNode | undefined> {
    if (nodes.length === 0) return undefined;
    const stored = await this.readStored(imsOrgId, tileRanges(nodes.map(({ level, index }) => ({ level, index }))));
    return nodes.find((node) => !sameHashes([stored.get(nodeKey(node)) ?? new Uint8Array()], [node.hash]));
  }
}

/** A stored node hash as the proof reads give it, `kept` for a leaf hash a purge kept. */
type StoredNodeRow = NodeRow & { kept: number | string };

interface NodeHashes {
  reader: (nodes: readonly NodeId[]) => Hash[];
}

const nodeKey = ({ level, index }: NodeId): string => `${level}/${index}`;

function sameHashes(a: readonly Uint8Array[], b: readonly Uint8Array[]): boolean {
  return a.length === b.length && a.every((hash, i) => Buffer.from(hash).equals(b[i]));
}
