import { expect } from 'chai';
import type { Knex } from 'knex';
import { parseDatabaseUrl } from '../src/config';
import { createKnex, openDatabase } from '../src/store/db';
import { describeEachDatabase, describePostgres } from './helpers/databases';
import { postJson, sampleEvent, startService } from './helpers/service';
import { withKnex } from './helpers/sql';
import { authHeaders, ORG } from './helpers/tokens';

describeEachDatabase('Database connections', (database) => {
  const pools = {
    "the service's (openDatabase)": (url: string) => {
      const opened = openDatabase(parseDatabaseUrl(url));
      return { db: opened.knex, close: () => opened.close() };
    },
    "knex's own, for tools (createKnex)": (url: string) => {
      const db = createKnex(parseDatabaseUrl(url));
      return { db, close: () => db.destroy() };
    },
  };
  for (const [name, open] of Object.entries(pools)) {
    it(`are never reused while left inside a transaction: the next statement commits on its own (${name} pool)`, async () => {
      const { db, close } = open(database().url);
      const table = `left_open_${name.length}`;
      try {
        await db.schema.createTable(table, (t) => t.integer('n'));
        // A transaction that never ended (its ROLLBACK was lost, or its COMMIT failed and left
        // it open): the pool must not hand this connection out again as if it were clean.
        await db.raw('BEGIN');
        await db(table).insert({ n: 1 });
        const seen = await withKnex(database().url, (other) => other(table).pluck('n'));
        expect(seen, 'the insert joined the abandoned transaction').to.deep.equal([1]);
      } finally {
        await close();
      }
    });
  }
});

describePostgres('Database timeouts', (database) => {
  const TIMEOUT_MS = 500;

  it('a write waiting longer than DB_TIMEOUT_MS for a chain head another session holds gets 503, and succeeds once it is free', async function () {
    this.timeout(20_000);
    const running = await startService(database().url, { DB_TIMEOUT_MS: String(TIMEOUT_MS) });
    const holder = createKnex(parseDatabaseUrl(database().url));
    let trx: Knex.Transaction | undefined;
    try {
      const headers = await authHeaders();
      const post = () => postJson(`${running.url}/audits`, sampleEvent(), headers);
      expect((await post()).status).to.equal(201);
      trx = await holder.transaction();
      await trx('audit_log_heads').where({ ims_org_id: ORG }).forUpdate();
      const start = Date.now();
      const refused = await post();
      expect(refused.status).to.equal(503);
      expect(await refused.json()).to.deep.include({ reason: 'service_unavailable' });
      // Cancelled by the server's statement_timeout (the client's own reply timeout, 500 ms
      // later, would have to close the connection), not left waiting for the lock.
      expect(Date.now() - start).to.be.within(TIMEOUT_MS, TIMEOUT_MS + 400);
      await trx.rollback();
      expect((await post()).status).to.equal(201);
    } finally {
      await trx?.rollback().catch(() => {});
      await holder.destroy();
      await running.close();
    }
  });

  it('a session left idle inside a transaction (its instance cut off mid-commit) loses its locks after twice DB_TIMEOUT_MS', async function () {
    this.timeout(20_000);
    const stranded = createKnex(parseDatabaseUrl(database().url), { timeoutMs: TIMEOUT_MS });
    const other = createKnex(parseDatabaseUrl(database().url), { timeoutMs: 5000 });
    let trx: Knex.Transaction | undefined;
    try {
      await stranded.schema.createTable('heads_like', (table) => table.text('id').primary());
      await stranded('heads_like').insert({ id: 'x' });
      trx = await stranded.transaction();
      await trx('heads_like').where({ id: 'x' }).forUpdate();
      // The stranded session sends nothing more. Another session waits for the row no longer
      // than the server takes to end the idle transaction.
      const start = Date.now();
      await other.transaction(async (mine) => {
        await mine('heads_like').where({ id: 'x' }).forUpdate();
      });
      expect(Date.now() - start).to.be.within(2 * TIMEOUT_MS - 100, 2 * TIMEOUT_MS + 1500);
      const ended = await trx('heads_like')
        .select()
        .catch((error: Error) => error);
      expect(String(ended)).to.match(/not queryable|Connection terminated/);
    } finally {
      // knex waits for an unfinished transaction's connection before it can be destroyed.
      await trx?.rollback().catch(() => {});
      await Promise.all([stranded.destroy(), other.destroy()]);
    }
  });
});
