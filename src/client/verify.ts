// Verifying the service's log without its code: an event's leaf hash, a signed checkpoint, inclusion
// and consistency proofs. An independent implementation of what the server does (src/domain/merkle.ts,
// note.ts), so that it checks the server rather than trusting it. Synchronous and free of Node
// built-ins, so that a browser page runs it as it is: SHA-256 and Ed25519 come from @noble/hashes and
// @noble/curves (WebCrypto's are asynchronous), byte encodings from TextEncoder, atob and btoa.
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import type { components } from './openapi.js';

type StoredAuditEvent = components['schemas']['StoredAuditEvent'];
type InclusionProof = components['schemas']['InclusionProof'];

/** A check that failed; the message says, in plain words, which and why. */
export class VerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VerificationError';
  }
}

/** A key that checks checkpoint signatures, read from its note-format text. */
export interface VerifierKey {
  readonly name: string;
  /** The key id: 8 lower-case hex digits, as in the key text. */
  readonly keyId: string;
  /** The 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
}

/** A checkpoint whose signature verified. */
export interface Checkpoint {
  readonly origin: string;
  readonly treeSize: number;
  /** The tree's root hash, base64. */
  readonly rootHash: string;
  /** The name and id of the first given key whose signature verified. */
  readonly keyName: string;
  readonly keyId: string;
  /** Further lines of the checkpoint, uninterpreted (c2sp.org/tlog-checkpoint). */
  readonly extensions: readonly string[];
}

/** What verifyEventInclusion proved: the event is leaf seq − 1 of this signed tree. */
export interface VerifiedInclusion {
  readonly origin: string;
  readonly treeSize: number;
  readonly rootHash: string;
  readonly keyName: string;
  readonly keyId: string;
}

// --- Leaf hashes -------------------------------------------------------------------------------

/**
 * The event's leaf hash (base64), recomputed from the event exactly as the server serves it (the
 * spec's LeafHash schema): the event without `leafHash`, `salts` and `erased`, every personal-data
 * value replaced by its salted commitment (an erased one, served as null, by the commitment in
 * `erased`), as RFC 8785 canonical JSON, hashed as an RFC 9162 leaf.
 * Pass a StoredAuditEvent: an export line's `inclusionProof` is not part of the event. Throws a
 * VerificationError naming the field when the event lacks what the hash needs (a salt, say).
 */
export function leafHashOf(event: StoredAuditEvent): string {
  const record: unknown = event;
  if (!isRecord(record)) throw new VerificationError('the event is not a JSON object');
  // Without a prototype, so that a "__proto__" member of parsed JSON stays a member (and is hashed).
  const hashed: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (key !== 'leafHash' && key !== 'salts' && key !== 'erased') hashed[key] = record[key];
  }

  const salts = record.salts;
  if (!isRecord(salts))
    throw new VerificationError('the event has no salts object, so its leaf hash cannot be recomputed');
  // An erased field's commitment, served in place of its value and salt.
  const erased = record.erased;
  if (erased !== undefined && !isRecord(erased)) throw new VerificationError('erased is not an object');
  const erasedTags = erased?.tags;
  if (erasedTags !== undefined && !isRecord(erasedTags)) throw new VerificationError('erased.tags is not an object');
  const own = (object: Record<string, unknown> | undefined, key: string) =>
    object !== undefined && Object.hasOwn(object, key) ? object[key] : undefined;
  hashed.userIdentifier = personalData(
    'userIdentifier',
    record.userIdentifier,
    own(salts, 'userIdentifier'),
    own(erased, 'userIdentifier'),
  );

  const tags = record.tags;
  const tagSalts = salts.tags;
  if (tagSalts !== undefined && !isRecord(tagSalts)) throw new VerificationError('salts.tags is not an object');
  if (tags !== undefined) {
    if (!isRecord(tags)) throw new VerificationError('tags is not an object');
    const committed: Record<string, string> = Object.create(null) as Record<string, string>;
    for (const key of Object.keys(tags)) {
      committed[key] = personalData(
        `tags.${key}`,
        tags[key],
        own(tagSalts, key),
        own(erasedTags, key),
        `salts.tags.${key}`,
        `erased.tags.${key}`,
      );
    }
    hashed.tags = committed;
  }
  // A salt or commitment without its field is a sign of an edited event: nothing hashes it, so refuse it.
  for (const [list, name, what] of [
    [tagSalts, 'salts.tags', 'salt'],
    [erasedTags, 'erased.tags', 'commitment'],
  ] as const) {
    for (const key of Object.keys(list ?? {})) {
      if (!isRecord(tags) || !Object.hasOwn(tags, key)) {
        throw new VerificationError(`${name}.${key} is the ${what} of a tag the event does not have`);
      }
    }
  }
  for (const key of Object.keys(erased ?? {})) {
    if (key !== 'userIdentifier' && key !== 'tags') throw new VerificationError(`erased.${key} is no erased field`);
  }
  return toBase64(hashLeaf(utf8(canonicalJson(hashed))));
}

/**
 * The one place a personal-data field becomes its commitment: base64(SHA-256(salt || UTF-8
 * value)), or for an erased field (#14; its value null, its salt gone) the commitment the event
 * serves in `erased`. A field with both a value and an erased commitment is refused.
 */
function personalData(
  field: string,
  value: unknown,
  salt: unknown,
  erasedAs: unknown,
  saltField = `salts.${field}`,
  erasedField = `erased.${field}`,
): string {
  if (value === null) {
    if (erasedAs === undefined) throw new VerificationError(`${field} is null, but ${erasedField} is missing`);
    if (salt !== undefined) throw new VerificationError(`${field} is erased, but ${saltField} is still there`);
    const hash = fromBase64(erasedAs);
    if (hash?.length !== HASH_SIZE) throw new VerificationError(`${erasedField} is not ${HASH_SIZE} bytes of base64`);
    return erasedAs as string;
  }
  if (erasedAs !== undefined)
    throw new VerificationError(`${field} has a value, but ${erasedField} says it was erased`);
  if (typeof value !== 'string') throw new VerificationError(`${field} is not a string`);
  if (salt === undefined) throw new VerificationError(`${saltField} is missing, so ${field} cannot be checked`);
  const bytes = fromBase64(salt);
  if (bytes?.length !== SALT_SIZE) {
    throw new VerificationError(`${saltField} is not ${SALT_SIZE} bytes of standard base64`);
  }
  return toBase64(sha256(concat(bytes, utf8(value))));
}

/**
 * RFC 8785 (JCS): keys sorted by UTF-16 code units (sort()'s default order), no whitespace,
 * strings and numbers as JSON.stringify writes them, which RFC 8785 adopts. An event is two
 * levels deep; the depth bound keeps a crafted one from overflowing the stack.
 */
function canonicalJson(value: unknown, depth = 0): string {
  if (depth > MAX_DEPTH) throw new VerificationError(`the event is nested more than ${MAX_DEPTH} levels deep`);
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value))
      throw new VerificationError('the event holds a number JSON cannot hold');
    const json = JSON.stringify(value) as string | undefined;
    if (json === undefined) throw new VerificationError('the event holds a value JSON cannot hold');
    return json;
  }
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item, depth + 1)).join(',')}]`;
  const record = value as Record<string, unknown>;
  const members = Object.keys(record)
    .sort()
    .filter((key) => record[key] !== undefined)
    .map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key], depth + 1)}`);
  return `{${members.join(',')}}`;
}

// --- Merkle tree (RFC 9162 §2.1) ---------------------------------------------------------------

/** RFC 9162 §2.1.1: the root hash (base64) of the tree whose leaf hashes (base64) are given, in order. */
export function rootFromLeafHashes(leafHashes: readonly string[]): string {
  const tree = createTreeBuilder();
  leafHashes.forEach((leaf) => tree.append(leaf));
  return tree.root();
}

/** Computes a tree's root as its leaves arrive, in O(log n) memory. */
export interface TreeBuilder {
  /** Appends the next leaf, by its leaf hash (base64); a VerificationError if that is not 32 bytes. */
  append(leafHash: string): void;
  /** The number of leaves appended. */
  readonly size: number;
  /** The root hash (base64) of the tree of the leaves appended so far. */
  root(): string;
}

/**
 * A TreeBuilder. It keeps the frontier: the roots of the complete subtrees that tile the leaves so
 * far, one per 1 bit of the size, largest first. MTH splits a tree at its largest power of two, so
 * the root is the frontier folded from the right.
 */
export function createTreeBuilder(): TreeBuilder {
  const frontier: { hash: Uint8Array; size: number }[] = [];
  let size = 0;
  return {
    append(leafHash) {
      const leaf = fromBase64(leafHash);
      if (leaf?.length !== HASH_SIZE) throw new VerificationError(`leaf hash ${leafHash} is not 32 bytes of base64`);
      let node = { hash: leaf, size: 1 };
      while (frontier.length > 0 && frontier[frontier.length - 1].size === node.size) {
        const left = frontier.pop()!;
        node = { hash: nodeHash(left.hash, node.hash), size: 2 * node.size };
      }
      frontier.push(node);
      size++;
    },
    get size() {
      return size;
    },
    root() {
      if (frontier.length === 0) return toBase64(sha256(new Uint8Array(0)));
      let root = frontier[frontier.length - 1].hash;
      for (let i = frontier.length - 2; i >= 0; i--) root = nodeHash(frontier[i].hash, root);
      return toBase64(root);
    },
  };
}

/**
 * RFC 9162 §2.1.3.2: whether `proof` shows the leaf with hash `leafHash` at `leafIndex` in the
 * tree of `treeSize` leaves whose root is `rootHash` (all hashes base64). Never throws: anything
 * malformed is a failed proof. Meaningful only with a root signed for that size (a checkpoint).
 */
export function verifyInclusion(input: {
  leafHash: string;
  leafIndex: number;
  treeSize: number;
  proof: readonly string[];
  rootHash: string;
}): boolean {
  const { leafIndex, treeSize } = input ?? {};
  const leaf = hashOf(input?.leafHash);
  const root = hashOf(input?.rootHash);
  const proof = hashesOf(input?.proof);
  if (!isSize(leafIndex) || !isSize(treeSize) || leafIndex >= treeSize || !leaf || !root || !proof) return false;
  let fn = leafIndex;
  let sn = treeSize - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      r = nodeHash(p, r);
      while (!isOdd(fn) && fn !== 0) [fn, sn] = [half(fn), half(sn)];
    } else {
      r = nodeHash(r, p);
    }
    [fn, sn] = [half(fn), half(sn)];
  }
  return sn === 0 && equal(r, root);
}

/**
 * RFC 9162 §2.1.4.2: whether `proof` shows the tree of `fromSize` leaves with root `fromRoot` to be
 * a prefix of the tree of `toSize` leaves with root `toRoot` (base64). Equal sizes need an empty
 * proof and equal roots; a proof from the empty tree proves nothing and fails. Never throws.
 */
export function verifyConsistency(input: {
  fromSize: number;
  toSize: number;
  fromRoot: string;
  toRoot: string;
  proof: readonly string[];
}): boolean {
  const { fromSize: m, toSize: n } = input ?? {};
  const rootM = hashOf(input?.fromRoot);
  const rootN = hashOf(input?.toRoot);
  const proof = hashesOf(input?.proof);
  if (!isSize(m) || !isSize(n) || m === 0 || m > n || !rootM || !rootN || !proof) return false;
  if (m === n) return proof.length === 0 && equal(rootM, rootN);
  if (proof.length === 0) return false;
  // Step 1: when m is a power of two, the old root is the first node of the path.
  const path = isPowerOfTwo(m) ? [rootM, ...proof] : proof;
  let fn = m - 1;
  let sn = n - 1;
  while (isOdd(fn)) [fn, sn] = [half(fn), half(sn)];
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (!isOdd(fn) && fn !== 0) [fn, sn] = [half(fn), half(sn)];
    } else {
      sr = nodeHash(sr, c);
    }
    [fn, sn] = [half(fn), half(sn)];
  }
  return sn === 0 && equal(fr, rootM) && equal(sr, rootN);
}

// --- Signed checkpoints (c2sp.org/signed-note, c2sp.org/tlog-checkpoint) -----------------------

/**
 * Reads a verifier key in the note format Go's note.NewVerifier reads,
 * `<name>+<8 hex digits of key id>+<base64(0x01 || Ed25519 public key)>`, and checks that its id
 * is the first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key).
 */
export function parseVerifierKey(text: string): VerifierKey {
  if (typeof text !== 'string') throw new VerificationError('a verifier key is text');
  const [name, id, ...rest] = text.split('+');
  if (rest.length === 0) throw new VerificationError('malformed verifier key: it is not <name>+<key id>+<key>');
  // Base64 has '+' in its alphabet, so the key is everything after the second '+'.
  const bytes = fromBase64(rest.join('+'));
  if (bytes === undefined || bytes.length === 0) throw new VerificationError('malformed verifier key: bad base64');
  if (bytes[0] !== ALG_ED25519) throw new VerificationError(`unknown verifier key algorithm ${bytes[0]}`);
  if (bytes.length !== 33) throw new VerificationError('malformed verifier key: an Ed25519 key is 32 bytes');
  if (!isValidName(name)) throw new VerificationError("verifier key name must be non-empty, without spaces or '+'");
  if (!/^[0-9a-fA-F]{8}$/.test(id)) throw new VerificationError('malformed verifier key id: not 8 hex digits');
  const publicKey = bytes.subarray(1);
  const keyId = keyIdOf(name, publicKey);
  if (id.toLowerCase() !== keyId) throw new VerificationError('verifier key id does not match its key');
  return { name, keyId, publicKey };
}

/**
 * Checks a signed checkpoint's signatures (verifyNote), then reads it as a c2sp.org/tlog-checkpoint:
 * origin, tree size, root hash and any extension lines. Throws a VerificationError naming what failed.
 */
export function verifyCheckpoint(note: string | Uint8Array, keys: readonly (string | VerifierKey)[]): Checkpoint {
  const { text, keyName, keyId } = openNote(note, keys, 'checkpoint');
  return { ...parseCheckpointText(text), keyName, keyId };
}

/** A signed note whose signature by one of the given keys verified. */
export interface VerifiedNote {
  /** The signed text, ending in a newline. */
  readonly text: string;
  /** The name and id of the first given key whose signature verified. */
  readonly keyName: string;
  readonly keyId: string;
}

/**
 * Checks a C2SP signed note as Go's golang.org/x/mod/sumdb/note Open does. At least one
 * signature by a given key must verify; signatures by keys not given are ignored (so a note may
 * carry others' cosignatures); a signature by a given key that does not verify fails the whole
 * note, as it does in Go. Throws a VerificationError naming what failed.
 */
export function verifyNote(note: string | Uint8Array, keys: readonly (string | VerifierKey)[]): VerifiedNote {
  return openNote(note, keys, 'note');
}

/** verifyNote, its messages naming the note as what it is. */
function openNote(
  note: string | Uint8Array,
  keys: readonly (string | VerifierKey)[],
  what: 'note' | 'checkpoint',
): VerifiedNote {
  const malformedNote = (why: string) => new VerificationError(`malformed ${what}: ${why}`);
  const list: unknown = keys;
  if (!Array.isArray(list)) throw new VerificationError('the verifier keys must be a list');
  const verifiers = list.map(toVerifierKey);
  const message = typeof note === 'string' ? note : decodeUtf8(note);
  if (typeof message !== 'string' || LONE_SURROGATE.test(message)) throw malformedNote('it is not valid UTF-8 text');
  if (hasControl(message, true)) throw malformedNote('it holds a control character other than newline');
  // The text ends at the last blank line: signature lines hold no newline, so no blank line either.
  const split = message.lastIndexOf('\n\n');
  if (split < 0) throw malformedNote('it has no blank line before its signatures');
  const text = message.slice(0, split + 1);
  const block = message.slice(split + 2);
  if (block === '' || !block.endsWith('\n')) throw malformedNote('its signature lines do not end in a newline');
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_SIGNATURES) throw malformedNote(`it has more than ${MAX_SIGNATURES} signatures`);

  const signed = utf8(text);
  const verified: VerifierKey[] = [];
  const seen = new Set<string>();
  for (const [i, line] of lines.entries()) {
    if (!line.startsWith(SIGNATURE_PREFIX)) throw malformedNote(`signature line ${i + 1} does not start with "— "`);
    const body = line.slice(SIGNATURE_PREFIX.length);
    const space = body.indexOf(' ');
    const name = space < 0 ? body : body.slice(0, space);
    const bytes = space < 0 ? undefined : fromBase64(body.slice(space + 1));
    if (!isValidName(name) || bytes === undefined || bytes.length < 5) {
      throw malformedNote(`signature line ${i + 1} is not "— <key name> <base64 signature>"`);
    }
    const keyId = hex(bytes.subarray(0, 4));
    const known = verifiers.filter((key) => key.name === name && key.keyId === keyId);
    if (known.length === 0) continue; // c2sp.org/signed-note: signatures by unknown keys are ignored
    const label = `${name}+${keyId}`;
    if (known.length > 1) throw new VerificationError(`ambiguous key ${label}: more than one verifier key has it`);
    // As in Go, only a key's first signature counts; later ones by the same key are not checked.
    if (seen.has(label)) continue;
    seen.add(label);
    const signature = bytes.subarray(4);
    if (signature.length !== 64 || !ed25519Verify(signature, signed, known[0].publicKey)) {
      throw new VerificationError(`the ${what}'s signature by key ${label} does not verify: it was altered or forged`);
    }
    verified.push(known[0]);
  }
  if (verified.length === 0) {
    throw new VerificationError(`the ${what} is not signed by any of the given keys`);
  }
  return { text, keyName: verified[0].name, keyId: verified[0].keyId };
}

/**
 * Whether a checkpoint's origin names the tenant's log: the spec's `<key name>/<imsOrgId>`, the
 * org with every byte outside `A-Z a-z 0-9 - . _ ~ ! $ & ' ( ) * , ; = : @` written as %XX.
 */
export function originIsForTenant(origin: string, imsOrgId: string): boolean {
  if (typeof origin !== 'string' || typeof imsOrgId !== 'string' || imsOrgId === '') return false;
  const suffix = `/${escapeOrgId(imsOrgId)}`;
  return origin.length > suffix.length && origin.endsWith(suffix);
}

/**
 * The whole check a viewer's "Verify" button makes for one event and its proof
 * (GET /audits/{id}/proof): the checkpoint's signature by one of `keys`, that it is the event's
 * tenant's log and the proof's tree size, that the event still hashes to its leaf hash and the
 * proof is for that leaf at index seq − 1, and that the proof leads to the signed root. Throws a
 * VerificationError saying, in plain words, which failed.
 */
export function verifyEventInclusion(
  event: StoredAuditEvent,
  proof: InclusionProof,
  keys: readonly (string | VerifierKey)[],
): VerifiedInclusion {
  if (!isRecord(proof)) throw new VerificationError('the proof is not a JSON object');
  if (!isRecord(event)) throw new VerificationError('the event is not a JSON object');
  if (typeof proof.checkpoint !== 'string') throw new VerificationError('the proof carries no checkpoint');
  const checkpoint = verifyCheckpoint(proof.checkpoint, keys);
  if (checkpoint.treeSize !== proof.treeSize) {
    throw new VerificationError(
      `the checkpoint is for a tree of ${checkpoint.treeSize} events, but the proof is for ${String(proof.treeSize)}`,
    );
  }
  if (!originIsForTenant(checkpoint.origin, event.imsOrgId)) {
    throw new VerificationError(
      `the checkpoint is of the log ${checkpoint.origin}, not of tenant ${String(event.imsOrgId)}'s log`,
    );
  }
  const recomputed = leafHashOf(event);
  if (recomputed !== event.leafHash) {
    throw new VerificationError("the event's content does not match its leaf hash: it was changed after it was logged");
  }
  if (proof.leafHash !== event.leafHash)
    throw new VerificationError('the proof is for another event (its leaf hash differs)');
  if (!isSize(event.seq) || event.seq < 1) throw new VerificationError("the event's seq is not a positive integer");
  if (proof.leafIndex !== event.seq - 1) {
    throw new VerificationError(
      `the proof is for position ${String(proof.leafIndex)}, but the event's seq ${event.seq} puts it at ${event.seq - 1}`,
    );
  }
  if (event.seq > checkpoint.treeSize) {
    throw new VerificationError(
      `the event's seq ${event.seq} is past the checkpoint's tree of ${checkpoint.treeSize} events`,
    );
  }
  const included = verifyInclusion({
    leafHash: recomputed,
    leafIndex: event.seq - 1,
    treeSize: checkpoint.treeSize,
    proof: proof.inclusionProof,
    rootHash: checkpoint.rootHash,
  });
  if (!included) {
    throw new VerificationError("the proof does not lead to the checkpoint's root: the event is not in the signed log");
  }
  const { origin, treeSize, rootHash, keyName, keyId } = checkpoint;
  return { origin, treeSize, rootHash, keyName, keyId };
}

/** c2sp.org/tlog-checkpoint: origin, decimal tree size, base64 root hash, then any extension lines. */
function parseCheckpointText(text: string): Omit<Checkpoint, 'keyName' | 'keyId'> {
  const refuse = (why: string) => new VerificationError(`malformed checkpoint: ${why}`);
  const [origin, size, root, ...extensions] = text.slice(0, -1).split('\n');
  if (root === undefined) throw refuse('it has fewer than three lines');
  if ([origin, size, root, ...extensions].includes('')) throw refuse('it has an empty line');
  // Decimal without leading zeros, as the spec says; a tree of 2^53 leaves or more is not ours to read.
  if (!/^(?:0|[1-9][0-9]{0,15})$/.test(size) || !Number.isSafeInteger(Number(size))) {
    throw refuse('its tree size is not a decimal number below 2^53');
  }
  if (hashOf(root) === undefined) throw refuse(`its root hash is not ${HASH_SIZE} bytes of base64`);
  return { origin, treeSize: Number(size), rootHash: root, extensions };
}

// --- Helpers -----------------------------------------------------------------------------------

const HASH_SIZE = 32;
const SALT_SIZE = 16;
const MAX_DEPTH = 32;
/** The signature type byte c2sp.org/signed-note assigns to Ed25519. */
const ALG_ED25519 = 0x01;
const SIGNATURE_PREFIX = '\u2014 '; // em dash, space
/** Go's note.Open refuses notes with more; c2sp.org/signed-note asks verifiers to accept at least 16. */
const MAX_SIGNATURES = 100;
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * RFC 8032 Ed25519 in its strict form (zip215: false): canonical encodings only, small-order keys
 * refused. noble checks the cofactored equation where Go checks the cofactorless one; they differ
 * only on signatures a key's own holder crafts with torsion components, never for a forger.
 */
function ed25519Verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  try {
    return ed25519.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}

/** A key as given: its text, or a VerifierKey (checked, since plain JavaScript may pass anything). */
function toVerifierKey(key: unknown): VerifierKey {
  if (typeof key === 'string') return parseVerifierKey(key);
  if (
    isRecord(key) &&
    isValidName(key.name as string | undefined) &&
    typeof key.keyId === 'string' &&
    key.publicKey instanceof Uint8Array &&
    key.publicKey.length === 32 &&
    keyIdOf(key.name as string, key.publicKey) === key.keyId
  ) {
    return { name: key.name as string, keyId: key.keyId, publicKey: key.publicKey };
  }
  throw new VerificationError('a verifier key is its text or what parseVerifierKey returned for it');
}

/** Go's note.keyHash: the first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key), as hex. */
function keyIdOf(name: string, publicKey: Uint8Array): string {
  return hex(sha256(concat(utf8(`${name}\n`), Uint8Array.of(ALG_ED25519), publicKey)).subarray(0, 4));
}

/** c2sp.org/signed-note: key names are non-empty, without Unicode spaces or '+'. */
function isValidName(name: string | undefined): name is string {
  return typeof name === 'string' && name !== '' && !LONE_SURROGATE.test(name) && !/[\p{White_Space}+]/u.test(name);
}

function hasControl(text: string, newlineAllowed: boolean): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 && !(newlineAllowed && code === 0x0a)) return true;
  }
  return false;
}

function escapeOrgId(imsOrgId: string): string {
  let escaped = '';
  for (const byte of utf8(imsOrgId)) {
    const char = String.fromCharCode(byte);
    escaped += /[A-Za-z0-9\-._~!$&'()*,;=:@]/.test(char)
      ? char
      : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return escaped;
}

/** RFC 9162 §2.1.1: SHA-256(0x00 || leaf). */
function hashLeaf(leaf: Uint8Array): Uint8Array {
  return sha256(concat(Uint8Array.of(0x00), leaf));
}

/** RFC 9162 §2.1.1: SHA-256(0x01 || left || right). */
function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(concat(Uint8Array.of(0x01), left, right));
}

/** A 32-byte hash from its base64, or undefined. */
function hashOf(text: unknown): Uint8Array | undefined {
  const bytes = fromBase64(text);
  return bytes?.length === HASH_SIZE ? bytes : undefined;
}

function hashesOf(list: unknown): Uint8Array[] | undefined {
  if (!Array.isArray(list)) return undefined;
  const hashes = list.map(hashOf);
  return hashes.every((hash) => hash !== undefined) ? hashes : undefined;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Standard padded base64 (RFC 4648 §4) to bytes, or undefined unless the text is exactly the
 * canonical encoding of its bytes (the padding bits zero), so that no two spellings of one
 * signature or hash are accepted.
 */
function fromBase64(text: unknown): Uint8Array | undefined {
  if (typeof text !== 'string' || !BASE64.test(text)) return undefined;
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return toBase64(bytes) === text ? bytes : undefined;
}

function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

const encoder = new TextEncoder();

function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

function decodeUtf8(bytes: unknown): string | undefined {
  if (!(bytes instanceof Uint8Array)) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((length, part) => length + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// Sizes and indexes are safe integers; the arithmetic divides rather than shifts, since bitwise
// operators truncate to 32 bits.
function isSize(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

const half = (n: number): number => Math.floor(n / 2);
const isOdd = (n: number): boolean => n % 2 === 1;
const isPowerOfTwo = (n: number): boolean => n > 0 && 2 ** Math.round(Math.log2(n)) === n;
