import { expect } from 'chai';
import { CloudEvent, HTTP } from 'cloudevents';
import { toCloudEvent, toOcsf } from '../src/domain/formats';
import { describeEachDatabase } from './helpers/databases';
import { appendEvents, fixtureEvents, type StoredAuditEvent } from './helpers/reads';
import { sampleEvent, startService, type RunningService } from './helpers/service';
import { authHeaders, ORG } from './helpers/tokens';

const stored = (overrides: Partial<StoredAuditEvent> = {}): StoredAuditEvent => ({
  ...sampleEvent({ imsOrgId: 'ACME@AdobeOrg' }),
  id: '01933b1e-7c4a-7d2e-9b1a-2f4e5d6c7b8a',
  receivedAt: '2017-10-31T00:02:04.517Z',
  seq: 42,
  salts: { userIdentifier: 'AAAAAAAAAAAAAAAAAAAAAA==' },
  leafHash: Buffer.alloc(32, 0xab).toString('base64'),
  ...overrides,
});

describe('event formats', () => {
  describe('cloudevents', () => {
    it('is a structured-mode CloudEvent that the cloudevents SDK reads back, data unchanged', () => {
      const event = stored();
      const received = HTTP.toEvent({
        headers: { 'content-type': 'application/cloudevents+json' },
        body: JSON.stringify(toCloudEvent(event)),
      }) as CloudEvent<StoredAuditEvent>;
      expect(received.specversion).to.equal('1.0');
      expect(received.id).to.equal(event.id);
      expect(received.source).to.equal('/audits/ACME%40AdobeOrg');
      expect(received.type).to.equal('com.adobe.audit.event.v1');
      expect(received.subject).to.equal('stream/42');
      expect(received.time).to.equal(event.timestamp);
      expect(received.seq).to.equal(42);
      expect(received.data).to.deep.equal(event);
      expect(received.validate()).to.equal(true);
    });

    it('reads as a batch (application/cloudevents-batch+json) in order', () => {
      const events = [stored({ seq: 1, id: '01933b1e-7c4a-7d2e-9b1a-000000000001' }), stored({ seq: 2 })];
      const received = HTTP.toEvent({
        headers: { 'content-type': 'application/cloudevents-batch+json' },
        body: JSON.stringify(events.map(toCloudEvent)),
      }) as CloudEvent<StoredAuditEvent>[];
      expect(received.map((e) => e.seq)).to.deep.equal([1, 2]);
      expect(received.map((e) => e.id)).to.deep.equal(events.map((e) => e.id));
    });
  });

  describe('ocsf (API Activity, class 6003)', () => {
    const cases: [string, number, string][] = [
      ['create', 1, 'Create'],
      ['READ', 2, 'Read'],
      ['update', 3, 'Update'],
      ['Delete', 4, 'Delete'],
      ['approve', 99, 'approve'],
    ];
    for (const [action, activityId, name] of cases) {
      it(`maps action ${action} to activity ${activityId}`, () => {
        const ocsf = toOcsf(stored({ action }));
        expect(ocsf.activity_id).to.equal(activityId);
        expect(ocsf.activity_name).to.equal(name);
        expect(ocsf.type_uid).to.equal(600300 + activityId);
      });
    }

    it('maps every field as the spec documents', () => {
      const event = stored();
      expect(toOcsf(event)).to.deep.equal({
        class_uid: 6003,
        class_name: 'API Activity',
        category_uid: 6,
        category_name: 'Application Activity',
        activity_id: 3,
        activity_name: 'Update',
        type_uid: 600303,
        severity_id: 1,
        severity: 'Informational',
        status_id: 0,
        time: Date.parse(event.timestamp),
        metadata: {
          version: '1.3.0',
          product: { name: 'Audit Service', vendor_name: 'Adobe' },
          uid: event.id,
          tenant_uid: 'ACME@AdobeOrg',
          sequence: 42,
          logged_time: Date.parse(event.receivedAt),
          original_time: event.timestamp,
        },
        actor: { user: { uid: event.userIdentifier, name: event.userIdentifier } },
        api: { operation: 'update', service: { name: 'SKMS-1234' } },
        src_endpoint: { svc_name: 'marketingcloud' },
        resources: [{ uid: 'stream/42' }],
        unmapped: { tags: { region: 'eu-west-1' }, leafHash: event.leafHash },
      });
    });
  });
});

describeEachDatabase('GET /audits/export in event formats', (database) => {
  let running: RunningService;
  let headers: Record<string, string>;
  let events: StoredAuditEvent[];
  before(async () => {
    running = await startService(database().url);
    headers = await authHeaders({ orgs: [ORG] });
    events = await appendEvents(running.service.store, fixtureEvents(ORG, 30));
  });
  after(() => running?.close());

  const lines = async (format: string) => {
    const res = await fetch(`${running.url}/audits/export?imsOrgId=${encodeURIComponent(ORG)}&format=${format}`, {
      headers,
    });
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.equal('application/x-ndjson');
    expect(res.headers.get('content-disposition')).to.equal(`attachment; filename="audit-events.${format}.ndjson"`);
    return (await res.text()).split('\n').filter(Boolean);
  };
  const byTimestamp = (list: StoredAuditEvent[]) =>
    [...list].sort((a, b) => a.timestamp.localeCompare(b.timestamp) || a.id.localeCompare(b.id));

  it('format=cloudevents: one CloudEvent per line that the SDK parses, every event, oldest first', async () => {
    const received = (await lines('cloudevents')).map(
      (line) =>
        HTTP.toEvent({
          headers: { 'content-type': 'application/cloudevents+json' },
          body: line,
        }) as CloudEvent<StoredAuditEvent>,
    );
    expect(received.map((e) => e.data)).to.deep.equal(byTimestamp(events));
    for (const e of received) expect(e.seq).to.equal(e.data!.seq);
  });

  it('format=ocsf: one API Activity per line, every event, oldest first', async () => {
    const received = (await lines('ocsf')).map((line) => JSON.parse(line) as ReturnType<typeof toOcsf>);
    expect(received.map((e) => e.metadata.uid)).to.deep.equal(byTimestamp(events).map((e) => e.id));
    expect(new Set(received.map((e) => e.class_uid))).to.deep.equal(new Set([6003]));
  });

  it('format=xml is 400 naming the parameter', async () => {
    const res = await fetch(`${running.url}/audits/export?imsOrgId=${encodeURIComponent(ORG)}&format=xml`, {
      headers,
    });
    expect(res.status).to.equal(400);
    expect(((await res.json()) as { message: string }).message).to.include('format');
  });
});
