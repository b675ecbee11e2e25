// The typed client for other teams: `import { createAuditClient } from 'audit-service/client'`.
import createClient, { type Client } from 'openapi-fetch';
import type { components, paths } from '../generated/openapi';

export type { components, paths };
export type AuditEvent = components['schemas']['AuditEvent'];
export type AuditClient = Client<paths>;

export interface AuditClientOptions {
  /** Where the service runs, such as `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** The client id, sent as `x-api-key`; it must equal the token's `client_id` claim. */
  apiKey: string;
  /** The bearer token, or a function that returns a current one (tokens expire). */
  token: string | (() => string | Promise<string>);
}

/**
 * A client whose paths, parameters, bodies and responses are the spec's: a misspelt field or
 * a wrong type is a compile error. Every request carries both credentials.
 */
export function createAuditClient({ baseUrl, apiKey, token }: AuditClientOptions): AuditClient {
  const client = createClient<paths>({ baseUrl });
  client.use({
    async onRequest({ request }) {
      request.headers.set('x-api-key', apiKey);
      request.headers.set('Authorization', `Bearer ${typeof token === 'function' ? await token() : token}`);
      return request;
    },
  });
  return client;
}
