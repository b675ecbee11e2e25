import { expect } from 'chai';
import { formatInstant, parseInstant } from '../src/domain/instant';

describe('parseInstant (RFC 3339 date-time)', () => {
  const valid: [string, string][] = [
    ['2017-10-31T00:02:04.232Z', '2017-10-31T00:02:04.232Z'],
    ['2017-10-31T00:02:04Z', '2017-10-31T00:02:04.000Z'],
    ['2017-10-31T05:32:04.232+05:30', '2017-10-31T00:02:04.232Z'],
    ['2017-10-30T23:02:04.232-01:00', '2017-10-31T00:02:04.232Z'],
    ['2017-10-31T00:02:04.232999999Z', '2017-10-31T00:02:04.232Z'],
    ['2017-10-31t00:02:04z', '2017-10-31T00:02:04.000Z'],
    ['2016-02-29T00:00:00Z', '2016-02-29T00:00:00.000Z'],
    ['0000-02-29T00:00:00Z', '0000-02-29T00:00:00.000Z'],
    ['0099-12-31T23:59:59Z', '0099-12-31T23:59:59.000Z'],
  ];
  for (const [text, canonical] of valid) {
    it(`reads ${text} as ${canonical}`, () => expect(formatInstant(parseInstant(text)!)).to.equal(canonical));
  }
  const invalid = [
    '2017-02-30T00:00:00Z',
    '1900-02-29T00:00:00Z',
    '2017-13-01T00:00:00Z',
    '2017-10-31',
    '2017-10-31T00:02:04',
    '2017-10-31T24:00:00Z',
    '2017-10-31T00:60:00Z',
    '2016-12-31T23:59:60Z',
    '2017-10-31T00:00:00+25:00',
    '2017-10-31T00:00:00+0530',
    '2017-10-31T00:00:00.Z',
    ' 2017-10-31T00:00:00Z',
    '20171031T000000Z',
    'string',
  ];
  for (const text of invalid)
    it(`rejects ${JSON.stringify(text)}`, () => expect(parseInstant(text)).to.equal(undefined));
});
