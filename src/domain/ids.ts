import { randomUUID } from 'node:crypto';

/**
 * A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits, so ids sort by
 * creation time. Built on randomUUID, whose batched randomness is several times cheaper
 * per id than filling a fresh buffer; only the version nibble and the time prefix change.
 */
export function uuidv7(now = Date.now()): string {
  const time = now.toString(16).padStart(12, '0');
  const random = randomUUID();
  return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${random.slice(15)}`;
}

// Server-minted ids (UUIDv7, lower case). Anything else names no event and need not reach the database.
const EVENT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Whether `id` could be an id this service minted. */
export const isEventId = (id: string): boolean => EVENT_ID.test(id);
