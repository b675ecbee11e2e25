import { SignJWT } from 'jose';

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

export async function mintToken(options: TokenOptions = {}): Promise<string> {
  const { clientId = CLIENT_ID, orgs = [ORG], scope = 'audit.write audit.read', expiresIn = 300 } = options;
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ client_id: clientId, orgs, scope, ...options.claims })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt(now)
    .setExpirationTime(now + expiresIn)
    .sign(new TextEncoder().encode(options.secret ?? TEST_SECRET));
}

/** Both credentials the spec requires, for a token minted with `options`. */
export async function authHeaders(options: TokenOptions = {}): Promise<Record<string, string>> {
  return { 'x-api-key': options.clientId ?? CLIENT_ID, authorization: `Bearer ${await mintToken(options)}` };
}
