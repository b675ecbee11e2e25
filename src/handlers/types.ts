import type { Readable } from 'node:stream';
import type { operations } from '../../generated/openapi';
import type { Principal } from '../auth/principal';
import type { CheckpointNotary } from '../domain/checkpoints';
import type { Config } from '../config';
import type { DevSignIn } from '../auth/devSignIn';
import type { ErasureJobs } from '../erasure';
import type { DocsSite } from '../docs/site';
import type { ViewerSite } from '../docs/viewerSite';
import type { Contract, OperationId } from '../http/contract';
import type { Metrics } from '../metrics';
import type { CursorCodec } from '../http/cursor';
import type { EventStreams } from '../http/eventStream';
import type { Deliverer } from '../http/deliverer';
import type { SubscriptionStore } from '../store/subscriptions';
import type { AuditStore } from '../store/auditStore';
import type { EventWriter } from '../store/eventWriter';

/** What handlers may use; they never see knex or Koa. */
export interface Services {
  store: AuditStore;
  /** The only way handlers write events: group commit with backpressure. */
  writer: EventWriter;
  config: Config;
  contract: Contract;
  metrics: Metrics;
  docs: DocsSite;
  /** The viewer page and its bundle (GET /, /viewer/{asset}). */
  viewer: ViewerSite;
  /** Mints the viewer's dev token (POST /dev/token); undefined outside dev mode. */
  devSignIn?: DevSignIn;
  cursors: CursorCodec;
  /** Server-Sent Event streams of tenants' logs (#15). */
  streams: EventStreams;
  /** Webhook subscriptions (#15) and this instance's deliverer. */
  subscriptions: SubscriptionStore;
  deliverer: Deliverer;
  /** Signs tenants' checkpoints with the service's key(s) (#13). */
  notary: CheckpointNotary;
  /** Erasures of data subjects' personal data (#14). */
  erasures: ErasureJobs;
}

type JsonContent<T> = T extends { content: { 'application/json': infer Body } } ? Body : never;
type Parameters<Op extends OperationId, In extends string> =
  operations[Op]['parameters'] extends Partial<Record<In, infer P>> ? NonNullable<P> : never;

/** A validated request: the body and parameters have the types the spec gives them. */
export interface HandlerInput<Op extends OperationId> {
  body: operations[Op] extends { requestBody: infer Body } ? JsonContent<NonNullable<Body>> : undefined;
  params: Parameters<Op, 'path'>;
  query: Parameters<Op, 'query'>;
  headers: Record<string, string | string[] | undefined>;
  /** The peer's address (the socket's; the service trusts no forwarding header). */
  remoteAddress?: string;
  principal: Principal;
}

type Responses<Op extends OperationId> = operations[Op]['responses'];

/**
 * One body per documented media type. A JSON body is serialised by the pipeline; any other is
 * sent as it is (a Readable is streamed), under exactly the media type the spec names (contract
 * tests compare it).
 */
type ReplyBody<Response> = Response extends { content: infer Content }
  ? {
      [Media in keyof Content]: Media extends 'application/json'
        ? { body: Content[Media]; contentType?: never }
        : { body: string | Uint8Array | Readable; contentType: Media };
    }[keyof Content]
  : never;

/** A success response the spec documents for the operation. Errors are thrown as AuditError (src/domain/errors.ts). */
export type HandlerReply<Op extends OperationId> = {
  [Status in keyof Responses<Op>]: Status extends 200 | 201 | 202
    ? { status: Status; headers?: Record<string, string> } & ReplyBody<Responses<Op>[Status]>
    : never;
}[keyof Responses<Op>];

export type Handler<Op extends OperationId> = (
  input: HandlerInput<Op>,
  services: Services,
) => Promise<HandlerReply<Op>>;
