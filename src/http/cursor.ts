import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { canonicalJson } from '../domain/canonicalJson';
import { AuditError } from '../domain/errors';
import type { EventFilter, Position } from '../domain/filter';

interface CursorPayload {
  /** The position's occurred_at, epoch milliseconds. */
  t: number;
  /** The position's event id. */
  id: string;
  /** Digest of the query the cursor belongs to: the tenant and every filter. */
  q: string;
}

const MAC_BYTES = 16;

/**
 * Paging cursors: a keyset position, opaque to clients. `base64url(JSON).base64url(HMAC)`:
 * the HMAC makes an altered cursor detectable, and the query digest inside it ties the cursor
 * to the tenant and filters it was issued for, so it cannot continue a different listing.
 */
export class CursorCodec {
  constructor(private readonly key: Buffer) {}

  encode(position: Position, filter: EventFilter): string {
    const payload: CursorPayload = { t: position.occurredAt, id: position.id, q: queryDigest(filter) };
    const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
    return `${body}.${this.mac(body).toString('base64url')}`;
  }

  /** The position a cursor names; 400 unless this server issued it for this very query. */
  decode(cursor: string, filter: EventFilter): Position {
    const [body, mac, ...rest] = cursor.split('.');
    const expected = this.mac(body);
    const given = Buffer.from(mac ?? '', 'base64url');
    if (rest.length > 0 || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw badCursor('is not a cursor this server issued, or it was altered');
    }
    const payload = parsePayload(body);
    if (!payload) throw badCursor('is not a cursor this server issued, or it was altered');
    if (payload.q !== queryDigest(filter)) {
      throw badCursor('belongs to a different query: keep imsOrgId and every filter unchanged while paging');
    }
    return { occurredAt: payload.t, id: payload.id };
  }

  private mac(body: string): Buffer {
    return createHmac('sha256', this.key).update(body).digest().subarray(0, MAC_BYTES);
  }
}

function parsePayload(body: string): CursorPayload | undefined {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  const { t, id, q } = (value ?? {}) as Partial<CursorPayload>;
  if (!Number.isSafeInteger(t) || typeof id !== 'string' || typeof q !== 'string') return undefined;
  return { t: t!, id, q };
}

/**
 * The same for the same tenant and filters, however the query string spelled them. Taken over
 * the whole filter object (canonical JSON, tags sorted), so a filter added to EventFilter is
 * bound to the cursor without being named here.
 */
function queryDigest(filter: EventFilter): string {
  const canonical = canonicalJson({ ...filter, tags: filter.tags && [...filter.tags].sort(compareTags) });
  return createHash('sha256').update(canonical).digest('base64url').slice(0, 22);
}

function compareTags([keyA, valueA]: string[], [keyB, valueB]: string[]): number {
  return keyA < keyB ? -1 : keyA > keyB ? 1 : valueA < valueB ? -1 : valueA > valueB ? 1 : 0;
}

function badCursor(problem: string): AuditError {
  return new AuditError('bad_request', `query.cursor ${problem}`, [{ path: 'query.cursor', message: problem }]);
}
