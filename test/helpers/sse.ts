import { expect } from 'chai';

export interface SseMessage {
  id?: string;
  event?: string;
  data?: string;
  retry?: string;
  /** Comment lines (`: …`), without the colon and space. */
  comments: string[];
}

/** Parses complete messages from `buffer`; returns them and the unparsed rest. */
export function parseSse(buffer: string): { messages: SseMessage[]; rest: string } {
  const blocks = buffer.split('\n\n');
  const rest = blocks.pop()!;
  const messages = blocks.map((block) => {
    const message: SseMessage = { comments: [] };
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) message.comments.push(line.slice(1).trimStart());
      else {
        const colon = line.indexOf(':');
        const field = line.slice(0, colon) as 'id' | 'event' | 'data' | 'retry';
        message[field] = line.slice(colon + 1).replace(/^ /, '');
      }
    }
    return message;
  });
  return { messages, rest };
}

/** An open stream, read message by message. */
export class SseReader {
  private buffer = '';
  private readonly queue: SseMessage[] = [];
  private readonly decoder = new TextDecoder();
  ended = false;

  private constructor(
    readonly response: Response,
    private readonly reader: ReadableStreamDefaultReader<Uint8Array>,
    private readonly abort: AbortController,
  ) {}

  static async open(url: string, headers: Record<string, string>): Promise<SseReader> {
    const abort = new AbortController();
    const response = await fetch(url, { headers, signal: abort.signal });
    expect(response.status, await peekError(response)).to.equal(200);
    expect(response.headers.get('content-type')).to.equal('text/event-stream');
    return new SseReader(response, response.body!.getReader(), abort);
  }

  /** The next message, or undefined once the server has ended the stream. */
  async next(timeoutMs = 5000): Promise<SseMessage | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length === 0) {
      if (this.ended) return undefined;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('no SSE message in time');
      let timer: NodeJS.Timeout | undefined;
      const chunk = await Promise.race([
        this.reader.read(),
        new Promise<never>(
          (_, reject) => (timer = setTimeout(() => reject(new Error('no SSE message in time')), left)),
        ),
      ]).finally(() => clearTimeout(timer));
      if (chunk.done) {
        this.ended = true;
        continue;
      }
      const { messages, rest } = parseSse(this.buffer + this.decoder.decode(chunk.value, { stream: true }));
      this.buffer = rest;
      this.queue.push(...messages);
    }
    return this.queue.shift();
  }

  /** Audit messages' seqs until `count` are read (other messages are skipped). */
  async seqs(count: number, timeoutMs = 10_000): Promise<number[]> {
    const seqs: number[] = [];
    while (seqs.length < count) {
      const message = await this.next(timeoutMs);
      if (!message) break;
      if (message.event === 'audit') seqs.push(Number(message.id));
    }
    return seqs;
  }

  close(): void {
    this.abort.abort();
  }
}

async function peekError(response: Response): Promise<string> {
  return response.status === 200 ? '' : await response.clone().text();
}
