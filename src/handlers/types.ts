import type { Readable } from 'node:stream';
import type { operations } from '../../generated/openapi';
import type { Principal } from '../auth/principal';
import type { Config } from '../config';
import type { OperationId } from '../http/contract';
import type { CursorCodec } from '../http/cursor';
import type { AuditStore } from '../store/auditStore';

/** What handlers may use; they never see knex or Koa. */
export interface Services {
  store: AuditStore;
  config: Config;
  cursors: CursorCodec;
}

type JsonContent<T> = T extends { content: { 'application/json': infer Body } } ? Body : never;
/** JSON typed by the spec; any other media type (an export) is streamed, its Content-Type set by the handler. */
type ResponseBody<T> = T extends { content: { 'application/json': infer Body } }
  ? Body
  : T extends { content: object }
    ? Readable
    : never;
type Parameters<Op extends OperationId, In extends string> = operations[Op]['parameters'] extends Record<In, infer P>
  ? NonNullable<P>
  : never;

/** A validated request: the body and parameters have the types the spec gives them. */
export interface HandlerInput<Op extends OperationId> {
  body: operations[Op] extends { requestBody: infer Body } ? JsonContent<NonNullable<Body>> : undefined;
  params: Parameters<Op, 'path'>;
  query: Parameters<Op, 'query'>;
  headers: Record<string, string | string[] | undefined>;
  principal: Principal;
}

type Responses<Op extends OperationId> = operations[Op]['responses'];

/** A success response the spec documents for the operation. Errors are thrown as ApiError. */
export type HandlerReply<Op extends OperationId> = {
  [Status in keyof Responses<Op>]: Status extends 200 | 201
    ? { status: Status; body: ResponseBody<Responses<Op>[Status]>; headers?: Record<string, string> }
    : never;
}[keyof Responses<Op>];

export type Handler<Op extends OperationId> = (input: HandlerInput<Op>, services: Services) => Promise<HandlerReply<Op>>;
