// Who the reader signed in as. The token lives in this module's memory only: never in
// localStorage, sessionStorage, a cookie or a URL. Reloading the page signs the reader out.

export interface Session {
  clientId: string;
  token: string;
  /** The token's `orgs` claim as the page reads it (unverified: the server decides). */
  orgs: string[] | '*';
  scopes: string[];
  /** The token's `exp`, in ms since the epoch, when it has one. */
  expiresAt?: number;
  /** A verifier key the reader pinned, if any; otherwise the page fetches the server's once. */
  pinnedKey?: string;
}

/**
 * The claims of a JWT, read without checking its signature: only to offer the tenants it names
 * and to show when it expires. Undefined when the text is not a JWT.
 */
export function readClaims(token: string): Record<string, unknown> | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const base64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, '=')), (c) => c.charCodeAt(0));
    const claims: unknown = JSON.parse(new TextDecoder().decode(bytes));
    return claims !== null && typeof claims === 'object' && !Array.isArray(claims)
      ? (claims as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** A session for a pasted client id and token; a problem (in words) when the token is not a JWT. */
export function sessionOf(clientId: string, token: string, pinnedKey?: string): Session | string {
  clientId = clientId.trim();
  token = token.trim().replace(/^Bearer\s+/i, '');
  if (clientId === '') return 'Enter the client id (sent as x-api-key).';
  if (token === '') return 'Paste the bearer token.';
  const claims = readClaims(token);
  if (!claims) return 'That is not a JWT: a bearer token has three parts separated by dots.';
  const orgClaim = claims.orgs;
  const orgs: string[] | '*' =
    orgClaim === '*' || (Array.isArray(orgClaim) && orgClaim.includes('*'))
      ? '*'
      : Array.isArray(orgClaim)
        ? orgClaim.filter((org): org is string => typeof org === 'string')
        : [];
  const scopes = typeof claims.scope === 'string' ? claims.scope.split(/[\s,]+/).filter(Boolean) : [];
  const expiresAt = typeof claims.exp === 'number' ? claims.exp * 1000 : undefined;
  return { clientId, token, orgs, scopes, expiresAt, pinnedKey: pinnedKey?.trim() || undefined };
}
