// The viewer's checks, made in the page with the client package's own functions: the server's
// answers are inputs to them, never their result.
import {
  originIsForTenant,
  verifyCheckpoint,
  verifyConsistency,
  verifyEventInclusion,
  VerificationError,
  type Checkpoint,
} from '../client/index';
import type { Api, StoredAuditEvent } from './api';

export type Outcome = { ok: true; lines: string[] } | { ok: false; lines: string[] };

/** The checkpoints this page has verified, per tenant: the latest, to check each later one against. */
const seen = new Map<string, Checkpoint & { at: Date }>();

const keyLabel = (checkpoint: Checkpoint) => `${checkpoint.keyName}+${checkpoint.keyId}`;

/**
 * Accepts a verified checkpoint of a tenant as the page's latest, if the log only grew since the
 * one it saw before: a consistency proof from the server, checked here. Returns what it checked.
 */
async function accept(api: Api, org: string, checkpoint: Checkpoint): Promise<string> {
  const earlier = seen.get(org);
  const remember = () => seen.set(org, { ...checkpoint, at: new Date() });
  if (!earlier || earlier.treeSize === 0) {
    remember();
    return earlier
      ? 'The earlier checkpoint of this session was of the empty log; any log extends it.'
      : 'This is the first checkpoint of this tenant the page has seen this session; the next check proves the log only grew from it.';
  }
  if (checkpoint.treeSize < earlier.treeSize) {
    throw new VerificationError(
      `the log shrank: this checkpoint has ${checkpoint.treeSize} events, but the page saw ${earlier.treeSize} earlier this session`,
    );
  }
  if (checkpoint.treeSize === earlier.treeSize) {
    if (checkpoint.rootHash !== earlier.rootHash) {
      throw new VerificationError(
        `the log forked: two checkpoints of size ${checkpoint.treeSize} with different root hashes`,
      );
    }
    return `Same as the checkpoint the page saw at ${earlier.at.toLocaleTimeString()} (size ${earlier.treeSize}).`;
  }
  const proof = await api.consistency(org, earlier.treeSize, checkpoint.treeSize);
  const consistent = verifyConsistency({
    fromSize: earlier.treeSize,
    toSize: checkpoint.treeSize,
    fromRoot: earlier.rootHash,
    toRoot: checkpoint.rootHash,
    proof: proof.consistencyProof,
  });
  if (!consistent) {
    throw new VerificationError(
      `the consistency proof from size ${earlier.treeSize} to ${checkpoint.treeSize} does not verify: the log was rewritten`,
    );
  }
  remember();
  return `Consistent with the checkpoint of size ${earlier.treeSize} the page saw at ${earlier.at.toLocaleTimeString()}: the log only grew (${checkpoint.treeSize - earlier.treeSize} events added).`;
}

/** Sorts failures: a VerificationError is the log's; anything else (an ApiError) is the request's. */
function failed(error: unknown): Outcome {
  if (error instanceof VerificationError) return { ok: false, lines: [`Verification failed: ${error.message}.`] };
  throw error;
}

/**
 * The detail panel's Verify: the event as the server serves it now, its inclusion proof (with the
 * checkpoint of that tree) and the verifier key; the checkpoint's signature, the event's leaf hash,
 * the proof, and the checkpoint's consistency with the one seen before, all checked here.
 */
export async function verifyEvent(api: Api, id: string): Promise<{ event: StoredAuditEvent; outcome: Outcome }> {
  const [event, proof, keys] = await Promise.all([api.event(id), api.proof(id), api.verifierKeys()]);
  try {
    const verified = verifyEventInclusion(event, proof, keys);
    const checkpoint = verifyCheckpoint(proof.checkpoint, keys);
    const consistency = await accept(api, event.imsOrgId, checkpoint);
    return {
      event,
      outcome: {
        ok: true,
        lines: [
          `Verified: event ${event.seq} is in the log of ${event.imsOrgId}, against the checkpoint of size ${verified.treeSize} signed with key ${verified.keyName}+${verified.keyId}.`,
          'The signature, the leaf hash recomputed from the event, and the inclusion proof were all checked in this page.',
          consistency,
        ],
      },
    };
  } catch (error) {
    return { event, outcome: failed(error) };
  }
}

/** "Verify log": the tenant's latest checkpoint, its signature, and its consistency with the one seen before. */
export async function verifyLog(api: Api, org: string): Promise<Outcome> {
  const [note, keys] = await Promise.all([api.checkpoint(org), api.verifierKeys()]);
  try {
    const checkpoint = verifyCheckpoint(note, keys);
    if (!originIsForTenant(checkpoint.origin, org)) {
      throw new VerificationError(`the checkpoint is of the log ${checkpoint.origin}, not of tenant ${org}'s`);
    }
    const consistency = await accept(api, org, checkpoint);
    return {
      ok: true,
      lines: [
        `Verified: the latest checkpoint of ${org} has ${checkpoint.treeSize} events, root ${checkpoint.rootHash}, signed with key ${keyLabel(checkpoint)}.`,
        consistency,
      ],
    };
  } catch (error) {
    return failed(error);
  }
}

/** The tenant's current tree size, from its signed checkpoint: where the live tail starts. */
export async function currentSize(api: Api, org: string): Promise<number> {
  const [note, keys] = await Promise.all([api.checkpoint(org), api.verifierKeys()]);
  return verifyCheckpoint(note, keys).treeSize;
}
