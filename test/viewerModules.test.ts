import { expect } from 'chai';
import { describeFailure } from '../src/viewer/failures';
import { readClaims, sessionOf } from '../src/viewer/session';
import { SseParser, type SseMessage } from '../src/viewer/sse';
import { emptyView, filterQuery, formatView, matches, parseView, type View } from '../src/viewer/view';

// The viewer's pure parts, without a browser: the SSE reader, the URL fragment, the token's claims
// and the messages for refused requests. test/viewer.browser.test.ts drives the whole page.
describe('viewer modules', () => {
  describe('SseParser', () => {
    const parse = (chunks: string[]) => {
      const messages: SseMessage[] = [];
      const parser = new SseParser((message) => messages.push(message));
      for (const chunk of chunks) parser.push(chunk);
      return messages;
    };

    it('reads messages split anywhere across chunks, with any line ending', () => {
      const text =
        'retry: 1000\n\nid: 1\nevent: audit\ndata: {"a":1}\n\n: heartbeat\n\nid: 2\r\nevent: audit\r\ndata: x\r\ndata: y\r\n\r\n';
      const whole = parse([text]);
      expect(whole).to.deep.equal([
        { id: '1', event: 'audit', data: '{"a":1}' },
        { id: '2', event: 'audit', data: 'x\ny' },
      ]);
      // Every split point, including between \r and \n.
      for (let i = 1; i < text.length; i++)
        expect(parse([text.slice(0, i), text.slice(i)]), String(i)).to.deep.equal(whole);
      expect(parse([...text])).to.deep.equal(whole);
    });

    it('ignores comments and unknown fields, keeps the last id, and defaults the event to "message"', () => {
      expect(parse(['id: 7\n\n: c\nfoo: bar\ndata:no space\n\n'])).to.deep.equal([
        { id: '7', event: 'message', data: 'no space' },
      ]);
      expect(parse(['data: incomplete\n'])).to.deep.equal([]);
    });
  });

  describe('the view in the URL fragment', () => {
    const view: View = {
      org: 'ACME@AdobeOrg',
      filters: {
        action: 'update',
        userIdentifier: 'jane+doe@example.com',
        from: '2017-10-01T00:00:00Z',
        tags: ['urn\\:env:prod', 'a:b&c'],
      },
      cursor: 'eyJ0Ijox.sig',
      back: ['', 'first.sig'],
      event: '01933b1e-7c4a-7d2e-9b1a-2f4e5d6c7b8a',
    };

    it('round-trips tenant, filters, page and open event, and never names a token', () => {
      const hash = formatView(view);
      expect(parseView(hash)).to.deep.equal(view);
      expect(parseView('')).to.deep.equal(emptyView());
      expect(hash).to.not.match(/token|bearer/i);
    });

    it("builds the list operation's query, tags repeated", () => {
      expect(filterQuery(view.org, view.filters).toString()).to.equal(
        'imsOrgId=ACME%40AdobeOrg&action=update&userIdentifier=jane%2Bdoe%40example.com&from=2017-10-01T00%3A00%3A00Z&tag=urn%5C%3Aenv%3Aprod&tag=a%3Ab%26c',
      );
    });

    it('matches live events as the server filters: exact fields, [from, to), tags with escaped keys', () => {
      const event = {
        action: 'update',
        source: 's',
        service: { serviceId: 'svc' },
        resource: { resourceId: 'r' },
        userIdentifier: 'u',
        timestamp: '2017-10-31T00:00:00Z',
        tags: { 'urn:env': 'prod', link: 'https://x' },
      };
      expect(matches(event, { tags: [] })).to.equal(true);
      expect(matches(event, { action: 'update', tags: ['urn\\:env:prod', 'link:https://x'] })).to.equal(true);
      expect(matches(event, { action: 'delete', tags: [] })).to.equal(false);
      expect(matches(event, { tags: ['urn:env:prod'] })).to.equal(false); // key "urn", value "env:prod"
      expect(matches(event, { from: '2017-10-31T00:00:00Z', tags: [] })).to.equal(true);
      expect(matches(event, { to: '2017-10-31T00:00:00Z', tags: [] })).to.equal(false);
      expect(matches(event, { userIdentifier: 'v', tags: [] })).to.equal(false);
    });
  });

  describe('the session', () => {
    const jwt = (claims: object) => `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.c2ln`;

    it("reads the token's orgs, scopes and expiry without trusting them, and refuses what is not a JWT", () => {
      expect(
        sessionOf(' app ', `Bearer ${jwt({ orgs: ['A', 'B'], scope: 'audit.read,audit.write', exp: 100 })}`),
      ).to.deep.include({
        clientId: 'app',
        orgs: ['A', 'B'],
        scopes: ['audit.read', 'audit.write'],
        expiresAt: 100_000,
      });
      expect(sessionOf('app', jwt({ orgs: ['A', '*'] }))).to.deep.include({ orgs: '*' });
      expect(sessionOf('app', 'not-a-token'))
        .to.be.a('string')
        .and.match(/not a JWT/);
      expect(sessionOf('', jwt({}))).to.match(/client id/);
      expect(readClaims('a.!!!.c')).to.equal(undefined);
      expect(readClaims(`e30.${Buffer.from('[1]').toString('base64url')}.c2ln`)).to.equal(undefined);
    });
  });

  describe('messages for refused requests', () => {
    it('says to sign in again on 401, names the tenant or scope on 403, and words the rest', () => {
      expect(describeFailure(401, 'token has expired')).to.deep.include({
        kind: 'unauthorized',
        message: 'Your sign-in was not accepted (token has expired). Please sign in again.',
      });
      expect(
        describeFailure(403, { reason: 'forbidden', message: 'token does not cover imsOrgId "X \\"Y\\""' }).message,
      ).to.equal('Your token does not cover the tenant X "Y". Ask for a token that has it, or pick another tenant.');
      expect(describeFailure(403, { reason: 'forbidden', message: 'token lacks scope audit.read' }).message).to.match(
        /^Your token lacks the scope audit\.read, which this needs\./,
      );
      expect(describeFailure(503, {}).kind).to.equal('busy');
      expect(
        describeFailure(400, {
          reason: 'bad_request',
          message: 'x',
          details: [{ path: 'query.from', message: 'must be an RFC 3339 date-time' }],
        }).message,
      ).to.equal('The service refused the request: query.from must be an RFC 3339 date-time');
    });
  });
});
