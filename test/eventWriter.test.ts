import { expect } from 'chai';
import type { AuditEvent } from '../src/domain/api';
import type { AuditStore } from '../src/store/auditStore';
import type { WriteOutcome, WriteRequest } from '../src/domain/linking';
import { StoreUnavailableError } from '../src/store/errors';
import { EventWriter, WriteQueueFullError } from '../src/store/eventWriter';

const event = (action: string) => ({ action }) as AuditEvent;

/** A store that records each commit's group and refuses any group holding a 'poison' event. */
function fakeStore(fail: (requests: WriteRequest[]) => Error | undefined = () => undefined) {
  const groups: string[][] = [];
  let release: () => void = () => {};
  let gate: Promise<void> | undefined;
  const store = {
    async commit(requests: WriteRequest[]): Promise<WriteOutcome[]> {
      groups.push(requests.flatMap((r) => r.events.map((e) => e.action)));
      if (gate) await gate;
      const error = fail(requests);
      if (error) throw error;
      return requests.map((r) => ({ kind: 'stored', eventIds: r.events.map((e) => e.action) }));
    },
  };
  return {
    store: store as unknown as AuditStore,
    groups,
    /** Holds commits until released, so requests pile up behind the first one. */
    hold() {
      gate = new Promise((resolve) => (release = resolve));
    },
    release: () => {
      gate = undefined;
      release();
    },
  };
}

const ids = (outcome: WriteOutcome) => (outcome.kind === 'stored' ? outcome.eventIds : []);

describe('EventWriter (group commit)', () => {
  it('commits requests that arrive while a commit runs together, in arrival order', async () => {
    const fake = fakeStore();
    const writer = new EventWriter(fake.store, { maxQueuedEvents: 100, maxEventsPerCommit: 100 });
    fake.hold();
    const first = writer.write({ events: [event('a')] });
    await new Promise((resolve) => setImmediate(resolve));
    const rest = ['b', 'c', 'd'].map((action) => writer.write({ events: [event(action)] }));
    fake.release();
    const outcomes = await Promise.all([first, ...rest]);
    expect(outcomes.map(ids)).to.deep.equal([['a'], ['b'], ['c'], ['d']]);
    expect(fake.groups).to.deep.equal([['a'], ['b', 'c', 'd']]);
  });

  it('caps a group at maxEventsPerCommit but never splits a request', async () => {
    const fake = fakeStore();
    const writer = new EventWriter(fake.store, { maxQueuedEvents: 100, maxEventsPerCommit: 3 });
    await Promise.all([
      writer.write({ events: [event('a'), event('b')] }),
      writer.write({ events: [event('c'), event('d')] }),
      writer.write({ events: [event('e')] }),
      writer.write({ events: [event('f'), event('g'), event('h'), event('i')] }),
    ]);
    expect(fake.groups).to.deep.equal([
      ['a', 'b'],
      ['c', 'd', 'e'],
      ['f', 'g', 'h', 'i'],
    ]);
  });

  it('fails only the request the database refuses, not the others in its group', async () => {
    const fake = fakeStore((requests) =>
      requests.some((r) => r.events.some((e) => e.action === 'poison')) ? new Error('unique violation') : undefined,
    );
    const writer = new EventWriter(fake.store, { maxQueuedEvents: 100, maxEventsPerCommit: 100 });
    const results = await Promise.allSettled(
      ['a', 'poison', 'b'].map((action) => writer.write({ events: [event(action)] })),
    );
    expect(results.map((r) => r.status)).to.deep.equal(['fulfilled', 'rejected', 'fulfilled']);
    expect(((results[1] as PromiseRejectedResult).reason as Error).message).to.equal('unique violation');
  });

  it('fails the whole group at once when the database is unavailable, without retrying each', async () => {
    const fake = fakeStore(() => new StoreUnavailableError(new Error('ECONNREFUSED')));
    const writer = new EventWriter(fake.store, { maxQueuedEvents: 100, maxEventsPerCommit: 100 });
    const results = await Promise.allSettled(
      ['a', 'b', 'c'].map((action) => writer.write({ events: [event(action)] })),
    );
    expect(results.every((r) => r.status === 'rejected' && r.reason instanceof StoreUnavailableError)).to.equal(true);
    expect(fake.groups).to.have.length(1);
  });

  it('refuses at once when the queue is full, and admits again once it drains', async () => {
    const fake = fakeStore();
    const writer = new EventWriter(fake.store, { maxQueuedEvents: 3, maxEventsPerCommit: 100 });
    fake.hold();
    const admitted = [writer.write({ events: [event('a'), event('b')] }), writer.write({ events: [event('c')] })];
    expect(writer.depth).to.equal(3);
    let error: unknown;
    await writer.write({ events: [event('d')] }).catch((e: unknown) => (error = e));
    expect(error).to.be.instanceOf(WriteQueueFullError);
    fake.release();
    await Promise.all(admitted);
    await writer.drain();
    expect(writer.depth).to.equal(0);
    expect(ids(await writer.write({ events: [event('e')] }))).to.deep.equal(['e']);
  });

  it('admits one oversized request into an empty queue, so no valid request starves', async () => {
    const writer = new EventWriter(fakeStore().store, { maxQueuedEvents: 2, maxEventsPerCommit: 100 });
    const outcome = await writer.write({ events: [event('a'), event('b'), event('c')] });
    expect(ids(outcome)).to.deep.equal(['a', 'b', 'c']);
  });

  it('counts the groups and events it committed (npm run bench reads them), not those that failed', async () => {
    const fake = fakeStore((requests) =>
      requests.some((r) => r.events.some((e) => e.action === 'down'))
        ? new StoreUnavailableError(new Error('down'))
        : undefined,
    );
    const writer = new EventWriter(fake.store, { maxQueuedEvents: 100, maxEventsPerCommit: 100 });
    fake.hold();
    const first = writer.write({ events: [event('a')] });
    await new Promise((resolve) => setImmediate(resolve));
    const second = [writer.write({ events: [event('b'), event('c')] }), writer.write({ events: [event('d')] })];
    fake.release();
    await Promise.all([first, ...second]);
    await writer.write({ events: [event('down')] }).catch(() => {});
    expect(writer.stats).to.include({ groups: 2, events: 4 });
    expect(writer.stats.roundTripMs).to.be.above(0);
  });
});
