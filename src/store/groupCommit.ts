import type { AuditEvent, StoredAuditEvent } from '../domain/api';
import { formatInstant, parseInstant } from '../domain/instant';
import { chainHash } from '../domain/chain';
import type { ChainHead, CommitSql, EventRow, KeyRow } from './commitSql';
import { uuidv7 } from '../domain/ids';

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

interface ClaimedKey {
  requestHash: string;
  /** Set for keys committed earlier; unset for a key claimed earlier in the same group. */
  eventIds?: string[];
  request?: number;
}

const idempotencyId = (claim: { clientId: string; key: string }) => JSON.stringify([claim.clientId, claim.key]);

/**
 * The logic of one group commit, for either database, run inside the transaction that `sql`
 * speaks for. Each request's events join their tenants' chains in input order. A request
 * whose idempotency key was already used gets the earlier outcome instead of storing
 * anything: its ids when the body matches, a mismatch when it does not.
 */
export async function commitGroup(
  sql: CommitSql,
  requests: WriteRequest[],
  idempotencyTtlMs: number,
): Promise<WriteOutcome[]> {
  const now = Date.now();
  // A key used twice within this group: the later request replays the earlier one's outcome.
  const outcomes: (WriteOutcome | { kind: 'duplicate'; of: number } | undefined)[] = [];
  const claimed = await findIdempotencyKeys(sql, requests, now);
  const toStore: number[] = [];
  requests.forEach((request, i) => {
    const claim = request.idempotency;
    const earlier = claim && claimed.get(idempotencyId(claim));
    if (!earlier) {
      if (claim) claimed.set(idempotencyId(claim), { requestHash: claim.requestHash, request: i });
      toStore.push(i);
    } else if (earlier.requestHash !== claim.requestHash) {
      outcomes[i] = { kind: 'mismatch' };
    } else if (earlier.eventIds) {
      outcomes[i] = { kind: 'replayed', eventIds: earlier.eventIds };
    } else {
      outcomes[i] = { kind: 'duplicate', of: earlier.request! };
    }
  });

  const orgs = [...new Set(toStore.flatMap((i) => requests[i].events.map((e) => e.imsOrgId)))].sort();
  const heads = orgs.length > 0 ? await sql.lockHeads(orgs) : new Map<string, ChainHead>();
  const receivedAt = formatInstant(now);
  const rows: EventRow[] = [];
  const keyRows: KeyRow[] = [];
  for (const i of toStore) {
    const events = requests[i].events.map((event) => {
      const head = heads.get(event.imsOrgId)!;
      const occurredAt = parseInstant(event.timestamp);
      if (occurredAt === undefined) throw new Error(`unvalidated timestamp reached the store: ${event.timestamp}`);
      const unhashed = { ...normalise(event, occurredAt), id: uuidv7(now), receivedAt, seq: head.seq + 1 };
      const linked: StoredAuditEvent = { ...unhashed, hash: chainHash(unhashed, head.hash) };
      heads.set(event.imsOrgId, { seq: linked.seq, hash: linked.hash });
      rows.push(toRow(linked, occurredAt, now));
      return linked;
    });
    outcomes[i] = { kind: 'stored', eventIds: events.map((e) => e.id) };
    const claim = requests[i].idempotency;
    if (claim) {
      keyRows.push({
        client_id: claim.clientId,
        key: claim.key,
        request_hash: claim.requestHash,
        event_ids: JSON.stringify(events.map((e) => e.id)),
        expires_at: now + idempotencyTtlMs,
      });
    }
  }
  if (rows.length > 0) await sql.write(rows, heads, keyRows);
  return outcomes.map((outcome) =>
    outcome!.kind === 'duplicate'
      ? { kind: 'replayed', eventIds: (outcomes[outcome!.of] as { eventIds: string[] }).eventIds }
      : outcome!,
  );
}

/** Live keys among the group's claims, with the ids their first request stored. */
async function findIdempotencyKeys(
  sql: CommitSql,
  requests: WriteRequest[],
  now: number,
): Promise<Map<string, ClaimedKey>> {
  const pairs = requests.flatMap((r): [string, string][] =>
    r.idempotency ? [[r.idempotency.clientId, r.idempotency.key]] : [],
  );
  const claimed = new Map<string, ClaimedKey>();
  if (pairs.length === 0) return claimed;
  for (const row of await sql.liveKeys(pairs, now)) {
    claimed.set(idempotencyId({ clientId: row.client_id, key: row.key }), {
      requestHash: row.request_hash,
      eventIds: JSON.parse(row.event_ids),
    });
  }
  return claimed;
}

/** The event as it is stored and hashed: the timestamp in its canonical UTC form, no extra fields. */
function normalise(event: AuditEvent, occurredAt: number): AuditEvent {
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

/** The row written for an event; tags as JSON text, which both databases take. */
function toRow(event: StoredAuditEvent, occurredAt: number, receivedAt: number): EventRow {
  return {
    id: event.id,
    ims_org_id: event.imsOrgId,
    seq: event.seq,
    action: event.action,
    source: event.source,
    service_id: event.service.serviceId,
    resource_id: event.resource.resourceId,
    user_identifier: event.userIdentifier,
    occurred_at: occurredAt,
    received_at: receivedAt,
    tags: event.tags === undefined ? null : JSON.stringify(event.tags),
    hash: event.hash,
  };
}
