import type { components } from '../../generated/openapi';
import { formatInstant } from '../domain/instant';
import type { ErasureRecord } from '../store/erasure';

/** The spec's Erasure: an erasure's record as served (never the erased value). */
export function erasureOf(record: ErasureRecord): components['schemas']['Erasure'] {
  return {
    id: record.id,
    imsOrgId: record.imsOrgId,
    status: record.status,
    eventsErased: record.eventsErased,
    firstSeq: record.firstSeq,
    lastSeq: record.lastSeq,
    requestedBy: record.requestedBy,
    createdAt: formatInstant(record.createdAt),
    finishedAt: record.finishedAt === null ? null : formatInstant(record.finishedAt),
  };
}
