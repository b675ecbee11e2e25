// The verifiable log's identity and its notary: each tenant's log is named `<key name>/<org>`
// (its checkpoint origin), and its checkpoints are signed by every current key of the service.
import { AuditError } from './errors';
import { toBase64, utf8 } from './crypto';
import { formatCheckpoint, isValidKeyName, signNote, verifierKeyOf, type Signer } from './note';

/**
 * The checkpoint origin of a tenant's log, as the spec's getCheckpoint defines it: the key name,
 * '/', and the UTF-8 imsOrgId with every byte outside `A-Z a-z 0-9 - . _ ~ ! $ & ' ( ) * , ; = : @`
 * written as %XX (upper-case hex). So the origin is one line without spaces or '+', and, since '/'
 * and '%' are escaped, no two orgs (nor two key names) share one.
 */
export function logOrigin(keyName: string, imsOrgId: string): string {
  if (!isValidKeyName(keyName)) throw new AuditError('bad_request', "a key name is non-empty, without spaces or '+'");
  if (imsOrgId === '') throw new AuditError('bad_request', 'imsOrgId must not be empty');
  // A lone surrogate would be encoded as U+FFFD, giving two orgs one origin.
  if (!imsOrgId.isWellFormed()) throw new AuditError('bad_request', 'imsOrgId is not well-formed Unicode');
  let escaped = '';
  for (const byte of utf8(imsOrgId)) {
    escaped += ORIGIN_SAFE[byte] ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return `${keyName}/${escaped}`;
}

export interface NotaryOptions {
  /** Signed checkpoints kept, at most (least recently used go first). */
  cacheEntries?: number;
}

/**
 * Signs tenants' checkpoints with the service's keys, newest first. During a rotation the new key
 * and the old one both sign, so verifiers that pin either keep working. All keys share one name,
 * since the name is the first part of every log's origin: renaming would start other logs.
 */
export class CheckpointNotary {
  readonly keyName: string;
  readonly #signers: readonly Signer[];
  readonly #verifierKeys: string;
  readonly #cacheEntries: number;
  // Map order is insertion order: a hit moves its entry to the end, eviction takes the first.
  readonly #cache = new Map<string, string>();

  constructor(signers: readonly Signer[], { cacheEntries = 4096 }: NotaryOptions = {}) {
    if (signers.length === 0) throw new Error('a checkpoint notary needs at least one signer');
    const [newest] = signers;
    const other = signers.find((signer) => signer.name !== newest.name);
    if (other) {
      throw new Error(
        `every checkpoint key must have one name, the log's: "${newest.name}" and "${other.name}" differ`,
      );
    }
    if (!Number.isSafeInteger(cacheEntries) || cacheEntries < 0) {
      throw new Error(`cacheEntries is a non-negative integer, not ${cacheEntries}`);
    }
    this.keyName = newest.name;
    this.#signers = [...signers];
    this.#verifierKeys = this.#signers.map((signer) => verifierKeyOf(signer) + '\n').join('');
    this.#cacheEntries = cacheEntries;
    // Fails now, not at the first request, on a duplicate key or too many keys.
    signNote('\n', this.#signers);
  }

  /**
   * The C2SP signed note of the tenant's checkpoint at this size: one signature line per key,
   * newest first. The same (org, size, root) always gets the same bytes, since Ed25519 is
   * deterministic; recent ones are cached. A bad size or root is a bad_request.
   */
  sign(imsOrgId: string, treeSize: number, rootHash: Uint8Array): string {
    // The root is part of the key, so a cached note never vouches for a root it was not signed over.
    const key = `${treeSize} ${toBase64(rootHash)} ${imsOrgId}`;
    const cached = this.#cache.get(key);
    if (cached !== undefined) {
      this.#cache.delete(key);
      this.#cache.set(key, cached);
      return cached;
    }
    const origin = logOrigin(this.keyName, imsOrgId);
    const note = signNote(formatCheckpoint({ origin, size: treeSize, rootHash }), this.#signers);
    if (this.#cacheEntries > 0) {
      if (this.#cache.size >= this.#cacheEntries) this.#cache.delete(this.#cache.keys().next().value!);
      this.#cache.set(key, note);
    }
    return note;
  }

  /** The verifier key of every signer, newest first, each line ending in '\n': GET /audits/checkpoint/key. */
  verifierKeys(): string {
    return this.#verifierKeys;
  }
}

/** The bytes an origin keeps as they are: RFC 3986 unreserved and sub-delims, ':' and '@' (pchar). */
const ORIGIN_SAFE: readonly boolean[] = Array.from({ length: 256 }, (_, byte) =>
  /^[A-Za-z0-9\-._~!$&'()*,;=:@]$/.test(String.fromCharCode(byte)),
);
