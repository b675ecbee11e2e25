import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { canonicalJson } from '../src/domain/canonicalJson';
import { commitment, commitmentsOf, eventLeafHash, leafText, saltsFor, SALT_BYTES } from '../src/domain/leaf';

const event = {
  id: '01933b1e-7c4a-7d2e-9b1a-2f4e5d6c7b8a',
  seq: 7,
  imsOrgId: 'ACME@AdobeOrg',
  receivedAt: '2017-10-31T00:02:05.000Z',
  timestamp: '2017-10-31T00:02:04.232Z',
  action: 'update "quoted" ✓',
  source: 'marketingcloud',
  service: { serviceId: 'SKMS-1234' },
  resource: { resourceId: 'stream/42\n' },
  userIdentifier: 'jane.doe@example.com',
  tags: { zeta: '1', Alpha: '2', é: '3', '€': '4', '\u{1F600}': '5', __proto__: '6' } as Record<string, string>,
};
// A tag named __proto__ must be a tag like any other (JSON.parse makes it an own property).
Object.defineProperty(event.tags, '__proto__', { value: '6', enumerable: true, configurable: true, writable: true });

describe("leaf hashes (the spec's LeafHash)", () => {
  it('canonical JSON is RFC 8785: keys in UTF-16 order, no whitespace', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 'x'], c: { '€': 1, é: 2, Z: 3 } })).to.equal(
      '{"a":[true,null,"x"],"b":1,"c":{"Z":3,"é":2,"€":1}}',
    );
  });

  it('commits to a value as base64(SHA-256(salt || UTF-8 value))', () => {
    const salt = Buffer.alloc(16, 7).toString('base64');
    const expected = createHash('sha256').update(Buffer.alloc(16, 7)).update('jané', 'utf8').digest('base64');
    expect(commitment(salt, 'jané')).to.equal(expected);
  });

  it('writes the hashed form exactly as canonicalJson would, with and without tags', () => {
    const { tags, ...untagged } = event;
    for (const e of [event, untagged]) {
      const salts = saltsFor((e as typeof event).tags);
      const form = {
        ...e,
        userIdentifier: commitment(salts.userIdentifier, e.userIdentifier),
        ...((e as typeof event).tags && {
          tags: Object.fromEntries(Object.entries(tags).map(([k, v]) => [k, commitment(salts.tags![k], v)])),
        }),
      };
      expect(leafText(e, commitmentsOf(e, salts))).to.equal(canonicalJson(form));
      expect(leafText(e, commitmentsOf(e, salts))).to.not.include('jane.doe');
      const leaf = createHash('sha256')
        .update(Buffer.from([0]))
        .update(canonicalJson(form))
        .digest('base64');
      expect(eventLeafHash(e, salts)).to.equal(leaf);
    }
    expect(Object.keys(saltsFor(tags).tags!)).to.have.members(Object.keys(tags));
  });

  it('gives each value its own random salt of SALT_BYTES', () => {
    const a = saltsFor(event.tags);
    const b = saltsFor(event.tags);
    const all = [a.userIdentifier, ...Object.values(a.tags!), b.userIdentifier, ...Object.values(b.tags!)];
    expect(new Set(all).size).to.equal(all.length);
    for (const salt of all) expect(Buffer.from(salt, 'base64')).to.have.length(SALT_BYTES);
  });

  it('changes with any field, any salt, and refuses a tag without a salt', () => {
    const salts = saltsFor(event.tags);
    const base = eventLeafHash(event, salts);
    expect(base).to.match(/^[A-Za-z0-9+/]{43}=$/);
    expect(eventLeafHash({ ...event, seq: 8 }, salts)).to.not.equal(base);
    expect(eventLeafHash({ ...event, receivedAt: '2017-10-31T00:02:05.001Z' }, salts)).to.not.equal(base);
    expect(eventLeafHash({ ...event, userIdentifier: 'john' }, salts)).to.not.equal(base);
    expect(eventLeafHash({ ...event, tags: { ...event.tags, zeta: '2' } }, salts)).to.not.equal(base);
    expect(eventLeafHash(event, { ...salts, userIdentifier: saltsFor(undefined).userIdentifier })).to.not.equal(base);
    expect(() => eventLeafHash({ ...event, tags: { ...event.tags, extra: 'x' } }, salts)).to.throw(
      /tag "extra" has no salt/,
    );
  });
});
