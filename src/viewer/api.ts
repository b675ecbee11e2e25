// The service's API as the viewer calls it: the client package's typed client for the JSON and
// text operations, fetch() for the two that stream (the export, read whole into a file; the event
// stream, read as it comes). Every call sends both credentials from memory; a 503 is retried
// with backoff (Retry-After when the server gives one), and every other failure becomes an
// ApiError whose message is meant for a person (failures.ts).
import { createAuditClient, type components } from '../client/index';
import type { Session } from './session';
import { ApiError, describeFailure } from './failures';
import { filterQuery, type Filters } from './view';

export { ApiError, describeFailure } from './failures';

export type StoredAuditEvent = components['schemas']['StoredAuditEvent'];
export type InclusionProof = components['schemas']['InclusionProof'];
export type ConsistencyProof = components['schemas']['ConsistencyProof'];
export type EventPage = components['schemas']['AuditEventPage'];

/** What the page shows while a call waits to be retried. */
export type BusyNotice = (notice: { seconds: number; attempt: number; of: number } | undefined) => void;

const ATTEMPTS = 5;
const PAGE_SIZE = 25;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The wait before retry `attempt` (1-based): the server's Retry-After, else 1, 2, 4, 8 s, each with jitter. */
function backoffMs(response: Response | undefined, attempt: number): number {
  const retryAfter = Number(response?.headers.get('retry-after'));
  if (Number.isFinite(retryAfter) && retryAfter > 0) return Math.min(retryAfter, 30) * 1000;
  return 2 ** (attempt - 1) * 1000 * (0.75 + Math.random() * 0.25);
}

interface Outcome<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

export class Api {
  private readonly client;
  private keys?: Promise<string[]>;

  constructor(
    private readonly session: Session,
    private readonly onBusy: BusyNotice,
    private readonly baseUrl = location.origin,
  ) {
    this.client = createAuditClient({ baseUrl, apiKey: session.clientId, token: () => session.token });
  }

  /** Runs a call, retrying it while the service answers 503 (or cannot be reached). */
  private async run<T>(call: () => Promise<Outcome<T>>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let outcome: Outcome<T> | undefined;
      try {
        outcome = await call();
      } catch (error) {
        if ((error as Error).name === 'AbortError') throw error;
        if (attempt === ATTEMPTS)
          throw new ApiError('unreachable', 'The service cannot be reached. Check your connection and try again.');
      }
      if (outcome && outcome.response.ok) {
        this.onBusy(undefined);
        return outcome.data as T;
      }
      if (outcome && (outcome.response.status !== 503 || attempt === ATTEMPTS)) {
        this.onBusy(undefined);
        throw describeFailure(outcome.response.status, outcome.error);
      }
      const wait = backoffMs(outcome?.response, attempt);
      this.onBusy({ seconds: Math.ceil(wait / 1000), attempt, of: ATTEMPTS - 1 });
      await sleep(wait);
    }
  }

  /** A raw fetch with both credentials, in the same retry loop; the body is left to the caller. */
  private fetch(path: string, query: URLSearchParams, init: RequestInit = {}): Promise<Response> {
    return this.run(async () => {
      const response = await fetch(`${this.baseUrl}${path}?${query.toString()}`, {
        ...init,
        headers: { 'x-api-key': this.session.clientId, authorization: `Bearer ${this.session.token}`, ...init.headers },
      });
      if (response.ok) return { data: response, response };
      const text = await response.text();
      let error: unknown = text;
      try {
        error = JSON.parse(text);
      } catch {
        // not JSON: keep the text
      }
      return { error, response };
    });
  }

  list(org: string, filters: Filters, cursor?: string): Promise<EventPage> {
    const { tags, ...fields } = filters;
    return this.run(() =>
      this.client.GET('/audits', {
        params: { query: { imsOrgId: org, ...fields, tag: tags.length ? tags : undefined, cursor, limit: PAGE_SIZE } },
      }),
    );
  }

  event(id: string): Promise<StoredAuditEvent> {
    return this.run(() => this.client.GET('/audits/{id}', { params: { path: { id } } }));
  }

  proof(id: string): Promise<InclusionProof> {
    return this.run(() => this.client.GET('/audits/{id}/proof', { params: { path: { id } } }));
  }

  consistency(org: string, from: number, to: number): Promise<ConsistencyProof> {
    return this.run(() => this.client.GET('/audits/consistency', { params: { query: { imsOrgId: org, from, to } } }));
  }

  checkpoint(org: string): Promise<string> {
    return this.run(() =>
      this.client.GET('/audits/checkpoint', { params: { query: { imsOrgId: org } }, parseAs: 'text' }),
    );
  }

  /** The verifier keys: the one the reader pinned, else the server's, fetched once a session. */
  verifierKeys(): Promise<string[]> {
    if (this.session.pinnedKey) return Promise.resolve([this.session.pinnedKey]);
    this.keys ??= this.run(() => this.client.GET('/audits/checkpoint/key', { parseAs: 'text' })).then(
      (text) => text.split('\n').filter(Boolean),
      (error: unknown) => {
        this.keys = undefined;
        throw error;
      },
    );
    return this.keys;
  }

  /** The whole export as a file, and the name the server gives it. */
  async export(org: string, filters: Filters, format: 'ndjson' | 'csv'): Promise<{ blob: Blob; filename: string }> {
    const query = filterQuery(org, filters);
    query.set('format', format);
    const response = await this.fetch('/audits/export', query);
    const disposition = response.headers.get('content-disposition') ?? '';
    const filename = /filename="([^"]+)"/.exec(disposition)?.[1] ?? `audit-events.${format}`;
    return { blob: await response.blob(), filename };
  }

  /** Opens the tenant's event stream after `afterSeq`; the body is Server-Sent Events. */
  async stream(org: string, afterSeq: number, signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    const query = new URLSearchParams({ imsOrgId: org, afterSeq: String(afterSeq) });
    const response = await this.fetch('/audits/stream', query, { signal, headers: { accept: 'text/event-stream' } });
    if (!response.body) throw new ApiError('other', 'The stream has no body.');
    return response.body;
  }
}

/** POST /dev/token: dev mode's read-only token (the route exists only there). */
export async function devSignIn(): Promise<{ clientId: string; token: string } | ApiError> {
  let response: Response;
  try {
    response = await fetch('/dev/token', { method: 'POST' });
  } catch {
    return new ApiError('unreachable', 'The service cannot be reached.');
  }
  if (response.status === 404) {
    return new ApiError('other', 'Developer sign-in is offered only in dev mode, from this machine.', 404);
  }
  if (!response.ok) return describeFailure(response.status, await response.json().catch(() => undefined));
  return (await response.json()) as { clientId: string; token: string };
}
