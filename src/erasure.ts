// The erasure job (#14). POST /audits/erasures starts one: it erases, in batches of BATCH events
// (each its own transaction, src/store/erasure.ts) with a turn of the event loop between them, the
// tenant's events whose userIdentifier is the value, up to the tenant's head when it began. Then
// it appends one event saying so to the tenant's own log through the EventWriter (who asked, how
// many, the seq range, never the value), makes the old bytes unreachable as far as the database
// allows (SQLite: WAL checkpoint; PostgreSQL: VACUUM), and marks the erasure done.
//
// The value lives only in this job's memory, never in the erasures' table. A job stopped by a
// shutdown is marked interrupted; one whose process died stays running until it is seen as stale
// (STALE_MS without progress) and is then served as interrupted. Either way the events it reached
// are erased, and repeating the request erases the rest.
import type { Logger } from 'pino';
import type { AuditEvent } from './domain/api';
import { uuidv7 } from './domain/ids';
import { sealPersonalData } from './domain/linking';
import type { AuditStore } from './store/auditStore';
import type { ErasureRecord } from './store/erasure';
import type { EventWriter } from './store/eventWriter';
import { turn } from './store/steps';

/** Events erased per transaction. */
export const ERASURE_BATCH = 500;
export const ERASURE_ACTION = 'audit.erasure';
export const SERVICE_IDENTITY = 'audit-service';
/** The longest pause between two batches. */
const PAUSE_MAX_MS = 100;
/** How long POST /audits/erasures waits for the job before answering 202. */
export const ERASURE_WAIT_MS = 1000;
/** A running erasure without progress for this long is served as interrupted (its process died). */
export const STALE_MS = 60_000;

export interface ErasureOptions {
  /** Tag keys whose values are personal data, erased with the userIdentifier (PERSONAL_TAG_KEYS). */
  personalTagKeys: readonly string[];
  batch?: number;
  waitMs?: number;
}

export class ErasureJobs {
  private readonly jobs = new Set<Promise<unknown>>();
  private stopped = false;
  private readonly personalTagKeys: ReadonlySet<string>;

  constructor(
    private readonly store: AuditStore,
    private readonly writer: EventWriter,
    private readonly logger: Logger,
    private readonly options: ErasureOptions,
  ) {
    this.personalTagKeys = new Set(options.personalTagKeys);
  }

  /**
   * Starts erasing and waits up to `waitMs` for it: the record, and whether it is finished. The
   * caller has checked the tenant and the value (non-empty).
   */
  async start(
    imsOrgId: string,
    userIdentifier: string,
    requestedBy: string,
  ): Promise<{ record: ErasureRecord; finished: boolean }> {
    const record = await this.store.erasures.create({ id: uuidv7(), imsOrgId, requestedBy, now: Date.now() });
    const job = this.run(record, userIdentifier);
    this.jobs.add(job);
    void job.finally(() => this.jobs.delete(job));
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), this.options.waitMs ?? ERASURE_WAIT_MS);
    });
    const finished = await Promise.race([job, waited]);
    clearTimeout(timer);
    if (finished) return { record: finished, finished: true };
    return { record: (await this.get(record.id)) ?? record, finished: false };
  }

  /** The erasure, a stale running one as interrupted. */
  async get(id: string, now = Date.now()): Promise<ErasureRecord | undefined> {
    const record = await this.store.erasures.get(id);
    if (record?.status === 'running' && now - record.updatedAt > STALE_MS) return { ...record, status: 'interrupted' };
    return record;
  }

  /** Stops every running job after its current batch (marking it interrupted) and waits for them. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.allSettled([...this.jobs]);
  }

  private async run(record: ErasureRecord, value: string): Promise<ErasureRecord> {
    const batch = this.options.batch ?? ERASURE_BATCH;
    const progress = { eventsErased: 0, firstSeq: null as number | null, lastSeq: null as number | null };
    const { id, imsOrgId } = record;
    const log = { erasure: id, imsOrgId };
    try {
      // A tenant without a log (a typo, say) has nothing to erase, and gets no log for it.
      while (record.upToSeq > 0) {
        if (this.stopped) {
          await this.store.erasures.update(id, { ...progress, status: 'interrupted' }, Date.now());
          this.logger.warn({ ...log, ...progress }, 'erasure: interrupted by shutdown; repeat it to erase the rest');
          return { ...record, ...progress, status: 'interrupted' };
        }
        const began = performance.now();
        const done = await this.store.erasures.eraseBatch(imsOrgId, value, record.upToSeq, this.personalTagKeys, batch);
        if (done.erased > 0) {
          progress.eventsErased += done.erased;
          progress.firstSeq = Math.min(progress.firstSeq ?? Infinity, done.firstSeq!);
          progress.lastSeq = Math.max(progress.lastSeq ?? 0, done.lastSeq!);
          await this.store.erasures.update(id, progress, Date.now());
        }
        if (done.erased < batch) break;
        // As long again as the batch took (at most PAUSE_MAX_MS): commits waiting for SQLite's
        // write lock, or for PostgreSQL's rows and I/O, get at least half of the time.
        await turn();
        await new Promise((resolve) => setTimeout(resolve, Math.min(performance.now() - began, PAUSE_MAX_MS)));
      }
      // Audited also when nothing was erased (a repeat), so every request leaves its trace; and
      // reclaimed again, so a repeat also finishes a checkpoint an earlier one could not.
      if (record.upToSeq > 0) await this.record(record, progress);
      if (record.upToSeq > 0 && !(await this.store.erasures.reclaim())) {
        this.logger.warn(
          log,
          'erasure: a reader held the WAL, so it could not be checkpointed and truncated; repeat the erasure to try again',
        );
      }
      const now = Date.now();
      await this.store.erasures.update(id, { ...progress, status: 'done' }, now);
      this.logger.info({ ...log, ...progress }, `erasure: erased ${progress.eventsErased} events`);
      return { ...record, ...progress, status: 'done', updatedAt: now, finishedAt: now };
    } catch (error) {
      // Never the value: the error of a statement may quote its bindings, so only its code and kind.
      this.logger.error(
        { ...log, ...progress, code: (error as { code?: unknown }).code, kind: (error as Error).name },
        'erasure: failed; the events reached are erased, repeat it to erase the rest',
      );
      const now = Date.now();
      await this.store.erasures.update(id, { ...progress, status: 'failed' }, now).catch(() => undefined);
      return { ...record, ...progress, status: 'failed', updatedAt: now, finishedAt: now };
    }
  }

  /** Appends the erasure's own event to the tenant's log: who asked, how many, the seq range; never the value. */
  private async record(
    record: ErasureRecord,
    progress: Pick<ErasureRecord, 'eventsErased' | 'firstSeq' | 'lastSeq'>,
  ): Promise<void> {
    const event: AuditEvent = {
      source: SERVICE_IDENTITY,
      service: { serviceId: SERVICE_IDENTITY },
      resource: { resourceId: `erasure/${record.id}` },
      action: ERASURE_ACTION,
      imsOrgId: record.imsOrgId,
      timestamp: new Date().toISOString(),
      userIdentifier: record.requestedBy,
      tags: {
        eventsErased: String(progress.eventsErased),
        ...(progress.firstSeq !== null && { firstSeq: String(progress.firstSeq), lastSeq: String(progress.lastSeq) }),
      },
    };
    try {
      await this.writer.write({ events: [event], personal: sealPersonalData([event]) });
    } catch (error) {
      // The events are erased either way; this log line is then the record left.
      this.logger.error(
        { err: error, erasure: record.id, imsOrgId: record.imsOrgId, ...progress },
        'erasure: could not append the erasure event to the tenant log',
      );
    }
  }
}
