import type { Knex } from 'knex';
import { uuidv7 } from './ids';
import type { AuditEvent, ChainVerification, StoredAuditEvent } from '../api';
import { formatInstant, parseInstant } from '../http/instant';
import { chainHash, GENESIS_HASH } from './chain';
import { isPostgres } from './db';
import { translateErrors } from './errors';


interface EventRow {
  id: string;
  ims_org_id: string;
  seq: number | string;
  action: string;
  source: string;
  service_id: string;
  resource_id: string;
  user_identifier: string;
  occurred_at: number | string;
  received_at: number | string;
  tags: string | Record<string, string> | null;
  hash: string;
}

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

type StoredOutcome = { kind: 'stored'; events: StoredAuditEvent[] };
export type WriteOutcome =
  | StoredOutcome
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
const replayOf = (outcome: StoredOutcome): WriteOutcome => ({
  kind: 'replayed',
  eventIds: outcome.events.map((e) => e.id),
});

interface ChainHead {
  seq: number;
  hash: string;
}

// Events read per query while verifying: bounds memory on chains of any length.
const VERIFY_PAGE = 5000;
// Rows per INSERT statement: 12 bound values each stays far below both databases' parameter limits.
const INSERT_CHUNK = 500;

/** The only code that speaks SQL about audit events. */
export class AuditStore {
  private readonly postgres: boolean;

  constructor(
    private readonly db: Knex,
    private readonly idempotencyTtlMs = 24 * 3600_000,
  ) {
    this.postgres = isPostgres(db);
  }

  async migrate(): Promise<void> {
    await this.db.migrate.latest();
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }

  /** Answers when the database answers a trivial query. */
  async ping(): Promise<void> {
    await translateErrors(() => this.db.raw('select 1'));
  }

  /**
   * Commits a group of write requests in one transaction (group commit: one fsync for many
   * requests), resolving only after the commit. Each request's events join their tenants'
   * chains in input order. A request whose idempotency key was already used gets the
   * earlier outcome instead of storing anything: its ids when the body matches, a mismatch
   * when it does not. Throws if the group cannot be committed as a whole; the caller
   * retries the requests one by one, so one bad request fails only itself.
   */
  async commit(requests: WriteRequest[]): Promise<WriteOutcome[]> {
    return translateErrors(() =>
      this.db.transaction(async (trx) => {
        const now = Date.now();
        // A key used twice within this group: the later request replays the earlier one's outcome.
        const outcomes: (WriteOutcome | { kind: 'duplicate'; of: number } | undefined)[] = [];
        const claimed = await this.findIdempotencyKeys(trx, requests, now);
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
            outcomes[i] = { kind: 'duplicate', of: earlier.request! }; // same key twice in this group
          }
        });

        const heads = await this.lockHeads(trx, toStore.flatMap((i) => requests[i].events.map((e) => e.imsOrgId)));
        const receivedAt = formatInstant(now);
        const rows: EventRow[] = [];
        for (const i of toStore) {
          const events = requests[i].events.map((event) => {
            const head = heads.get(event.imsOrgId)!;
            const unhashed = { ...normalise(event), id: uuidv7(), receivedAt, seq: head.seq + 1 };
            const linked: StoredAuditEvent = { ...unhashed, hash: chainHash(unhashed, head.hash) };
            heads.set(event.imsOrgId, { seq: linked.seq, hash: linked.hash });
            rows.push(this.toRow(linked));
            return linked;
          });
          outcomes[i] = { kind: 'stored', events };
        }
        for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
          await trx('audit_events').insert(rows.slice(i, i + INSERT_CHUNK));
        }
        for (const [imsOrgId, head] of heads) {
          await trx('audit_chain_heads').where({ ims_org_id: imsOrgId }).update({ seq: head.seq, hash: head.hash });
        }
        const keyRows = toStore.flatMap((i) => {
          const claim = requests[i].idempotency;
          const outcome = outcomes[i] as { kind: 'stored'; events: StoredAuditEvent[] };
          return claim
            ? [{
                client_id: claim.clientId,
                key: claim.key,
                request_hash: claim.requestHash,
                event_ids: JSON.stringify(outcome.events.map((e) => e.id)),
                expires_at: now + this.idempotencyTtlMs,
              }]
            : [];
        });
        if (keyRows.length > 0) await trx('idempotency_keys').insert(keyRows);
        return outcomes.map((outcome) =>
          outcome!.kind === 'duplicate' ? replayOf(outcomes[outcome!.of] as StoredOutcome) : outcome!,
        );
      }),
    );
  }

  /** Removes idempotency keys past their retention; returns how many. */
  async deleteExpiredIdempotencyKeys(now = Date.now()): Promise<number> {
    return translateErrors(() => this.db('idempotency_keys').where('expires_at', '<=', now).delete());
  }

  /** Live keys among the group's claims, with the ids their first request stored. */
  private async findIdempotencyKeys(
    trx: Knex.Transaction,
    requests: WriteRequest[],
    now: number,
  ): Promise<Map<string, ClaimedKey>> {
    const claims = requests.flatMap((r) => (r.idempotency ? [r.idempotency] : []));
    const claimed = new Map<string, ClaimedKey>();
    if (claims.length === 0) return claimed;
    const pairs = claims.map((c) => [c.clientId, c.key]);
    // An expired key is as good as unused; drop it so the new claim can take its place.
    await trx('idempotency_keys').whereIn(['client_id', 'key'], pairs).where('expires_at', '<=', now).delete();
    const rows: { client_id: string; key: string; request_hash: string; event_ids: string }[] = await trx(
      'idempotency_keys',
    ).whereIn(['client_id', 'key'], pairs);
    for (const row of rows) {
      claimed.set(idempotencyId({ clientId: row.client_id, key: row.key }), {
        requestHash: row.request_hash,
        eventIds: JSON.parse(row.event_ids),
      });
    }
    return claimed;
  }

  /**
   * Recomputes a tenant's chain in seq order, in pages (constant memory), and checks it
   * against the head row as it was when verification began. Events committed meanwhile
   * (each commit moves the head with its events) are left to the next verification.
   * Stops at the first bad position.
   */
  async verifyChain(
    imsOrgId: string,
    onProgress: (checked: number, total: number) => void = () => {},
  ): Promise<ChainVerification> {
    return translateErrors(async () => {
      const head = await this.readHead(imsOrgId);
      const result = { imsOrgId, count: 0, headSeq: head.seq, headHash: head.hash };
      const broken = (brokenAt: number, reason: string) => ({ ...result, verified: false, brokenAt, reason });
      let previousHash = GENESIS_HASH;
      let expectedSeq = 1;
      for (;;) {
        // SQLite answers synchronously: without a turn of the event loop between pages, a
        // long chain would hold up every other request until it is verified.
        await new Promise((resolve) => setImmediate(resolve));
        const rows: EventRow[] = await this.db('audit_events')
          .where({ ims_org_id: imsOrgId })
          .andWhere('seq', '>=', expectedSeq)
          .andWhere('seq', '<=', head.seq)
          .orderBy('seq')
          .limit(VERIFY_PAGE);
        for (const row of rows) {
          const event = this.fromRow(row);
          result.count += 1;
          if (event.seq !== expectedSeq) {
            return broken(expectedSeq, `event ${expectedSeq} is missing: the chain jumps to ${event.seq}`);
          }
          const { hash, ...unhashed } = event;
          if (chainHash(unhashed, previousHash) !== hash) {
            return broken(
              event.seq,
              `event ${event.seq} does not match its hash: it was edited, inserted or moved, or the events before it were`,
            );
          }
          previousHash = hash;
          expectedSeq += 1;
        }
        onProgress(result.count, head.seq);
        if (rows.length < VERIFY_PAGE) break;
      }
      if (expectedSeq - 1 < head.seq) {
        return broken(expectedSeq, `events ${expectedSeq} to ${head.seq} are missing from the end of the chain`);
      }
      if (previousHash !== head.hash) return broken(head.seq, `event ${head.seq} is not the recorded chain head`);
      // An event past the head is genuine only if the commit that stored it also moved the head
      // past it. Read the events first and the head second, so a commit landing in between
      // cannot pass for an insertion.
      const last = Number((await this.db('audit_events').where({ ims_org_id: imsOrgId }).max({ seq: 'seq' }))[0].seq ?? 0);
      const now = await this.readHead(imsOrgId);
      if (last > now.seq) {
        return broken(last, `event ${last} lies beyond the chain head (seq ${now.seq}): it was inserted`);
      }
      return { ...result, verified: true };
    });
  }

  private async readHead(imsOrgId: string): Promise<ChainHead> {
    const row = await this.db('audit_chain_heads').where({ ims_org_id: imsOrgId }).first();
    return row ? { seq: Number(row.seq), hash: row.hash } : { seq: 0, hash: GENESIS_HASH };
  }

  async get(id: string): Promise<StoredAuditEvent | undefined> {
    const row = await translateErrors(() => this.db<EventRow>('audit_events').where({ id }).first());
    return row && this.fromRow(row);
  }

  /**
   * The current heads of the given tenants' chains, created at seq 0 where missing. On
   * PostgreSQL the rows stay locked until the transaction ends, so concurrent writers (in
   * this process or another instance) extend each chain one after another. Locks are taken
   * in org order so two writers never wait on each other in a cycle. SQLite needs no lock:
   * it has one writer at a time.
   */
  private async lockHeads(trx: Knex.Transaction, imsOrgIds: string[]): Promise<Map<string, ChainHead>> {
    const orgs = [...new Set(imsOrgIds)].sort();
    if (orgs.length === 0) return new Map();
    await trx('audit_chain_heads')
      .insert(orgs.map((org) => ({ ims_org_id: org, seq: 0, hash: GENESIS_HASH })))
      .onConflict('ims_org_id')
      .ignore();
    const query = trx('audit_chain_heads').whereIn('ims_org_id', orgs).orderBy('ims_org_id');
    const rows: { ims_org_id: string; seq: number | string; hash: string }[] = await (this.postgres
      ? query.forUpdate()
      : query);
    return new Map(rows.map((row) => [row.ims_org_id, { seq: Number(row.seq), hash: row.hash }]));
  }

  private toRow(event: StoredAuditEvent): EventRow {
    return {
      id: event.id,
      ims_org_id: event.imsOrgId,
      seq: event.seq,
      action: event.action,
      source: event.source,
      service_id: event.service.serviceId,
      resource_id: event.resource.resourceId,
      user_identifier: event.userIdentifier,
      occurred_at: parseInstant(event.timestamp)!,
      received_at: parseInstant(event.receivedAt)!,
      tags: event.tags === undefined ? null : this.postgres ? event.tags : JSON.stringify(event.tags),
      hash: event.hash,
    };
  }

  private fromRow(row: EventRow): StoredAuditEvent {
    const tags = typeof row.tags === 'string' ? JSON.parse(row.tags) : row.tags;
    return {
      id: row.id,
      imsOrgId: row.ims_org_id,
      seq: Number(row.seq),
      action: row.action,
      source: row.source,
      service: { serviceId: row.service_id },
      resource: { resourceId: row.resource_id },
      userIdentifier: row.user_identifier,
      timestamp: formatInstant(Number(row.occurred_at)),
      receivedAt: formatInstant(Number(row.received_at)),
      ...(tags !== null && { tags }),
      hash: row.hash,
    };
  }
}

/** The event as it is stored and hashed: the timestamp in its canonical UTC form, no extra fields. */
function normalise(event: AuditEvent): AuditEvent {
  const instant = parseInstant(event.timestamp);
  if (instant === undefined) throw new Error(`unvalidated timestamp reached the store: ${event.timestamp}`);
  return {
    action: event.action,
    imsOrgId: event.imsOrgId,
    resource: { resourceId: event.resource.resourceId },
    service: { serviceId: event.service.serviceId },
    source: event.source,
    timestamp: formatInstant(instant),
    userIdentifier: event.userIdentifier,
    ...(event.tags !== undefined && { tags: { ...event.tags } }),
  };
}
