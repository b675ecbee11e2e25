import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { AuditError } from '../src/domain/errors';
import { CursorCodec } from '../src/http/cursor';
import type { EventFilter } from '../src/domain/filter';

describe('CursorCodec', () => {
  const codec = new CursorCodec(randomBytes(32));
  const position = { occurredAt: 1_509_408_124_232, id: '01933b1e-7c4a-7d2e-9b1a-2f4e5d6c7b8a' };
  const filter: EventFilter = {
    imsOrgId: 'ORG-A',
    action: 'update',
    from: 0,
    tags: [
      ['b', '2'],
      ['a', '1'],
    ],
  };
  const rejects = (cursor: string, query: EventFilter, message: RegExp) => {
    try {
      codec.decode(cursor, query);
    } catch (error) {
      expect(error).to.be.instanceOf(AuditError).and.include({ reason: 'bad_request' });
      expect((error as Error).message).to.match(message);
      return;
    }
    expect.fail(`accepted ${cursor}`);
  };

  it('gives back the position it encoded, for the same query in any tag order', () => {
    const cursor = codec.encode(position, filter);
    expect(codec.decode(cursor, filter)).to.deep.equal(position);
    expect(
      codec.decode(cursor, {
        ...filter,
        tags: [
          ['a', '1'],
          ['b', '2'],
        ],
      }),
    ).to.deep.equal(position);
  });

  it('refuses a cursor signed with another key', () => {
    const foreign = new CursorCodec(randomBytes(32)).encode(position, filter);
    rejects(foreign, filter, /not a cursor this server issued/);
  });

  it('refuses a cursor for a query that differs in any part', () => {
    const cursor = codec.encode(position, filter);
    const others: EventFilter[] = [
      { ...filter, imsOrgId: 'ORG-B' },
      { ...filter, action: undefined },
      { ...filter, source: 'x' },
      { ...filter, serviceId: 'x' },
      { ...filter, resourceId: 'x' },
      { ...filter, userIdentifier: 'x' },
      { ...filter, from: 1 },
      { ...filter, to: 1 },
      { ...filter, tags: [['a', '1']] },
      {
        ...filter,
        tags: [
          ['a', '1'],
          ['b', '3'],
        ],
      },
    ];
    for (const other of others) rejects(cursor, other, /belongs to a different query/);
  });

  it('binds the whole filter object, so a filter added to EventFilter is bound without being listed', () => {
    const cursor = codec.encode(position, filter);
    // A property the codec has never heard of, standing in for a future filter.
    const withExtra = { ...filter, actorType: 'robot' } as EventFilter;
    rejects(cursor, withExtra, /belongs to a different query/);
    expect(codec.decode(codec.encode(position, withExtra), withExtra)).to.deep.equal(position);
    rejects(codec.encode(position, withExtra), { ...filter, actorType: 'human' } as EventFilter, /different query/);
  });
});
