import { createHash } from 'node:crypto';
import type { AuditEvent } from '../domain/api';
import type { Principal } from '../auth/principal';
import { AuditError } from '../domain/errors';
import type { OperationId } from '../http/contract';
import type { Metrics } from '../metrics';
import { canonicalJson } from '../domain/canonicalJson';
import { sealPersonalData } from '../domain/linking';
import type { EventWriter } from '../store/eventWriter';

/**
 * Shared by the two write operations: queues the events for group commit, honouring an
 * Idempotency-Key. Answers the stored (or, for a replay, the originally stored) ids in
 * input order, with the headers the reply needs.
 */
export async function writeEvents(
  { writer, metrics }: { writer: EventWriter; metrics: Metrics },
  operationId: OperationId,
  events: AuditEvent[],
  principal: Principal,
  idempotencyKey: string | undefined,
): Promise<{ ids: string[]; headers: Record<string, string> }> {
  const idempotency = idempotencyKey && {
    clientId: principal.clientId,
    key: idempotencyKey,
    // The operation is part of the request: the same key and body on the other endpoint is a different request.
    requestHash: createHash('sha256').update(canonicalJson({ operationId, events })).digest('hex'),
  };
  const outcome = await writer.write({
    events,
    personal: sealPersonalData(events),
    idempotency: idempotency || undefined,
  });
  switch (outcome.kind) {
    case 'stored':
      metrics.recordAccepted(outcome.eventIds.length); // a replay stored nothing, so it counts nothing
      return { ids: outcome.eventIds, headers: { 'Idempotent-Replayed': 'false' } };
    case 'replayed':
      return { ids: outcome.eventIds, headers: { 'Idempotent-Replayed': 'true' } };
    case 'mismatch':
      throw new AuditError(
        'idempotency_key_reused',
        `Idempotency-Key ${JSON.stringify(idempotencyKey)} was already used with a different request body`,
      );
  }
}
