// What the background jobs over every tenant share (the log monitor, the retention purge): a round
// every interval, one round at a time, a clean stop, and the walk over the tenants in pages.
import type { Logger } from 'pino';
import type { LogStore } from './store/logStore';

const TENANTS_PER_READ = 1000;

export class Rounds<T> {
  private timer: NodeJS.Timeout | undefined;
  private current: Promise<T> | undefined;
  private stoppedFlag = false;

  constructor(private readonly intervalMs: number) {}

  get stopped(): boolean {
    return this.stoppedFlag;
  }

  /** Runs `round` every interval after the previous one ended (an interval of 0: never). */
  start(round: () => Promise<unknown>): void {
    if (this.intervalMs === 0) return;
    const next = () => {
      this.timer = setTimeout(() => {
        void round().finally(() => {
          if (!this.stoppedFlag) next();
        });
      }, this.intervalMs);
      this.timer.unref();
    };
    next();
  }

  /** `work` as this job's one round in progress, or the round already in progress. */
  run(work: () => Promise<T>): Promise<T> {
    this.current ??= work().finally(() => {
      this.current = undefined;
    });
    return this.current;
  }

  /** Waits for a round in progress (which sees `stopped` and ends early); starts no more. */
  async stop(): Promise<void> {
    this.stoppedFlag = true;
    clearTimeout(this.timer);
    await this.current;
  }
}

/**
 * Calls `visit` for each tenant with a log, in pages, until it has seen them all or `stopped`
 * says so. A tenant whose visit throws is logged and left to the next round; a page that cannot
 * be read ends the walk (the next round starts over).
 */
export async function forEachTenant(
  log: LogStore,
  logger: Logger,
  job: string,
  stopped: () => boolean,
  visit: (imsOrgId: string) => Promise<void>,
): Promise<void> {
  let after = '';
  for (;;) {
    let orgs: string[];
    try {
      orgs = await log.tenantsAfter(after, TENANTS_PER_READ);
    } catch (error) {
      logger.warn({ err: error }, `${job}: could not list tenants; retrying next round`);
      return;
    }
    for (const org of orgs) {
      if (stopped()) return;
      try {
        await visit(org);
      } catch (error) {
        logger.warn({ err: error, imsOrgId: org }, `${job}: could not handle a tenant; retrying next round`);
      }
    }
    if (orgs.length < TENANTS_PER_READ) return;
    after = orgs.at(-1)!;
  }
}
