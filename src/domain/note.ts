// C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys, read and written exactly as Go's
// golang.org/x/mod/sumdb/note does, and the checkpoints they carry (c2sp.org/tlog-checkpoint).
// Every refusal is a bad_request naming the problem, since notes and keys may come from outside.
import { AuditError } from './errors';
import { concat, ed25519FromSeed, ed25519Verifier, fromBase64, randomSeed, sha256, toBase64, utf8 } from './crypto';
import { HASH_SIZE, type Hash } from './merkle';

/** A key that signs notes. The private key stays inside `sign`. */
export interface Signer {
  readonly name: string;
  readonly keyId: number;
  /** The 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  readonly sign: (message: Uint8Array) => Uint8Array;
}

/** A key that checks note signatures. */
export interface Verifier {
  readonly name: string;
  readonly keyId: number;
  /** The 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  readonly verify: (message: Uint8Array, signature: Uint8Array) => boolean;
}

/** One signature line of a note: the key's name and id, and the signature as written. */
export interface NoteSignature {
  readonly name: string;
  readonly keyId: number;
  readonly base64: string;
}

export interface OpenedNote {
  /** The signed text, ending in a newline. */
  readonly text: string;
  /** Signatures by known keys, each verified. */
  readonly signatures: NoteSignature[];
  /** Signatures by keys not among the verifiers, which c2sp.org/signed-note says to ignore. */
  readonly unverified: NoteSignature[];
}

/** c2sp.org/tlog-checkpoint: a log's origin, its tree size and the root hash at that size. */
export interface Checkpoint {
  readonly origin: string;
  readonly size: number;
  readonly rootHash: Hash;
  /** Optional further lines, opaque and each non-empty; c2sp.org/tlog-checkpoint discourages them. */
  readonly extensions?: readonly string[];
}

/** A new random Ed25519 signer key, as the text parseSignerKey reads: PRIVATE+KEY+<name>+<id>+<key>. */
export function generateSignerKey(name: string): string {
  requireName(name, 'key name');
  const seed = randomSeed(32);
  const { publicKey } = ed25519FromSeed(seed);
  return `PRIVATE+KEY+${name}+${hex8(keyIdOf(name, publicKey))}+${toBase64(withAlgorithm(seed))}`;
}

/** Go's note.NewSigner: a signer from its key text, whose id must match the key it holds. */
export function parseSignerKey(text: string): Signer {
  const [private1, private2, name, id, key, ...rest] = text.split('+');
  if (private1 !== 'PRIVATE' || private2 !== 'KEY' || key === undefined) {
    throw new AuditError('bad_request', 'malformed signer key: it is not PRIVATE+KEY+<name>+<key id>+<key>');
  }
  // Base64 has '+' in its alphabet, so the key is everything after the fourth '+'.
  const seed = decodeKey([key, ...rest].join('+'), 'signer');
  requireName(name, 'signer key name');
  const { publicKey, sign } = ed25519FromSeed(seed);
  const keyId = keyIdOf(name, publicKey);
  if (parseKeyId(id, 'signer') !== keyId) throw new AuditError('bad_request', 'signer key id does not match its key');
  return { name, keyId, publicKey, sign };
}

/** The verifier key text of a signer (or of a verifier): <name>+<id>+base64(0x01 || public key). */
export function verifierKeyOf(key: Pick<Signer, 'name' | 'keyId' | 'publicKey'>): string {
  return `${key.name}+${hex8(key.keyId)}+${toBase64(withAlgorithm(key.publicKey))}`;
}

/** Go's note.NewVerifier: a verifier from its key text, whose id must match its key. */
export function parseVerifierKey(text: string): Verifier {
  const [name, id, ...rest] = text.split('+');
  if (rest.length === 0) throw new AuditError('bad_request', 'malformed verifier key: it is not <name>+<key id>+<key>');
  const publicKey = decodeKey(rest.join('+'), 'verifier');
  requireName(name, 'verifier key name');
  const keyId = keyIdOf(name, publicKey);
  if (parseKeyId(id, 'verifier') !== keyId) {
    throw new AuditError('bad_request', 'verifier key id does not match its key');
  }
  return { name, keyId, publicKey, verify: ed25519Verifier(publicKey) };
}

/**
 * Go's note.Sign: the text, a blank line, and one signature line per signer, in the order given
 * (a rotating log signs with its new key and its old one). No signer, or more than a verifier
 * accepts, is refused; so is one key twice, whose second line Go's note.Open would drop.
 */
export function signNote(text: string, signers: Signer | readonly Signer[]): string {
  requireNoteText(text);
  const all: readonly Signer[] = Array.isArray(signers) ? signers : [signers as Signer];
  if (all.length === 0 || all.length > MAX_SIGNATURES) {
    throw new AuditError('bad_request', `a note is signed by 1 to ${MAX_SIGNATURES} keys, not ${all.length}`);
  }
  const seen = new Set<string>();
  const message = utf8(text);
  const lines = all.map((signer) => {
    requireName(signer.name, 'signer name');
    const key = `${signer.name}+${hex8(signer.keyId)}`;
    if (seen.has(key)) throw new AuditError('bad_request', `key ${key} is given twice`);
    seen.add(key);
    const signature = signer.sign(message);
    return `${SIGNATURE_PREFIX}${signer.name} ${toBase64(concat(uint32(signer.keyId), signature))}\n`;
  });
  return `${text}\n${lines.join('')}`;
}

/**
 * Go's note.Open: the text of a signed note and its signatures, each verified if its key
 * (name and id) is among `verifiers`. Refuses a malformed note, a note whose signature by a
 * known key does not verify, and a note with no signature by a known key.
 */
export function openNote(note: string | Uint8Array, verifiers: readonly Verifier[]): OpenedNote {
  const message = typeof note === 'string' ? note : decodeUtf8(note);
  if (message === undefined || !message.isWellFormed()) throw malformed('it is not valid UTF-8');
  if (hasControl(message, true)) throw malformed('it holds a control character other than newline');
  // The text ends at the last blank line: signature lines hold no newline, so no blank line either.
  const split = message.lastIndexOf('\n\n');
  if (split < 0) throw malformed('it has no blank line before its signatures');
  const text = message.slice(0, split + 1);
  const block = message.slice(split + 2);
  if (block === '' || !block.endsWith('\n')) throw malformed('its signature lines do not end in a newline');
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_SIGNATURES) throw malformed(`it has more than ${MAX_SIGNATURES} signatures`);

  const signed = utf8(text);
  const signatures: NoteSignature[] = [];
  const unverified: NoteSignature[] = [];
  const seenKeys = new Set<string>();
  const seenUnverified = new Set<string>();
  for (const [i, line] of lines.entries()) {
    if (!line.startsWith(SIGNATURE_PREFIX)) throw malformed(`signature line ${i + 1} does not start with "— "`);
    const body = line.slice(SIGNATURE_PREFIX.length);
    const space = body.indexOf(' ');
    const name = space < 0 ? body : body.slice(0, space);
    const base64 = space < 0 ? '' : body.slice(space + 1);
    const bytes = fromBase64(base64);
    if (!isValidKeyName(name) || base64 === '' || bytes === undefined || bytes.length < 5) {
      throw malformed(`signature line ${i + 1} is not "— <key name> <base64 signature>"`);
    }
    const keyId = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0);
    const signature = { name, keyId, base64 };
    const known = verifiers.filter((v) => v.name === name && v.keyId === keyId);
    if (known.length === 0) {
      // Unknown keys are ignored, as c2sp.org/signed-note requires; repeated lines are listed once.
      if (!seenUnverified.has(body)) unverified.push(signature);
      seenUnverified.add(body);
      continue;
    }
    const key = `${name}+${hex8(keyId)}`;
    if (known.length > 1) throw new AuditError('bad_request', `ambiguous key ${key}: more than one verifier has it`);
    // As Go does, only a key's first signature counts; later ones by the same key are dropped unchecked.
    if (seenKeys.has(key)) continue;
    seenKeys.add(key);
    if (!known[0].verify(signed, bytes.subarray(4))) {
      throw new AuditError('bad_request', `invalid signature for key ${key}`);
    }
    signatures.push(signature);
  }
  if (signatures.length === 0) throw new AuditError('bad_request', 'note has no verifiable signatures');
  return { text, signatures, unverified };
}

/** c2sp.org/tlog-checkpoint: `<origin>\n<size>\n<base64 root hash>\n`, then any extension lines. */
export function formatCheckpoint({ origin, size, rootHash, extensions = [] }: Checkpoint): string {
  if (origin === '' || hasControl(origin, false) || !origin.isWellFormed()) {
    throw new AuditError('bad_request', 'a checkpoint origin is one non-empty line without control characters');
  }
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new AuditError('bad_request', `a checkpoint tree size is a non-negative safe integer, not ${size}`);
  }
  if (rootHash.length !== HASH_SIZE) {
    throw new AuditError('bad_request', `a checkpoint root hash is ${HASH_SIZE} bytes, not ${rootHash.length}`);
  }
  for (const line of extensions) {
    if (line === '' || hasControl(line, false) || !line.isWellFormed()) {
      throw new AuditError('bad_request', 'a checkpoint extension is one non-empty line without control characters');
    }
  }
  return [origin, String(size), toBase64(rootHash), ...extensions].map((line) => line + '\n').join('');
}

/** Reads a checkpoint's text (as openNote returns it); extension lines are kept, not interpreted. */
export function parseCheckpoint(text: string): Checkpoint {
  const refuse = (why: string) => new AuditError('bad_request', `malformed checkpoint: ${why}`);
  if (!text.endsWith('\n')) throw refuse('it does not end in a newline');
  if (hasControl(text, true) || !text.isWellFormed()) throw refuse('it holds a control character or is not valid text');
  const [origin, size, root, ...extensions] = text.slice(0, -1).split('\n');
  if (root === undefined) throw refuse('it has fewer than three lines');
  if ([origin, size, root, ...extensions].includes('')) throw refuse('it has an empty line');
  // Decimal without leading zeros, as the spec says; a tree above 2^53 leaves is not ours to read.
  if (!/^(?:0|[1-9][0-9]{0,15})$/.test(size) || !Number.isSafeInteger(Number(size))) {
    throw refuse(`its tree size is not a decimal number below 2^53`);
  }
  const rootHash = fromBase64(root);
  if (rootHash?.length !== HASH_SIZE) throw refuse(`its root hash is not ${HASH_SIZE} bytes of base64`);
  return { origin, size: Number(size), rootHash, ...(extensions.length > 0 && { extensions }) };
}

/** The signature type byte c2sp.org/signed-note assigns to Ed25519. */
const ALG_ED25519 = 0x01;
const SIGNATURE_PREFIX = '\u2014 '; // em dash, space
/** Go's note.Open refuses notes with more; c2sp.org/signed-note asks verifiers to accept at least 16. */
const MAX_SIGNATURES = 100;

/** Go's note.keyHash: the first four bytes, big-endian, of SHA-256(name || 0x0A || 0x01 || public key). */
function keyIdOf(name: string, publicKey: Uint8Array): number {
  const digest = sha256(concat(utf8(`${name}\n`), withAlgorithm(publicKey)));
  return new DataView(digest.buffer, digest.byteOffset).getUint32(0);
}

/** The 32 key bytes of base64(0x01 || key), the encoding of both key texts. */
function decodeKey(base64: string, kind: 'signer' | 'verifier'): Uint8Array {
  const bytes = fromBase64(base64);
  if (bytes === undefined || bytes.length === 0)
    throw new AuditError('bad_request', `malformed ${kind} key: bad base64`);
  if (bytes[0] !== ALG_ED25519) throw new AuditError('bad_request', `unknown ${kind} key algorithm ${bytes[0]}`);
  if (bytes.length !== 33) throw new AuditError('bad_request', `malformed ${kind} key: an Ed25519 key is 32 bytes`);
  return bytes.subarray(1);
}

function parseKeyId(text: string, kind: 'signer' | 'verifier'): number {
  if (!/^[0-9a-fA-F]{8}$/.test(text)) throw new AuditError('bad_request', `malformed ${kind} key id: not 8 hex digits`);
  return Number.parseInt(text, 16);
}

/** c2sp.org/signed-note: key names are non-empty, without Unicode spaces or '+'. */
export function isValidKeyName(name: string): boolean {
  return name !== '' && name.isWellFormed() && !/[\p{White_Space}+]/u.test(name);
}

function requireName(name: string, what: string): void {
  if (!isValidKeyName(name)) throw new AuditError('bad_request', `${what} must be non-empty, without spaces or '+'`);
}

/** What Go's note.Open would read back: newline-terminated text without other control characters. */
function requireNoteText(text: string): void {
  if (!text.endsWith('\n')) throw new AuditError('bad_request', 'a note text must end in a newline');
  if (hasControl(text, true) || !text.isWellFormed()) {
    throw new AuditError('bad_request', 'a note text must be valid text without control characters but newline');
  }
}

/** Whether the text holds an ASCII control character (below U+0020), other than newline if allowed. */
function hasControl(text: string, newlineAllowed: boolean): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 && !(newlineAllowed && code === 0x0a)) return true;
  }
  return false;
}

function malformed(why: string): AuditError {
  return new AuditError('bad_request', `malformed note: ${why}`);
}

function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

function withAlgorithm(key: Uint8Array): Uint8Array {
  return concat(Uint8Array.of(ALG_ED25519), key);
}

function uint32(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value);
  return bytes;
}

function hex8(value: number): string {
  return value.toString(16).padStart(8, '0');
}
