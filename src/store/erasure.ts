// Erasure (#14): the erasures' records, and the erasure of a data subject's events in bounded
// batches. A batch finds up to `max` of the tenant's events whose user_identifier is the value
// (through the read index on it) and rewrites each in place: user_identifier '', the erased tags
// and the salts removed, and the commitments in `erased` (src/domain/erasure.ts). An erased row no
// longer matches, so each batch simply takes the next ones; two erasures (or instances) at once
// never erase a row twice. No statement here stores the value anywhere.
import type BetterSqlite3 from 'better-sqlite3';
import type { Knex } from 'knex';
import { eraseEvent } from '../domain/erasure';
import type { StoredSalts } from '../domain/leaf';
import { translateErrors } from './errors';
import { ERASED_USER_IDENTIFIER, parseErased } from './rows';

export type ErasureStatus = 'running' | 'done' | 'interrupted' | 'failed';

/** An erasure's record: never the erased value. */
export interface ErasureRecord {
  id: string;
  imsOrgId: string;
  status: ErasureStatus;
  eventsErased: number;
  firstSeq: number | null;
  lastSeq: number | null;
  /** The tenant's head when the erasure began: events up to it are erased. */
  upToSeq: number;
  requestedBy: string;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
}

interface ErasureRow {
  id: string;
  ims_org_id: string;
  status: string;
  events_erased: number | string;
  first_seq: number | string | null;
  last_seq: number | string | null;
  up_to_seq: number | string;
  requested_by: string;
  created_at: number | string;
  updated_at: number | string;
  finished_at: number | string | null;
}

/** What one batch erased. */
export interface ErasureBatch {
  erased: number;
  firstSeq?: number;
  lastSeq?: number;
}

/** The columns a batch reads. */
interface ErasableRow {
  id: string;
  seq: number | string;
  user_identifier: string;
  tags: string | Record<string, string> | null;
  salts: string | StoredSalts;
  erased: string | null;
}

/** A row's new columns. */
interface Rewrite {
  id: string;
  tags: string | null;
  salts: string;
  erased: string;
}

const nullableNumber = (value: number | string | null): number | null => (value === null ? null : Number(value));

function fromErasureRow(row: ErasureRow): ErasureRecord {
  return {
    id: row.id,
    imsOrgId: row.ims_org_id,
    status: row.status as ErasureStatus,
    eventsErased: Number(row.events_erased),
    firstSeq: nullableNumber(row.first_seq),
    lastSeq: nullableNumber(row.last_seq),
    upToSeq: Number(row.up_to_seq),
    requestedBy: row.requested_by,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    finishedAt: nullableNumber(row.finished_at),
  };
}

export class ErasureStore {
  constructor(
    private readonly db: Knex,
    private readonly postgres: boolean,
  ) {}

  /** Records a new running erasure of the tenant's events up to its current head. */
  async create(input: { id: string; imsOrgId: string; requestedBy: string; now: number }): Promise<ErasureRecord> {
    return translateErrors(async () => {
      const head = await this.db('audit_log_heads')
        .where({ ims_org_id: input.imsOrgId })
        .first<{ seq: number | string } | undefined>('seq');
      const row: ErasureRow = {
        id: input.id,
        ims_org_id: input.imsOrgId,
        status: 'running',
        events_erased: 0,
        first_seq: null,
        last_seq: null,
        up_to_seq: Number(head?.seq ?? 0),
        requested_by: input.requestedBy,
        created_at: input.now,
        updated_at: input.now,
        finished_at: null,
      };
      await this.db<ErasureRow>('audit_erasures').insert(row);
      return fromErasureRow(row);
    });
  }

  async get(id: string): Promise<ErasureRecord | undefined> {
    return translateErrors(async () => {
      const row = await this.db<ErasureRow>('audit_erasures').where({ id }).first();
      return row && fromErasureRow(row);
    });
  }

  /** Records progress (and that the job is alive), or the end. */
  async update(
    id: string,
    progress: Pick<ErasureRecord, 'eventsErased' | 'firstSeq' | 'lastSeq'> & { status?: ErasureStatus },
    now: number,
  ): Promise<void> {
    await translateErrors(() =>
      this.db<ErasureRow>('audit_erasures')
        .where({ id })
        .update({
          events_erased: progress.eventsErased,
          first_seq: progress.firstSeq,
          last_seq: progress.lastSeq,
          updated_at: now,
          ...(progress.status !== undefined && { status: progress.status }),
          ...((progress.status === 'done' || progress.status === 'failed') && { finished_at: now }),
        }),
    );
  }

  /**
   * Erases at most `max` of the tenant's events with seq up to `upToSeq` whose userIdentifier is
   * `value`, in one transaction. PostgreSQL: the rows are locked (FOR UPDATE) and re-checked, so
   * another erasure waiting on them finds them erased and skips them. SQLite: the batch is one
   * synchronous step on the main connection in BEGIN IMMEDIATE, as a purge batch.
   */
  async eraseBatch(
    imsOrgId: string,
    value: string,
    upToSeq: number,
    personalTagKeys: ReadonlySet<string>,
    max: number,
  ): Promise<ErasureBatch> {
    return translateErrors(() =>
      this.postgres
        ? this.erasePostgres(imsOrgId, value, upToSeq, personalTagKeys, max)
        : this.eraseSqlite(imsOrgId, value, upToSeq, personalTagKeys, max),
    );
  }

  private erasePostgres(
    imsOrgId: string,
    value: string,
    upToSeq: number,
    keys: ReadonlySet<string>,
    max: number,
  ): Promise<ErasureBatch> {
    return this.db.transaction(async (trx) => {
      // md5 first: PostgreSQL's read index on user_identifier is on its md5 (DIGEST_INDEXED_COLUMNS).
      const rows: ErasableRow[] = await trx('audit_events')
        .where('ims_org_id', imsOrgId)
        .whereRaw('md5(user_identifier) = md5(?)', [value])
        .andWhere('user_identifier', value)
        .andWhere('seq', '<=', upToSeq)
        // The index's order, so that PostgreSQL walks the subject's index entries rather than
        // scanning the table (which, as batches go by, would re-read the rows already erased).
        .orderBy(['occurred_at', 'id'])
        .limit(max)
        .forUpdate()
        .select('id', 'seq', 'user_identifier', 'tags', 'salts', 'erased');
      if (rows.length === 0) return { erased: 0 };
      const rewrites = rows.map((row) => rewrite(row, keys));
      // One statement for the batch; the rows travel as one JSON array (knex would spread a bound array).
      await trx.raw(
        `UPDATE audit_events AS e
            SET user_identifier = ?, tags = u.tags::jsonb, salts = u.salts, erased = u.erased
           FROM json_to_recordset(?::json) AS u(id text, tags text, salts text, erased text)
          WHERE e.id = u.id`,
        [ERASED_USER_IDENTIFIER, JSON.stringify(rewrites)],
      );
      return summary(rows);
    });
  }

  private async eraseSqlite(
    imsOrgId: string,
    value: string,
    upToSeq: number,
    keys: ReadonlySet<string>,
    max: number,
  ): Promise<ErasureBatch> {
    const client = this.db.client as {
      acquireConnection(): Promise<BetterSqlite3.Database>;
      releaseConnection(connection: BetterSqlite3.Database): Promise<void>;
    };
    const connection = await client.acquireConnection();
    try {
      const batch = connection.transaction((): ErasureBatch => {
        const rows = connection
          .prepare<[string, string, number, number], ErasableRow>(
            // +seq: the read index on (ims_org_id, user_identifier) finds the subject's rows; SQLite
            // would otherwise walk the tenant's seq index, every row up to upToSeq, each batch.
            `SELECT id, seq, user_identifier, tags, salts, erased FROM audit_events
              WHERE ims_org_id = ? AND user_identifier = ? AND +seq <= ? ORDER BY occurred_at, id LIMIT ?`,
          )
          .all(imsOrgId, value, upToSeq, max);
        if (rows.length === 0) return { erased: 0 };
        const update = connection.prepare(
          'UPDATE audit_events SET user_identifier = ?, tags = ?, salts = ?, erased = ? WHERE id = ?',
        );
        for (const row of rows) {
          const r = rewrite(row, keys);
          update.run(ERASED_USER_IDENTIFIER, r.tags, r.salts, r.erased, r.id);
        }
        return summary(rows);
      });
      return batch.immediate();
    } finally {
      await client.releaseConnection(connection);
    }
  }

  /**
   * Makes the old bytes of erased rows as unreachable as the database allows. SQLite: every
   * connection runs with secure_delete (freed space is zeroed), and the WAL, which still holds
   * the old pages, is checkpointed into the file and truncated; a reader holding an old snapshot
   * makes the checkpoint busy, so it is retried. PostgreSQL: VACUUM audit_events (outside a
   * transaction), which makes the dead row versions' space reusable; see the README for what it
   * does not guarantee. Answers whether it completed.
   */
  async reclaim(): Promise<boolean> {
    return translateErrors(async () => {
      if (this.postgres) {
        await this.db.raw('VACUUM audit_events');
        return true;
      }
      for (let attempt = 0; attempt < 20; attempt++) {
        const rows = await this.db.raw<{ busy: number }[]>('PRAGMA wal_checkpoint(TRUNCATE)');
        if (rows[0]?.busy === 0) return true;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return false;
    });
  }
}

function rewrite(row: ErasableRow, keys: ReadonlySet<string>): Rewrite {
  const tags = typeof row.tags === 'string' ? (JSON.parse(row.tags) as Record<string, string>) : row.tags;
  const salts = typeof row.salts === 'string' ? (JSON.parse(row.salts) as StoredSalts) : row.salts;
  const erased = eraseEvent(
    { userIdentifier: row.user_identifier, tags, salts, erased: parseErased(row.erased) },
    keys,
  );
  return {
    id: row.id,
    tags: erased.tags === null ? null : JSON.stringify(erased.tags),
    salts: JSON.stringify(erased.salts),
    erased: JSON.stringify(erased.erased),
  };
}

function summary(rows: ErasableRow[]): ErasureBatch {
  const seqs = rows.map((row) => Number(row.seq));
  return { erased: rows.length, firstSeq: Math.min(...seqs), lastSeq: Math.max(...seqs) };
}
