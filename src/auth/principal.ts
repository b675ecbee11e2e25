import { AuditError } from '../domain/errors';

/** Who is calling, and what their token lets them touch. */
export class Principal {
  constructor(
    readonly clientId: string,
    /** The orgs the token may act for; '*' is every org. */
    readonly orgs: ReadonlySet<string> | '*',
    readonly scopes: ReadonlySet<string>,
  ) {}

  covers(imsOrgId: string): boolean {
    return this.orgs === '*' || this.orgs.has(imsOrgId);
  }

  /** 403 unless the token covers the org. Use only where naming the org leaks nothing (writes, lists). */
  assertCovers(imsOrgId: string): void {
    if (!this.covers(imsOrgId)) {
      throw new AuditError('forbidden', `token does not cover imsOrgId ${JSON.stringify(imsOrgId)}`);
    }
  }

  assertScope(scope: string): void {
    if (!this.scopes.has(scope)) throw new AuditError('forbidden', `token lacks scope ${scope}`);
  }
}
