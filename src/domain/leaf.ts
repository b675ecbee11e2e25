// An event's leaf in its tenant's Merkle tree (the spec's LeafHash schema): the RFC 8785 canonical
// JSON of its hashed form, which is the event as served without `leafHash`, `salts` and `erased`,
// each personal-data value replaced by its salted commitment SHA-256(salt || value). Erasing a
// value and its salt (#14) serves the value as null and its commitment in `erased`, so every hash
// still holds.
import { hash, randomFillSync } from 'node:crypto';
import type { StoredAuditEvent } from './api';

/** Bytes of random salt per personal-data value. */
export const SALT_BYTES = 16;

/** The salts the writer gives a new event: one for userIdentifier, one per tag. */
export interface Salts {
  userIdentifier: string;
  tags?: Record<string, string>;
}

/** The salts as served: an erased field's salt is gone. */
export type StoredSalts = StoredAuditEvent['salts'];

/** The commitments of an event's erased fields, served in place of their values and salts. */
export type Erased = NonNullable<StoredAuditEvent['erased']>;

/** The event as hashed: everything but its leaf hash, salts and erased commitments. */
export type HashedEvent = Omit<StoredAuditEvent, 'leafHash' | 'salts' | 'erased'>;

/** How many salts an event with these tags needs: one for userIdentifier, one per tag. */
export function saltCount(tags: Record<string, string> | undefined): number {
  return 1 + (tags === undefined ? 0 : Object.keys(tags).length);
}

// Salts are cut from a pool of CSPRNG output, each byte used once: a randomBytes call per event
// cost about 2.8 µs, a slice of the pool 0.1 (Node's randomUUID caches its entropy the same way).
const POOL_BYTES = 64 * 1024;
const pool = Buffer.alloc(POOL_BYTES);
let poolAt = POOL_BYTES;

/** `length` bytes from the platform's CSPRNG, never handed out twice. */
export function randomSaltBytes(length: number): Buffer {
  if (length > POOL_BYTES) return randomFillSync(Buffer.alloc(length));
  if (poolAt + length > POOL_BYTES) {
    randomFillSync(pool);
    poolAt = 0;
  }
  // A copy: the pool is refilled in place once used up.
  return Buffer.from(pool.subarray(poolAt, (poolAt += length)));
}

/** Fresh salts for an event's personal-data values, cut from `random` (saltCount(tags) × SALT_BYTES CSPRNG bytes). */
export function saltsFor(
  tags: Record<string, string> | undefined,
  random: Buffer = randomSaltBytes(SALT_BYTES * saltCount(tags)),
): Salts {
  const cut = (i: number) => random.toString('base64', i * SALT_BYTES, (i + 1) * SALT_BYTES);
  if (tags === undefined) return { userIdentifier: cut(0) };
  // fromEntries defines own properties, so a tag named __proto__ is a tag like any other.
  return { userIdentifier: cut(0), tags: Object.fromEntries(Object.keys(tags).map((key, i) => [key, cut(i + 1)])) };
}

/** base64(SHA-256(salt || UTF-8 value)): a personal-data value as the leaf commits to it. */
export function commitment(salt: string, value: string): string {
  // One buffer, one hash call: this runs for every personal-data value stored or verified.
  const input = Buffer.allocUnsafe(SALT_BYTES + Buffer.byteLength(value, 'utf8'));
  const saltLength = input.write(salt, 0, SALT_BYTES, 'base64');
  if (saltLength !== SALT_BYTES) throw new Error(`a salt is ${SALT_BYTES} bytes`);
  input.write(value, SALT_BYTES, 'utf8');
  return hash('sha256', input, 'base64');
}

/** Each personal-data value's commitment, as the leaf holds it in place of the value. */
export interface Commitments {
  userIdentifier: string;
  tags?: Record<string, string>;
}

/**
 * The commitments of an event's personal-data values: each from its value and salt, or for an
 * erased field (its value null) the one `erased` holds. Throws if a field has neither, or both.
 */
export function commitmentsOf(
  event: Pick<HashedEvent, 'userIdentifier' | 'tags'>,
  salts: StoredSalts,
  erased?: Erased,
): Commitments {
  const userIdentifier = committed(
    'userIdentifier',
    event.userIdentifier,
    salts.userIdentifier,
    erased?.userIdentifier,
  );
  const erasedTags = erased?.tags ?? {};
  const tags = event.tags;
  for (const key of Object.keys(erasedTags)) {
    if (tags === undefined || !Object.hasOwn(tags, key)) throw new Error(`erased tag ${JSON.stringify(key)} is no tag`);
  }
  if (tags === undefined) return { userIdentifier };
  return {
    userIdentifier,
    // fromEntries defines own properties, so a tag named __proto__ is a tag like any other.
    tags: Object.fromEntries(
      Object.keys(tags).map((key) => {
        const salt = salts.tags && Object.hasOwn(salts.tags, key) ? salts.tags[key] : undefined;
        const erasedAs = Object.hasOwn(erasedTags, key) ? erasedTags[key] : undefined;
        return [key, committed(`tag ${JSON.stringify(key)}`, tags[key], salt, erasedAs)];
      }),
    ),
  };
}

/** A field's commitment: computed from its value and salt, or served in `erased` once erased. */
function committed(field: string, value: string | null, salt: unknown, erasedAs: unknown): string {
  if (value === null) {
    if (typeof erasedAs !== 'string') throw new Error(`${field} is null without an erased commitment`);
    if (salt !== undefined) throw new Error(`${field} is erased but keeps a salt`);
    return erasedAs;
  }
  if (erasedAs !== undefined) throw new Error(`${field} has both a value and an erased commitment`);
  if (typeof salt !== 'string') throw new Error(`${field} has no salt`);
  return commitment(salt, value);
}

/**
 * The leaf bytes' text: canonicalJson of the hashed form (a test checks this against it),
 * written out in RFC 8785 key order because it runs for every stored and verified event.
 */
export function leafText(event: HashedEvent, commitments: Commitments): string {
  const s = JSON.stringify;
  let tags = '';
  if (event.tags !== undefined) {
    // The committed tags, written out: sort() orders keys by UTF-16 code units, as RFC 8785 asks.
    const committed = commitments.tags ?? {};
    const entries = Object.keys(event.tags)
      .sort()
      .map((key) => {
        if (!Object.hasOwn(committed, key)) throw new Error(`tag ${s(key)} has no commitment`);
        return `${s(key)}:"${committed[key]}"`;
      });
    tags = `"tags":{${entries.join(',')}},`;
  }
  return (
    `{"action":${s(event.action)},"id":${s(event.id)},"imsOrgId":${s(event.imsOrgId)},` +
    `"receivedAt":${s(event.receivedAt)},"resource":{"resourceId":${s(event.resource.resourceId)}},"seq":${event.seq},` +
    `"service":{"serviceId":${s(event.service.serviceId)}},"source":${s(event.source)},${tags}` +
    `"timestamp":${s(event.timestamp)},"userIdentifier":"${commitments.userIdentifier}"}`
  );
}

/** The leaf hash of an event with these commitments, SHA-256(0x00 || leaf bytes) (RFC 9162 §2.1.1). */
export function leafHashOf(event: HashedEvent, commitments: Commitments): Buffer {
  // U+0000 is the one byte 0x00 in UTF-8: the prefix and the text hash as one string, no copy.
  return hash('sha256', `\u0000${leafText(event, commitments)}`, 'buffer');
}

/** The event's leaf hash in base64, from its values and salts (and the commitments of erased fields). */
export function eventLeafHash(event: HashedEvent, salts: StoredSalts, erased?: Erased): string {
  return leafHashOf(event, commitmentsOf(event, salts, erased)).toString('base64');
}
