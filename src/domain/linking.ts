// The rules of a group commit, for either database: which requests store events, how their
// events join their tenants' chains, and what a retried request is answered. Plain values in,
// plain values out; the store runs the SQL around it.
import { hash } from 'node:crypto';
import type { AuditEvent, StoredAuditEvent } from './api';
import { chainHash } from './chain';
import { uuidv7 } from './ids';
import { formatInstant, parseInstant } from './instant';

/** Identifies a retried request: the client's key and the hash of what it sent. */
export interface IdempotencyClaim {
  clientId: string;
  key: string;
  requestHash: string;
}

export interface WriteRequest {
  events: AuditEvent[];
  idempotency?: IdempotencyClaim;
}

export type WriteOutcome =
  /** Stored now: the new events' ids, in the request's order (all a 201 needs). */
  | { kind: 'stored'; eventIds: string[] }
  /** The key was used before with the same request: these are the ids it stored. */
  | { kind: 'replayed'; eventIds: string[] }
  /** The key was used before with a different request. */
  | { kind: 'mismatch' };

/** A tenant's chain head: the last event's seq and hash (seq 0 and GENESIS_HASH before the first). */
export interface ChainHead {
  seq: number;
  hash: string;
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

/** An event linked into its chain, with its instants as epoch milliseconds for the store. */
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
  /** The keys the storing requests claimed. */
  keys: KeyRecord[];
  /** The moved heads of the orgs written to (only those). */
  heads: Map<string, ChainHead>;
  /** One per request, in input order. */
  outcomes: WriteOutcome[];
}

/**
 * Links the storing requests' events into their tenants' chains, after `heads` (one per org
 * of the plan; not modified): each event gets the next seq, a UUIDv7 id, `now` as receivedAt,
 * its timestamp in canonical UTC form and its chain hash, in input order.
 */
export function linkGroup(
  requests: WriteRequest[],
  plan: GroupPlan,
  heads: ReadonlyMap<string, ChainHead>,
  now: number,
  idempotencyTtlMs: number,
): LinkedGroup {
  const moved = new Map<string, ChainHead>();
  const receivedAt = formatInstant(now);
  const events: LinkedEvent[] = [];
  const keys: KeyRecord[] = [];
  const outcomes: (WriteOutcome | undefined)[] = requests.map(() => undefined);
  for (const i of plan.storing) {
    const eventIds = requests[i].events.map((event) => {
      const head = moved.get(event.imsOrgId) ?? heads.get(event.imsOrgId);
      if (!head) throw new Error(`no chain head for ${event.imsOrgId}`);
      const occurredAt = parseInstant(event.timestamp);
      if (occurredAt === undefined) throw new Error(`unvalidated timestamp reached the store: ${event.timestamp}`);
      const unhashed = { ...normalise(event, occurredAt), id: uuidv7(now), receivedAt, seq: head.seq + 1 };
      const linked: StoredAuditEvent = { ...unhashed, hash: chainHash(unhashed, head.hash) };
      moved.set(event.imsOrgId, { seq: linked.seq, hash: linked.hash });
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
  return { events, keys, heads: moved, outcomes: outcomes as WriteOutcome[] };
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
