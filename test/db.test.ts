import { expect } from 'chai';
import { parseDatabaseUrl } from '../src/config';
import { createKnex } from '../src/store/db';
import { describeEachDatabase } from './helpers/databases';
import { withKnex } from './helpers/sql';

describeEachDatabase('Database connections', (database) => {
  it('are never reused while left inside a transaction: the next statement commits on its own', async () => {
    const db = createKnex(parseDatabaseUrl(database().url));
    try {
      await db.schema.createTable('left_open', (table) => table.integer('n'));
      // A transaction that never ended (its ROLLBACK was lost, or its COMMIT failed and left
      // it open): the pool must not hand this connection out again as if it were clean.
      await db.raw('BEGIN');
      await db('left_open').insert({ n: 1 });
      const seen = await withKnex(database().url, (other) => other('left_open').pluck('n'));
      expect(seen, 'the insert joined the abandoned transaction').to.deep.equal([1]);
    } finally {
      await db.destroy();
    }
  });
});
