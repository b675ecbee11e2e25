import type { WriteOutcome, WriteRequest } from '../domain/linking';
import type { Committer } from './committer';

/**
 * In-process wake-ups for readers that follow a tenant's log (streams, deliverers): this
 * instance's commits are seen at once, other instances' by the readers' own short poll.
 */
export class CommitSignal {
  private readonly listeners = new Map<string, Set<() => void>>();

  /** Calls `listener` after each commit of this instance that stored events of the tenant. */
  subscribe(imsOrgId: string, listener: () => void): () => void {
    let set = this.listeners.get(imsOrgId);
    if (!set) this.listeners.set(imsOrgId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(imsOrgId);
    };
  }

  private readonly anyListeners = new Set<() => void>();

  /** Calls `listener` after each commit of this instance that stored events of any tenant. */
  subscribeAll(listener: () => void): () => void {
    this.anyListeners.add(listener);
    return () => this.anyListeners.delete(listener);
  }

  notify(imsOrgIds: Iterable<string>): void {
    let any = false;
    for (const imsOrgId of imsOrgIds) {
      any = true;
      for (const listener of this.listeners.get(imsOrgId) ?? []) listener();
    }
    if (any) for (const listener of this.anyListeners) listener();
  }

  /** `committer`, notifying after each commit that stored events (a replay stores nothing). */
  wrap(committer: Pick<Committer, 'commit'>): Pick<Committer, 'commit'> {
    return {
      commit: async (requests: WriteRequest[]): Promise<WriteOutcome[]> => {
        const outcomes = await committer.commit(requests);
        if (this.listeners.size > 0 || this.anyListeners.size > 0) {
          const orgs = new Set<string>();
          requests.forEach((request, i) => {
            if (outcomes[i].kind === 'stored') for (const event of request.events) orgs.add(event.imsOrgId);
          });
          this.notify(orgs);
        }
        return outcomes;
      },
    };
  }
}
