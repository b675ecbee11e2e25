import type { StoredAuditEvent } from '../domain/api';
import { canonicalJson } from '../domain/canonicalJson';
import { toCloudEvent, toOcsf } from '../domain/formats';

// Characters per chunk written (about 40 kB with the events of npm run bench:query; bounded so
// for large events too): small enough to die young in V8's new space (big strings go straight
// to the old generation and pile up until a full collection), large enough that per-write
// overhead is negligible. An event larger than this is a chunk of its own.
const CHUNK_CHARS = 48 * 1024;

export interface ExportFormat {
  contentType: 'application/x-ndjson' | 'text/csv';
  fileExtension: string;
  /** The response text, in chunks of about CHUNK_CHARS characters. */
  render(batches: AsyncIterable<StoredAuditEvent[]>): AsyncIterable<string>;
}

/** One JSON object per line, each event mapped by `map`. */
function ndjsonOf(fileExtension: string, map: (event: StoredAuditEvent) => unknown): ExportFormat {
  return {
    contentType: 'application/x-ndjson',
    fileExtension,
    render: (batches) => chunked(batches, (event) => `${JSON.stringify(map(event))}\n`),
  };
}

/** One StoredAuditEvent JSON object per line: the lossless export. */
const ndjson = ndjsonOf('ndjson', (event) => event);

const CSV_COLUMNS: [string, (event: StoredAuditEvent) => string][] = [
  ['id', (event) => event.id],
  ['imsOrgId', (event) => event.imsOrgId],
  ['seq', (event) => String(event.seq)],
  ['timestamp', (event) => event.timestamp],
  ['receivedAt', (event) => event.receivedAt],
  ['action', (event) => event.action],
  ['source', (event) => event.source],
  ['serviceId', (event) => event.service.serviceId],
  ['resourceId', (event) => event.resource.resourceId],
  // An erased userIdentifier is an empty cell (the value is never empty).
  ['userIdentifier', (event) => event.userIdentifier ?? ''],
  // Keys sorted, so the column reads the same whichever database kept the tags.
  ['tags', (event) => (event.tags === undefined ? '' : canonicalJson(event.tags))],
  ['leafHash', (event) => event.leafHash],
];

/** RFC 4180, one row per event, with spreadsheet formulas made inert (see the spec). */
const csv: ExportFormat = {
  contentType: 'text/csv',
  fileExtension: 'csv',
  async *render(batches) {
    yield csvRow(CSV_COLUMNS.map(([name]) => name));
    yield* chunked(batches, (event) => csvRow(CSV_COLUMNS.map(([, value]) => value(event))));
  },
};

export const EXPORT_FORMATS = {
  ndjson,
  csv,
  cloudevents: ndjsonOf('cloudevents.ndjson', toCloudEvent),
  ocsf: ndjsonOf('ocsf.ndjson', toOcsf),
} as const;

/** The events' lines, joined into chunks of about CHUNK_CHARS. */
async function* chunked(
  batches: AsyncIterable<StoredAuditEvent[]>,
  line: (event: StoredAuditEvent) => string,
): AsyncIterable<string> {
  let chunk = '';
  for await (const events of batches) {
    for (const event of events) {
      chunk += line(event);
      if (chunk.length >= CHUNK_CHARS) {
        yield chunk;
        chunk = '';
      }
    }
  }
  if (chunk !== '') yield chunk;
}

function csvRow(fields: string[]): string {
  return `${fields.map(csvField).join(',')}\r\n`;
}

// Spreadsheets run a cell that starts with one of these as a formula (OWASP "CSV injection").
const FORMULA_START = /^[=+\-@\t\r]/;
const NEEDS_QUOTES = /[",\r\n]/;

export function csvField(value: string): string {
  const inert = FORMULA_START.test(value) ? `'${value}` : value;
  return NEEDS_QUOTES.test(inert) ? `"${inert.replaceAll('"', '""')}"` : inert;
}
