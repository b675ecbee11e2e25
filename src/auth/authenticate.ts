import type { JWTPayload } from 'jose';
import { AuditError } from '../domain/errors';
import { Principal } from './principal';
import { TokenRejected, type TokenVerifier } from './tokenVerifier';

/** Checks both credentials of the spec's security requirement; every failure is a 401 naming it. */
export async function authenticate(
  headers: Record<string, string | string[] | undefined>,
  verifyToken: TokenVerifier,
): Promise<Principal> {
  const apiKey = headers['x-api-key'];
  const authorization = headers['authorization'];
  if (typeof apiKey !== 'string' || apiKey === '') throw unauthorized('missing x-api-key header');
  if (typeof authorization !== 'string' || authorization === '') {
    throw unauthorized('missing Authorization header; expected "Bearer <JWT>"');
  }
  const match = /^Bearer +(\S+)$/i.exec(authorization);
  if (!match) throw unauthorized('Authorization header must be "Bearer <JWT>"');
  let claims: JWTPayload;
  try {
    claims = await verifyToken(match[1]);
  } catch (error) {
    if (error instanceof TokenRejected) throw unauthorized(error.message);
    throw error;
  }
  if (typeof claims.client_id !== 'string') throw unauthorized('token has no client_id claim');
  if (claims.client_id !== apiKey) throw unauthorized("x-api-key does not match the token's client_id");
  return new Principal(claims.client_id, parseOrgs(claims.orgs), parseScopes(claims.scope));
}

function parseOrgs(claim: unknown): ReadonlySet<string> | '*' {
  if (claim === '*') return '*';
  if (!Array.isArray(claim)) return new Set();
  const orgs = claim.filter((org): org is string => typeof org === 'string');
  return orgs.includes('*') ? '*' : new Set(orgs);
}

function parseScopes(claim: unknown): ReadonlySet<string> {
  if (typeof claim !== 'string') return new Set();
  return new Set(claim.split(/[\s,]+/).filter(Boolean));
}

function unauthorized(message: string): AuditError {
  return new AuditError('unauthorized', message);
}
