import { expect } from 'chai';
import { csvField } from '../src/http/exportFormats';

describe('csvField (RFC 4180, formulas made inert)', () => {
  const cases: [string, string][] = [
    ['plain', 'plain'],
    ['', ''],
    ['with space ', 'with space '],
    ['a,b', '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    ['two\nlines', '"two\nlines"'],
    ['cr\rlf', '"cr\rlf"'],
    ['=1+2', "'=1+2"],
    ['+1', "'+1"],
    ['-1', "'-1"],
    ['@SUM(A1)', "'@SUM(A1)"],
    ['\tTAB', "'\tTAB"],
    ['\rCR', `"'\rCR"`],
    ['=HYPERLINK("x","y")', `"'=HYPERLINK(""x"",""y"")"`],
    ['a=b', 'a=b'],
    ["'quoted'", "'quoted'"],
  ];
  for (const [value, written] of cases) {
    it(`writes ${JSON.stringify(value)} as ${JSON.stringify(written)}`, () => {
      expect(csvField(value)).to.equal(written);
    });
  }
});
