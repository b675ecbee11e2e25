import type { OperationId } from '../http/contract';
import { createAuditEvent } from './createAuditEvent';
import { exportAuditEvents } from './exportAuditEvents';
import { getAuditEvent } from './getAuditEvent';
import { getLiveness } from './getLiveness';
import { getReadiness } from './getReadiness';
import { listAuditEvents } from './listAuditEvents';
import type { Handler } from './types';

/** One handler per spec operation: an operation without a handler does not compile. */
export const handlers: { [Op in OperationId]: Handler<Op> } = {
  createAuditEvent,
  getAuditEvent,
  listAuditEvents,
  exportAuditEvents,
  getLiveness,
  getReadiness,
};
