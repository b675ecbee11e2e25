/**
 * RFC 8785 JSON Canonicalization: object keys sorted by UTF-16 code units, no whitespace,
 * and strings and numbers serialised as ECMAScript's JSON.stringify does (which RFC 8785
 * adopts). Properties whose value is undefined are left out, as in JSON.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  // sort() without a comparator orders strings by UTF-16 code units, as RFC 8785 asks. A loop
  // rather than entries/filter/map: tags are canonicalised for every stored event.
  const record = value as Record<string, unknown>;
  let json = '';
  for (const key of Object.keys(record).sort()) {
    const item = record[key];
    if (item === undefined) continue;
    json += (json === '' ? '{' : ',') + JSON.stringify(key) + ':' + canonicalJson(item);
  }
  return json === '' ? '{}' : json + '}';
}
