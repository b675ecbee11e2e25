// Server-Sent Events read from a fetch() body: EventSource cannot send the Authorization header,
// and the token must never go into a URL. The parsing follows the HTML standard's rules.

export interface SseMessage {
  id?: string;
  event: string;
  data: string;
}

/** Feeds text chunks in, calls `onMessage` for each complete message. */
export class SseParser {
  private buffer = '';
  private data: string[] = [];
  private event = '';
  private id: string | undefined;

  constructor(private readonly onMessage: (message: SseMessage) => void) {}

  push(chunk: string): void {
    this.buffer += chunk;
    let newline: RegExpExecArray | null;
    const lineEnd = /\r\n|\r|\n/g;
    let start = 0;
    while ((newline = lineEnd.exec(this.buffer)) !== null) {
      // A lone \r at the end of the buffer may be the first half of \r\n: wait for more.
      if (newline[0] === '\r' && newline.index === this.buffer.length - 1) break;
      this.line(this.buffer.slice(start, newline.index));
      start = newline.index + newline[0].length;
    }
    this.buffer = this.buffer.slice(start);
  }

  private line(line: string): void {
    if (line === '') {
      if (this.data.length > 0)
        this.onMessage({ id: this.id, event: this.event || 'message', data: this.data.join('\n') });
      this.data = [];
      this.event = '';
      return;
    }
    if (line.startsWith(':')) return; // a comment: the heartbeat
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.id = value;
  }
}
