import type { OperationId } from '../http/contract';
import { createAuditEvent } from './createAuditEvent';
import { createAuditEvents } from './createAuditEvents';
import { getLiveness } from './getLiveness';
import { getReadiness } from './getReadiness';
import type { Handler } from './types';
import { verifyAuditChain } from './verifyAuditChain';

/** One handler per spec operation: an operation without a handler does not compile. */
export const handlers: { [Op in OperationId]: Handler<Op> } = {
  createAuditEvent,
  createAuditEvents,
  verifyAuditChain,
  getLiveness,
  getReadiness,
};
