import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { parse as parseYaml } from 'yaml';
import { describeEachDatabase } from './helpers/databases';
import { postJson, sampleEvent, startService, type RunningService } from './helpers/service';
import { withKnex } from './helpers/sql';
import { authHeaders } from './helpers/tokens';

interface Schema {
  $ref?: string;
  type?: string;
  format?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
}

const spec = parseYaml(readFileSync('api/openapi.yaml', 'utf8')) as { components: { schemas: Record<string, Schema> } };
const resolve = (schema: Schema): Schema =>
  schema.$ref ? resolve(spec.components.schemas[schema.$ref.replace('#/components/schemas/', '')]) : schema;

/** Every stored field of StoredAuditEvent, walked from the spec: [dotted path, its schema]. */
function storedFields(schema: Schema, prefix = ''): [string, Schema][] {
  return Object.entries(schema.properties ?? {}).flatMap(([name, property]) => {
    const resolved = resolve(property);
    const path = `${prefix}${name}`;
    // An object with named properties nests (service.serviceId); a map (tags) is one stored value,
    // and so are the salts and the erased commitments (one JSON column each).
    return resolved.type === 'object' && resolved.properties && !JSON_COLUMNS.has(path)
      ? storedFields(resolved, `${path}.`)
      : [[path, resolved]];
  });
}

const JSON_COLUMNS = new Set(['salts', 'erased']);

// The one field whose column is not its name in snake_case.
const COLUMN_EXCEPTIONS: Record<string, string> = { timestamp: 'occurred_at' };
const columnOf = (path: string) => {
  const leaf = path.split('.').at(-1)!;
  return COLUMN_EXCEPTIONS[leaf] ?? leaf.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
};

/** An edit of the stored value that any reader would see as a different value of the field. */
function tamperSql(path: string, schema: Schema, column: string): { sql: string; bindings: string[] } {
  if (schema.type === 'string' && schema.format === 'date-time')
    return { sql: `UPDATE audit_events SET ${column} = ${column} + 1 WHERE id = ?`, bindings: [] };
  if (schema.type === 'string')
    return { sql: `UPDATE audit_events SET ${column} = ${column} || 'x' WHERE id = ?`, bindings: [] };
  if (schema.type === 'integer')
    return { sql: `UPDATE audit_events SET ${column} = ${column} + 1000 WHERE id = ?`, bindings: [] };
  if (path === 'salts') {
    const salts = {
      userIdentifier: Buffer.alloc(16, 9).toString('base64'),
      tags: { region: Buffer.alloc(16, 8).toString('base64') },
    };
    return { sql: `UPDATE audit_events SET ${column} = ? WHERE id = ?`, bindings: [JSON.stringify(salts)] };
  }
  if (path === 'erased') {
    // A commitment for a field the event still holds: the served value would hide it.
    const erased = { userIdentifier: Buffer.alloc(32, 7).toString('base64') };
    return { sql: `UPDATE audit_events SET ${column} = ? WHERE id = ?`, bindings: [JSON.stringify(erased)] };
  }
  if (schema.type === 'object' && typeof schema.additionalProperties === 'object')
    return { sql: `UPDATE audit_events SET ${column} = ? WHERE id = ?`, bindings: [JSON.stringify({ tampered: 'x' })] };
  throw new Error(
    `StoredAuditEvent.${path} (${JSON.stringify(schema)}) is a kind of field this test cannot tamper with: teach it how`,
  );
}

let orgCounter = 0;

describeEachDatabase('The leaf hash covers every stored field of StoredAuditEvent', (database) => {
  let running: RunningService;
  let headers: Record<string, string>;
  before(async () => {
    running = await startService(database().url);
    headers = await authHeaders({ orgs: '*' });
  });
  after(() => running?.close());

  const fields = storedFields(resolve(spec.components.schemas.StoredAuditEvent));

  it('finds the stored fields in the spec, each with a column of audit_events', async () => {
    expect(fields.map(([path]) => path)).to.include.members([
      'id',
      'seq',
      'leafHash',
      'salts',
      'erased',
      'service.serviceId',
      'tags',
    ]);
    const columns = await withKnex(database().url, (db) => db('audit_events').columnInfo());
    for (const [path] of fields) {
      expect(columns, `StoredAuditEvent.${path} has no column audit_events.${columnOf(path)}`).to.have.property(
        columnOf(path),
      );
    }
  });

  for (const [path, schema] of fields) {
    it(`breaks verification when ${path} is edited in the database`, async () => {
      const org = `coverage-${Date.now()}-${orgCounter++}@AdobeOrg`;
      const events = [1, 2, 3].map((i) =>
        sampleEvent({ imsOrgId: org, action: `a${i}`, tags: { region: 'eu', n: `${i}` } }),
      );
      const res = await postJson(`${running.url}/audits/batch`, events, headers);
      const { ids } = (await res.json()) as { ids: string[] };
      const verify = async () =>
        (await (
          await fetch(`${running.url}/audits/verify?imsOrgId=${encodeURIComponent(org)}`, { headers })
        ).json()) as {
          verified: boolean;
        };
      expect((await verify()).verified).to.equal(true);
      const { sql, bindings } = tamperSql(path, schema, columnOf(path));
      await withKnex(database().url, (db) => db.raw(sql, [...bindings, ids[1]]));
      expect((await verify()).verified, `an edited ${path} went unnoticed: is it hashed?`).to.equal(false);
    });
  }
});
