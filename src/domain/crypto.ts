// The platform's cryptography and byte encodings, in one small module, so that merkle.ts and note.ts
// hold only the formats and algorithms of RFC 9162 and C2SP. A browser port replaces this file (with
// a synchronous SHA-256 and Ed25519 such as @noble/hashes and @noble/curves, since WebCrypto's are
// asynchronous); its signatures speak Uint8Array only, which both platforms share.
import { createPrivateKey, createPublicKey, hash, randomBytes, sign, verify } from 'node:crypto';

/** SHA-256 of the bytes. */
export function sha256(data: Uint8Array): Uint8Array {
  return hash('sha256', data, 'buffer');
}

/**
 * An Ed25519 key (RFC 8032) from its 32-byte private seed: the public key, and a signing function
 * that holds the private key in its closure, out of reach of loggers and serialisers.
 */
export function ed25519FromSeed(seed: Uint8Array): {
  publicKey: Uint8Array;
  sign: (message: Uint8Array) => Uint8Array;
} {
  if (seed.length !== 32) throw new Error('an Ed25519 seed is 32 bytes');
  // node:crypto imports raw Ed25519 keys only inside their fixed ASN.1 wrappers (RFC 8410).
  const privateKey = createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]),
    format: 'der',
    type: 'pkcs8',
  });
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  return {
    publicKey: new Uint8Array(spki.subarray(SPKI_ED25519_PREFIX.length)),
    sign: (message) => new Uint8Array(sign(null, message, privateKey)),
  };
}

/** A function that checks Ed25519 signatures by one 32-byte public key. */
export function ed25519Verifier(publicKey: Uint8Array): (message: Uint8Array, signature: Uint8Array) => boolean {
  if (publicKey.length !== 32) throw new Error('an Ed25519 public key is 32 bytes');
  const key = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, publicKey]), format: 'der', type: 'spki' });
  return (message, signature) => signature.length === 64 && verify(null, message, key, signature);
}

/** Bytes from the platform's cryptographically secure generator. */
export function randomSeed(length = 32): Uint8Array {
  return new Uint8Array(randomBytes(length));
}

/** Standard base64 with padding (RFC 4648 §4). */
export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('base64');
}

/**
 * Standard padded base64 (RFC 4648 §4) to bytes, or undefined unless the text is exactly the
 * canonical encoding of what it decodes to: Buffer's decoder skips characters outside the
 * alphabet and ignores padding bits, and a signature format must not accept two spellings of the
 * same bytes (Go's decoder, by default, ignores padding bits too; this is its Strict mode).
 */
export function fromBase64(text: string): Uint8Array | undefined {
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? new Uint8Array(bytes) : undefined;
}

/** The bytes of a string in UTF-8. */
export function utf8(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'utf8'));
}

/** The bytes, concatenated. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

// DER prefixes of an Ed25519 PKCS #8 private key and SubjectPublicKeyInfo (RFC 8410 §7 and §4),
// each followed by the 32 raw key bytes.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
