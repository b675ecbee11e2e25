import createClient, { type Client } from 'openapi-fetch';
import { authorization, type Credentials } from './credentials.js';
import type { paths } from './openapi.js';

export type AuditClient = Client<paths>;
export type AuditClientOptions = Credentials;

/**
 * A client whose paths, parameters, bodies and responses are the spec's: a misspelt field or
 * a wrong type is a compile error. Every request carries both credentials.
 */
export function createAuditClient({ baseUrl, apiKey, token }: AuditClientOptions): AuditClient {
  const client = createClient<paths>({ baseUrl });
  client.use({
    async onRequest({ request }) {
      request.headers.set('x-api-key', apiKey);
      request.headers.set('Authorization', await authorization(token));
      return request;
    },
  });
  return client;
}
