// The rules of a group commit, for either database: which requests store events, how their
// events join their tenants' logs (Merkle trees), and what a retried request is answered. Plain
// values in, plain values out; the store runs the SQL around it.
import { hash } from 'node:crypto';
import type { AuditEvent, StoredAuditEvent } from './api';
import { toBase64 } from './crypto';
import { uuidv7 } from './ids';
import { formatInstant, parseInstant } from './instant';
import {
  type Commitments,
  commitmentsOf,
  leafHashOf,
  randomSaltBytes,
  SALT_BYTES,
  saltCount,
  type Salts,
  saltsFor,
} from './leaf';
import { appendLeafInPlace, EMPTY_FRONTIER, type Frontier, frontierRoot, type Hash, isTileLevel } from './merkle';

/** Identifies a retried request: the client's key and the hash of what it sent. */
export interface IdempotencyClaim {
  clientId: string;
  key: string;
  requestHash: string;
}

export interface WriteRequest {
  events: AuditEvent[];
  /**
   * Each event's salts and commitments (sealPersonalData), made when the request arrives: they
   * do not depend on the log, so computing them then keeps their hashing off the commit's
   * critical path. linkGroup makes them itself when they are absent.
   */
  personal?: PersonalData[];
  idempotency?: IdempotencyClaim;
}

/** An event's fresh salts, and the commitments to its personal-data values under them. */
export interface PersonalData {
  salts: Salts;
  commitments: Commitments;
}

/** Fresh salts and the commitments for each of the events. */
export function sealPersonalData(events: readonly AuditEvent[]): PersonalData[] {
  let count = 0;
  for (const event of events) count += saltCount(event.tags);
  const random = randomSaltBytes(count * SALT_BYTES);
  let cut = 0;
  return events.map((event) => {
    const salts = saltsFor(event.tags, random.subarray(cut, (cut += saltCount(event.tags) * SALT_BYTES)));
    return { salts, commitments: commitmentsOf(event, salts) };
  });
}

export type WriteOutcome =
  /** Stored now: the new events' ids, in the request's order (all a 201 needs). */
  | { kind: 'stored'; eventIds: string[] }
  /** The key was used before with the same request: these are the ids it stored. */
  | { kind: 'replayed'; eventIds: string[] }
  /** The key was used before with a different request. */
  | { kind: 'mismatch' };

/**
 * A tenant's log head: its size (the last event's seq, 0 before the first), its tree's root
 * (base64, what checkpoints sign) and the tree's frontier, from which the next events append.
 */
export interface LogHead {
  size: number;
  rootHash: string;
  frontier: Frontier;
}

export const EMPTY_HEAD: LogHead = {
  size: 0,
  rootHash: toBase64(frontierRoot(EMPTY_FRONTIER)),
  frontier: EMPTY_FRONTIER,
};

/** A tree node a commit stores: one at every TILE_HEIGHT-th level (merkle.ts), leaves live in their events. */
export interface TreeNode {
  imsOrgId: string;
  level: number;
  index: number;
  hash: Hash;
}

/** A remembered Idempotency-Key: what the request that first used it sent, and the ids it stored. */
export interface KeyRecord {
  /** idempotencyDigest(clientId, key): the key's identity, of fixed size whatever the client id's length. */
  digest: string;
  clientId: string;
  key: string;
  requestHash: string;
  eventIds: string[];
  /** Epoch milliseconds. */
  expiresAt: number;
}

/** An event linked into its log, with its instants as epoch milliseconds for the store. */
export interface LinkedEvent {
  event: StoredAuditEvent;
  occurredAt: number;
  receivedAt: number;
}

/**
 * The identity of a client's Idempotency-Key: SHA-256 (hex) of the JSON array [clientId, key].
 * Fixed-size, so a key row fits any index however long the client id is; the array keeps
 * ("a:b", "c") and ("a", "b:c") apart.
 */
export function idempotencyDigest(clientId: string, key: string): string {
  return hash('sha256', JSON.stringify([clientId, key]), 'hex');
}

/** The digests of the keys a group's requests claim, to look up before deciding (planGroup). */
export function claimedDigests(requests: WriteRequest[]): string[] {
  return requests.flatMap((r) => (r.idempotency ? [idempotencyDigest(r.idempotency.clientId, r.idempotency.key)] : []));
}

/** What planGroup decided: the requests that store events, the orgs whose heads they extend. */
export interface GroupPlan {
  /** Indexes of the requests that store events, in input order. */
  storing: number[];
  /** The orgs the storing requests write to, sorted (the order heads are locked in). */
  orgs: string[];
  /** Outcomes decided without storing; `duplicate` repeats an earlier request of the group. */
  decided: Map<number, WriteOutcome | { kind: 'duplicate'; of: number }>;
}

/**
 * The idempotency decisions for a group, given the live (unexpired) keys among its claims:
 * a key used before with the same request hash replays its ids, with another hash is a
 * mismatch; a key used twice within the group stores once and the later request replays it.
 */
export function planGroup(
  requests: WriteRequest[],
  liveKeys: Pick<KeyRecord, 'digest' | 'requestHash' | 'eventIds'>[],
): GroupPlan {
  const claimed = new Map<string, { requestHash: string; eventIds?: string[]; request?: number }>();
  for (const record of liveKeys) claimed.set(record.digest, record);
  const storing: number[] = [];
  const decided: GroupPlan['decided'] = new Map();
  requests.forEach((request, i) => {
    const claim = request.idempotency;
    if (!claim) {
      storing.push(i);
      return;
    }
    const digest = idempotencyDigest(claim.clientId, claim.key);
    const earlier = claimed.get(digest);
    if (!earlier) {
      claimed.set(digest, { requestHash: claim.requestHash, request: i });
      storing.push(i);
    } else if (earlier.requestHash !== claim.requestHash) {
      decided.set(i, { kind: 'mismatch' });
    } else if (earlier.eventIds) {
      decided.set(i, { kind: 'replayed', eventIds: earlier.eventIds });
    } else {
      decided.set(i, { kind: 'duplicate', of: earlier.request! });
    }
  });
  const orgs = [...new Set(storing.flatMap((i) => requests[i].events.map((e) => e.imsOrgId)))].sort();
  return { storing, orgs, decided };
}

/** What linkGroup produced: everything the store writes, and every request's answer. */
export interface LinkedGroup {
  /** The new events, in commit order. */
  events: LinkedEvent[];
  /** The tree nodes the new events completed, at tile levels. */
  nodes: TreeNode[];
  /** The keys the storing requests claimed. */
  keys: KeyRecord[];
  /** The moved heads of the orgs written to (only those). */
  heads: Map<string, LogHead>;
  /** One per request, in input order. */
  outcomes: WriteOutcome[];
}

/**
 * Links the storing requests' events into their tenants' logs, after `heads` (one per org of
 * the plan; not modified): each event gets the next seq, a UUIDv7 id, `now` as receivedAt, its
 * timestamp in canonical UTC form, fresh salts and its leaf hash, in input order, and joins its
 * tenant's tree.
 */
export function linkGroup(
  requests: WriteRequest[],
  plan: GroupPlan,
  heads: ReadonlyMap<string, LogHead>,
  now: number,
  idempotencyTtlMs: number,
): LinkedGroup {
  // Each org's frontier as it grows: copied once from its head, then appended to in place.
  const frontiers = new Map<string, { size: number; hashes: Hash[] }>();
  const receivedAt = formatInstant(now);
  const events: LinkedEvent[] = [];
  const nodes: TreeNode[] = [];
  const keys: KeyRecord[] = [];
  const outcomes: (WriteOutcome | undefined)[] = requests.map(() => undefined);
  let org = '';
  const keepTileNode = (level: number, index: number, hash: Hash) => {
    if (isTileLevel(level)) nodes.push({ imsOrgId: org, level, index, hash });
  };
  for (const i of plan.storing) {
    const personal = requests[i].personal ?? sealPersonalData(requests[i].events);
    const eventIds = requests[i].events.map((event, j) => {
      org = event.imsOrgId;
      let frontier = frontiers.get(org);
      if (!frontier) {
        const head = heads.get(org);
        if (!head) throw new Error(`no log head for ${org}`);
        frontier = { size: head.frontier.size, hashes: [...head.frontier.hashes] };
        frontiers.set(org, frontier);
      }
      const occurredAt = parseInstant(event.timestamp);
      if (occurredAt === undefined) throw new Error(`unvalidated timestamp reached the store: ${event.timestamp}`);
      // One object, filled in place (spreading it twice per event measured in the commit thread's profile).
      const linked = normalise(event, occurredAt) as StoredAuditEvent;
      linked.id = uuidv7(now);
      linked.receivedAt = receivedAt;
      linked.seq = frontier.size + 1;
      const leaf = leafHashOf(linked, personal[j].commitments);
      linked.salts = personal[j].salts;
      linked.leafHash = leaf.toString('base64');
      appendLeafInPlace(frontier.hashes, frontier.size, leaf, keepTileNode);
      frontier.size += 1;
      events.push({ event: linked, occurredAt, receivedAt: now });
      return linked.id;
    });
    outcomes[i] = { kind: 'stored', eventIds };
    const claim = requests[i].idempotency;
    if (claim) {
      keys.push({
        digest: idempotencyDigest(claim.clientId, claim.key),
        clientId: claim.clientId,
        key: claim.key,
        requestHash: claim.requestHash,
        eventIds,
        expiresAt: now + idempotencyTtlMs,
      });
    }
  }
  for (const [i, outcome] of plan.decided) {
    if (outcome.kind !== 'duplicate') outcomes[i] = outcome;
    else outcomes[i] = { kind: 'replayed', eventIds: (outcomes[outcome.of] as { eventIds: string[] }).eventIds };
  }
  const moved = new Map<string, LogHead>();
  for (const [org, frontier] of frontiers) {
    moved.set(org, { size: frontier.size, rootHash: toBase64(frontierRoot(frontier)), frontier: { ...frontier } });
  }
  return { events, nodes, keys, heads: moved, outcomes: outcomes as WriteOutcome[] };
}

/** The event as it is stored and hashed: the timestamp in its canonical UTC form, no extra fields. */
export function normalise(event: AuditEvent, occurredAt: number): AuditEvent {
  return {
    action: event.action,
    imsOrgId: event.imsOrgId,
    resource: { resourceId: event.resource.resourceId },
    service: { serviceId: event.service.serviceId },
    source: event.source,
    timestamp: formatInstant(occurredAt),
    userIdentifier: event.userIdentifier,
    ...(event.tags !== undefined && { tags: { ...event.tags } }),
  };
}
