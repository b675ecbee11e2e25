import type { Knex } from 'knex';
import { eventLeafHash } from '../../src/domain/leaf';
import { type EventRow, fromRow } from '../../src/store/rows';

export type Tamper = (db: Knex, org: string) => Promise<unknown>;
export const where = (org: string, seq: number) => ({ ims_org_id: org, seq });
/**
 * Every kind of tampering verification detects, done in SQL to a tenant of 5 events: its name, the
 * change, the seq verification names and its reason.
 */
export const TAMPERINGS: [name: string, tamper: Tamper, brokenAt: number, reason: RegExp][] = [
  [
    'an edited field',
    (db, org) => db('audit_events').where(where(org, 3)).update({ action: 'deleted-nothing' }),
    3,
    /does not match its leaf hash/,
  ],
  [
    'an edited tag',
    (db, org) =>
      db('audit_events')
        .where(where(org, 2))
        .update({ tags: JSON.stringify({ region: 'us' }) }),
    2,
    /does not match its leaf hash/,
  ],
  [
    'an edited timestamp',
    (db, org) => db('audit_events').where(where(org, 4)).increment('occurred_at', 1),
    4,
    /does not match its leaf hash/,
  ],
  [
    'a deleted event in the middle',
    (db, org) => db('audit_events').where(where(org, 3)).delete(),
    3,
    /event 3 is missing/,
  ],
  [
    'a deleted event at the tail',
    (db, org) => db('audit_events').where(where(org, 5)).delete(),
    5,
    /missing from the end/,
  ],
  [
    'an inserted event beyond the head',
    async (db, org) => {
      const row = (await db('audit_events').where(where(org, 5)).first()) as { id: string };
      await db('audit_events').insert({ ...row, id: `${row.id}-forged`, seq: 6 });
    },
    6,
    /beyond the log's head/,
  ],
  [
    'an event inserted in the middle (later ones shifted)',
    async (db, org) => {
      for (const seq of [5, 4, 3])
        await db('audit_events')
          .where(where(org, seq))
          .update({ seq: seq + 1 });
      const row = (await db('audit_events').where(where(org, 2)).first()) as { id: string };
      await db('audit_events').insert({ ...row, id: `${row.id}-forged`, seq: 3, action: 'forged' });
      await db('audit_log_heads').where({ ims_org_id: org }).update({ seq: 6 });
    },
    3,
    /does not match its leaf hash/,
  ],
  [
    'two events swapped',
    async (db, org) => {
      // Through a free seq: the schema refuses seqs below 1 (see 'rows outside the chain').
      await db('audit_events').where(where(org, 2)).update({ seq: 1000 });
      await db('audit_events').where(where(org, 4)).update({ seq: 2 });
      await db('audit_events').where(where(org, 1000)).update({ seq: 4 });
    },
    2,
    /does not match its leaf hash/,
  ],
  [
    'a rewritten head',
    (db, org) =>
      db('audit_log_heads')
        .where({ ims_org_id: org })
        .update({ root_hash: Buffer.alloc(32, 0xff).toString('base64') }),
    5,
    /head \(size 5\) does not match its events/,
  ],
  [
    'an edited salt',
    async (db, org) => {
      const row = (await db('audit_events').where(where(org, 2)).first()) as { salts: string };
      const salts = JSON.parse(row.salts) as { userIdentifier: string };
      salts.userIdentifier = Buffer.alloc(16, 1).toString('base64');
      await db('audit_events')
        .where(where(org, 2))
        .update({ salts: JSON.stringify(salts) });
    },
    2,
    /does not match its leaf hash/,
  ],
  [
    'an edited event whose leaf hash was recomputed to match',
    async (db, org) => {
      const row = (await db('audit_events').where(where(org, 3)).first()) as EventRow;
      const edited = fromRow({ ...row, action: 'forged' });
      const { leafHash: _old, salts, ...hashed } = edited;
      await db('audit_events')
        .where(where(org, 3))
        .update({ action: 'forged', leaf_hash: eventLeafHash(hashed, salts) });
    },
    5,
    /head \(size 5\) does not match its events/,
  ],
];
