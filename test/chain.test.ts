import { expect } from 'chai';
import { canonicalJson, canonicalLink, chainHash, GENESIS_HASH } from '../src/domain/chain';

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
  tags: { zeta: '1', Alpha: '2', é: '3', '€': '4', '\u{1F600}': '5' },
};

describe('hash chain canonical form', () => {
  it('is RFC 8785: keys in UTF-16 order, no whitespace', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 'x'], c: { '€': 1, é: 2, Z: 3 } })).to.equal(
      '{"a":[true,null,"x"],"b":1,"c":{"Z":3,"é":2,"€":1}}',
    );
  });

  it('writes each link exactly as canonicalJson would, with and without tags', () => {
    const { tags, ...untagged } = event;
    for (const e of [event, untagged]) {
      const { id, seq, imsOrgId, receivedAt, timestamp, action, source, service, resource, userIdentifier } = e;
      const generic = canonicalJson({
        id,
        seq,
        imsOrgId,
        receivedAt,
        timestamp,
        action,
        source,
        service,
        resource,
        userIdentifier,
        tags: (e as typeof event).tags,
        prevHash: GENESIS_HASH,
      });
      expect(canonicalLink(e, GENESIS_HASH)).to.equal(generic);
    }
    expect(tags).to.be.an('object');
  });

  it('changes the hash when any field or the previous hash changes', () => {
    const base = chainHash(event, GENESIS_HASH);
    expect(base).to.match(/^[0-9a-f]{64}$/);
    expect(chainHash({ ...event, seq: 8 }, GENESIS_HASH)).to.not.equal(base);
    expect(chainHash({ ...event, tags: { ...event.tags, zeta: '2' } }, GENESIS_HASH)).to.not.equal(base);
    expect(chainHash(event, 'f'.repeat(64))).to.not.equal(base);
  });
});
