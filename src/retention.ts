// The retention purge job (#14). Every interval, for each tenant with a retention (its policy's,
// else RETENTION_DEFAULT) and no legal hold, it deletes the prefix of the tenant's log whose
// events were all received longer ago than the retention, in batches of BATCH events, each in a
// transaction of its own (src/store/retention.ts) with a turn of the event loop between them, so
// neither a lock nor the loop is held for long. Then it appends one event saying so to the
// tenant's own log, through the EventWriter like every event: who purged (the service), up to
// which seq and how many; nothing of the purged events.
import type { Logger } from 'pino';
import type { AuditEvent } from './domain/api';
import { sealPersonalData } from './domain/linking';
import type { AuditStore } from './store/auditStore';
import type { EventWriter } from './store/eventWriter';
import { turn } from './store/steps';
import { forEachTenant, Rounds } from './rounds';

// Events deleted per transaction: whole rows are read to check each one's leaf hash before only
// that hash is kept, so at the schema's bound of about 80 kB an event a batch holds at most
// about 40 MiB (in practice a few hundred kB).
export const PURGE_BATCH = 500;
export const PURGE_ACTION = 'audit.retention.purge';
export const SERVICE_IDENTITY = 'audit-service';

export interface PurgeReport {
  imsOrgId: string;
  /** Events this round deleted. */
  count: number;
  prunedThrough: number;
}

export class RetentionJob {
  private readonly rounds: Rounds<PurgeReport[]>;

  constructor(
    private readonly store: AuditStore,
    private readonly writer: EventWriter,
    private readonly logger: Logger,
    private readonly options: { intervalMs: number; defaultMs?: number; batch?: number },
  ) {
    this.rounds = new Rounds(options.intervalMs);
  }

  /** Runs a round every interval. */
  start(): void {
    this.rounds.start(() => this.runRound());
  }

  /** Waits for a round in progress (it stops after its current batch); starts no more. */
  stop(): Promise<void> {
    return this.rounds.stop();
  }

  /** One round over every tenant: what it purged (also logged). One round at a time per instance. */
  runRound(now: () => number = Date.now): Promise<PurgeReport[]> {
    return this.rounds.run(async () => {
      const reports: PurgeReport[] = [];
      await forEachTenant(
        this.store.log,
        this.logger,
        'retention',
        () => this.rounds.stopped,
        async (org) => {
          const report = await this.purge(org, now);
          if (report) reports.push(report);
        },
      );
      return reports;
    });
  }

  private async purge(imsOrgId: string, now: () => number): Promise<PurgeReport | undefined> {
    const batch = this.options.batch ?? PURGE_BATCH;
    let count = 0;
    let prunedThrough = 0;
    // One cutoff for the round: events received while it runs are not chased.
    const at = now();
    if (!(await this.store.retention.due(imsOrgId, at, this.options.defaultMs))) return undefined;
    try {
      for (;;) {
        const result = await this.store.retention.purgeBatch(imsOrgId, at, this.options.defaultMs, batch);
        count += result.purged;
        prunedThrough = result.prunedThrough;
        if (result.stoppedBy) {
          this.logger.error(
            { imsOrgId, seq: result.stoppedBy.seq },
            result.stoppedBy.reason === 'gap'
              ? `retention: event ${result.stoppedBy.seq} is missing; nothing after it is purged (GET /audits/verify says more)`
              : `retention: event ${result.stoppedBy.seq} no longer matches its leaf hash; it and what follows are not purged (GET /audits/verify says more)`,
          );
        }
        if (result.purged < batch || this.rounds.stopped) break;
        await turn();
      }
    } finally {
      // What was deleted is logged even if a later batch failed.
      if (count > 0) await this.record(imsOrgId, prunedThrough, count);
    }
    return count > 0 ? { imsOrgId, count, prunedThrough } : undefined;
  }

  private async record(imsOrgId: string, prunedThrough: number, count: number): Promise<void> {
    const event: AuditEvent = {
      source: SERVICE_IDENTITY,
      service: { serviceId: SERVICE_IDENTITY },
      resource: { resourceId: `audit-log/${imsOrgId}` },
      action: PURGE_ACTION,
      imsOrgId,
      timestamp: new Date().toISOString(),
      userIdentifier: SERVICE_IDENTITY,
      tags: { prunedThrough: String(prunedThrough), count: String(count) },
    };
    this.logger.info(
      { imsOrgId, prunedThrough, count },
      `retention: purged ${count} events, through seq ${prunedThrough}`,
    );
    try {
      await this.writer.write({ events: [event], personal: sealPersonalData([event]) });
    } catch (error) {
      // The rows are gone and pruned_through says how far; the log line above is the record left.
      this.logger.error(
        { err: error, imsOrgId, prunedThrough, count },
        'retention: could not append the purge event to the tenant log',
      );
    }
  }
}
