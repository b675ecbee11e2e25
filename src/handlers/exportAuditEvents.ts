import { Readable } from 'node:stream';
import type { StoredAuditEvent } from '../domain/api';
import { toBase64 } from '../domain/crypto';
import { AuditError } from '../domain/errors';
import type { LogHead } from '../domain/linking';
import { EXPORT_FORMATS } from '../http/exportFormats';
import type { LogStore } from '../store/logStore';
import { eventFilter } from './eventFilter';
import type { Handler } from './types';

export const exportAuditEvents: Handler<'exportAuditEvents'> = async ({ query, principal }, { store, notary }) => {
  principal.assertCovers(query.imsOrgId);
  // The contract applied the spec's defaults.
  const format = EXPORT_FORMATS[query.format!];
  if (query.proofs && query.format !== 'ndjson') {
    throw new AuditError('bad_request', `proofs=true needs format=ndjson, not ${query.format}`);
  }
  let head: LogHead | undefined;
  if (query.proofs) head = await store.log.head(query.imsOrgId);
  const batches = await store.exportEvents(eventFilter(query));
  const body = head
    ? withFirstLine(
        `${JSON.stringify({ checkpoint: notary.sign(query.imsOrgId, head.size, Buffer.from(head.rootHash, 'base64')) })}\n`,
        format.render(proven(batches, store.log, query.imsOrgId, head)),
      )
    : format.render(batches);
  return {
    status: 200,
    contentType: format.contentType,
    // One chunk ahead of the socket, not Readable.from's default of 16: memory stays flat per export.
    body: Readable.from(body, { highWaterMark: 1 }),
    headers: { 'Content-Disposition': `attachment; filename="audit-events.${format.fileExtension}"` },
  };
};

/**
 * The events of the tree cut at `head` (later ones are left out), each with its inclusion proof
 * to that tree: one read of the nodes per batch, which its events mostly share.
 */
async function* proven(
  batches: AsyncIterable<StoredAuditEvent[]>,
  log: LogStore,
  imsOrgId: string,
  head: LogHead,
): AsyncIterable<StoredAuditEvent[]> {
  for await (const batch of batches) {
    const inTree = batch.filter((event) => event.seq <= head.size);
    if (inTree.length === 0) continue;
    const proofs = await log.inclusionProofs(
      imsOrgId,
      inTree.map((event) => event.seq),
      head.size,
      head,
    );
    yield inTree.map((event, i) => ({ ...event, inclusionProof: proofs[i].proof.map(toBase64) }));
  }
}

async function* withFirstLine(line: string, rest: AsyncIterable<string>): AsyncIterable<string> {
  yield line;
  yield* rest;
}
