import { SignJWT } from 'jose';

export interface MintOptions {
  /** The HS256 secret the server verifies with (AUTH_JWT_SECRET, or the dev-mode secret). */
  secret: string;
  clientId: string;
  /** The tenants the token may act for, or '*' for all. */
  orgs: string[] | string;
  /** Space-separated scopes, e.g. "audit.write audit.read". */
  scope: string;
  /** Seconds from now until it expires; negative for an already expired token. */
  expiresIn: number;
  issuer?: string;
  audience?: string;
  /** More claims, or overrides of the ones above (for tests of malformed tokens). */
  claims?: Record<string, unknown>;
}

/**
 * Signs a bearer token the way `npm run token` hands them to clients. The one token minter:
 * the token CLI, the contract test, the benchmarks and the tests all use it, so each of them
 * exercises the tokens clients really get. The service imports it in one file only, the viewer's
 * dev-mode sign-in (devSignIn.ts); a lint rule refuses it anywhere else.
 */
export function mintToken(options: MintOptions): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  let token = new SignJWT({ client_id: options.clientId, orgs: options.orgs, scope: options.scope, ...options.claims })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt(now)
    .setExpirationTime(now + options.expiresIn);
  if (options.issuer) token = token.setIssuer(options.issuer);
  if (options.audience) token = token.setAudience(options.audience);
  return token.sign(new TextEncoder().encode(options.secret));
}
