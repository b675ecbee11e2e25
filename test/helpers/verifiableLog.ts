// A tenant's verifiable log built in memory with the server's own domain code (merkle.ts for the
// tree and proofs, note.ts for keys and signed checkpoints), and events whose leaf hashes the
// client's leafHashOf computes: what the real server serves, until it does.
import { randomBytes } from 'node:crypto';
import { leafHashOf, type StoredAuditEvent } from '../../src/client/index';
import { inclusionProof, treeHash } from '../../src/domain/merkle';
import { MemoryTree } from './memoryTree';
import { formatCheckpoint, generateSignerKey, parseSignerKey, signNote, verifierKeyOf } from '../../src/domain/note';

const base64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');
const salt = (): string => randomBytes(16).toString('base64');

/** An event as the server stores it, with fresh salts and its leaf hash. */
export function storedEvent(imsOrgId: string, seq: number, tags?: Record<string, string>): StoredAuditEvent {
  const unsalted = {
    id: `0193${seq.toString(16).padStart(4, '0')}-7c4a-7d2e-9b1a-2f4e5d6c7b8a`,
    receivedAt: new Date(Date.UTC(2026, 11, 1, 12, 0, 0, seq)).toISOString(),
    seq,
    action: seq % 3 === 0 ? 'delete' : 'update',
    imsOrgId,
    resource: { resourceId: `invoice/${seq}` },
    service: { serviceId: 'SKMS-1234' },
    source: 'billing',
    timestamp: new Date(Date.UTC(2026, 11, 1, 11, 59, 0, seq)).toISOString(),
    userIdentifier: `user${seq % 7}@example.com`,
    ...(tags && { tags }),
  };
  const salts = {
    userIdentifier: salt(),
    ...(tags && { tags: Object.fromEntries(Object.keys(tags).map((key) => [key, salt()])) }),
  };
  const event = { ...unsalted, salts, leafHash: '' };
  return { ...event, leafHash: leafHashOf(event) };
}

export interface TestLog {
  readonly imsOrgId: string;
  readonly events: StoredAuditEvent[];
  /** The verifier key text of the log's signing key. */
  readonly verifierKey: string;
  /** The signed checkpoint of the first `size` events. */
  checkpoint(size?: number): string;
  /** The audit path (base64) of event `seq` in the tree of `size` events. */
  proof(seq: number, size?: number): string[];
  /** The root (base64) of the tree of `size` events. */
  root(size?: number): string;
}

/** The origin the spec gives a tenant's checkpoints: `<key name>/<imsOrgId, %XX-escaped>`. */
export function originOf(keyName: string, imsOrgId: string): string {
  const escaped = [...Buffer.from(imsOrgId, 'utf8')]
    .map((byte) => {
      const char = String.fromCharCode(byte);
      return /[A-Za-z0-9\-._~!$&'()*,;=:@]/.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    })
    .join('');
  return `${keyName}/${escaped}`;
}

export function buildLog(
  imsOrgId: string,
  count: number,
  options: { keyName?: string; signerKey?: string } = {},
): TestLog {
  const keyName = options.keyName ?? 'audit.example';
  const signer = parseSignerKey(options.signerKey ?? generateSignerKey(keyName));
  const events = Array.from({ length: count }, (_, i) =>
    storedEvent(imsOrgId, i + 1, i % 2 === 0 ? { region: 'eu-west-1', [`k${i % 5}`]: `v${i}` } : undefined),
  );
  const tree = new MemoryTree();
  for (const event of events) tree.append(new Uint8Array(Buffer.from(event.leafHash, 'base64')));
  const read = tree.read;
  return {
    imsOrgId,
    events,
    verifierKey: verifierKeyOf(signer),
    checkpoint: (size = count) =>
      signNote(
        formatCheckpoint({ origin: originOf(signer.name, imsOrgId), size, rootHash: treeHash(size, read) }),
        signer,
      ),
    proof: (seq, size = count) => inclusionProof(seq - 1, size, read).map(base64),
    root: (size = count) => base64(treeHash(size, read)),
  };
}
