import { mintToken as mint } from '../../src/auth/mintToken';

export const TEST_SECRET = 'test-secret-that-is-at-least-32-bytes-long!';
export const CLIENT_ID = 'test-client';
export const ORG = 'ORG-A@AdobeOrg';

export interface TokenOptions {
  clientId?: string;
  orgs?: string[] | string;
  scope?: string;
  /** Seconds from now; negative for an expired token. */
  expiresIn?: number;
  secret?: string;
  claims?: Record<string, unknown>;
}

/** A token for the tests' server (TEST_SECRET), minted as `npm run token` mints them, with test defaults. */
export function mintToken(options: TokenOptions = {}): Promise<string> {
  const { clientId = CLIENT_ID, orgs = [ORG], scope = 'audit.write audit.read', expiresIn = 300 } = options;
  return mint({ secret: options.secret ?? TEST_SECRET, clientId, orgs, scope, expiresIn, claims: options.claims });
}

/** Both credentials the spec requires, for a token minted with `options`. */
export async function authHeaders(options: TokenOptions = {}): Promise<Record<string, string>> {
  return { 'x-api-key': options.clientId ?? CLIENT_ID, authorization: `Bearer ${await mintToken(options)}` };
}
