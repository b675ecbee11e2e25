import net from 'node:net';

export interface RawReply {
  /** Everything the server sent before it closed the connection (or before the wait ended). */
  text: string;
  status?: number;
  headers: Record<string, string>;
  body: string;
  /** Whether the server closed the connection, and after how long. */
  closed: boolean;
  elapsedMs: number;
}

/**
 * Sends `bytes` as they are over a fresh TCP connection to the server at `url`, for requests
 * that fetch() cannot make (malformed framing, no Host, huge headers, silence), and waits for
 * the server to close the connection, at most `waitMs`. The socket is always destroyed.
 */
export function sendRaw(url: string, bytes: string | Buffer, waitMs = 5000): Promise<RawReply> {
  const { hostname, port } = new URL(url);
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(parseReply(Buffer.concat(chunks).toString('latin1'), closed, Date.now() - started));
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true)); // a reset after the reply still counts as closed
    if (bytes.length > 0) socket.write(bytes);
  });
}

function parseReply(text: string, closed: boolean, elapsedMs: number): RawReply {
  const end = text.indexOf('\r\n\r\n');
  const head = end === -1 ? text : text.slice(0, end);
  const [statusLine, ...lines] = head.split('\r\n');
  const status = /^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1];
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return {
    text,
    status: status ? Number(status) : undefined,
    headers,
    body: end === -1 ? '' : text.slice(end + 4),
    closed,
    elapsedMs,
  };
}
