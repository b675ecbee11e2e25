import net from 'node:net';

interface Pair {
  client: net.Socket;
  upstream?: net.Socket;
  /** Bytes and hang-ups held back during a partition, per direction, delivered on restore. */
  held: { toUpstream: Buffer[]; toClient: Buffer[]; closed?: boolean };
}

/**
 * A TCP proxy a test puts between the service and PostgreSQL, to cause outages without
 * touching the shared server.
 *
 * - `cut('refuse')`: the database is gone. Open connections are reset and new ones are
 *   refused, so clients fail at once.
 * - `cut('blackhole')`: the network is partitioned. Connections stay open but no byte
 *   moves either way and new connections hang, so only the clients' own timeouts end the
 *   wait. `restore()` delivers what was held back, as TCP would once the network heals.
 */
export class TcpProxy {
  private readonly pairs = new Set<Pair>();
  private state: 'open' | 'refuse' | 'blackhole' = 'open';

  private constructor(
    private readonly target: { host: string; port: number },
    private server: net.Server,
    readonly port: number,
  ) {}

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const proxy: TcpProxy = new TcpProxy(target, net.createServer(), 0);
    await proxy.listen(0);
    return proxy;
  }

  /** The same database URL, pointed at this proxy. */
  url(databaseUrl: string): string {
    const url = new URL(databaseUrl);
    url.hostname = '127.0.0.1';
    url.port = String(this.port);
    return url.toString();
  }

  cut(mode: 'refuse' | 'blackhole'): void {
    this.state = mode;
    if (mode === 'blackhole') return;
    for (const pair of this.pairs) {
      pair.client.resetAndDestroy();
      pair.upstream?.resetAndDestroy();
    }
    this.server.close();
  }

  async restore(): Promise<void> {
    const was = this.state;
    this.state = 'open';
    if (was === 'refuse') await this.listen(this.port);
    for (const pair of this.pairs) {
      if (pair.held.closed) {
        this.hangUp(pair);
        continue;
      }
      if (!pair.upstream) this.connectUpstream(pair);
      for (const chunk of pair.held.toUpstream.splice(0)) pair.upstream!.write(chunk);
      for (const chunk of pair.held.toClient.splice(0)) pair.client.write(chunk);
    }
  }

  async close(): Promise<void> {
    this.state = 'refuse';
    for (const pair of this.pairs) {
      pair.client.destroy();
      pair.upstream?.destroy();
    }
    if (this.server.listening) await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async listen(port: number): Promise<void> {
    this.server = net.createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => this.server.once('error', reject).listen(port, '127.0.0.1', resolve));
    (this as { port: number }).port = (this.server.address() as net.AddressInfo).port;
  }

  private accept(client: net.Socket): void {
    const pair: Pair = { client, held: { toUpstream: [], toClient: [] } };
    this.pairs.add(pair);
    client.on('error', () => {});
    client.on('data', (chunk) => {
      if (this.state === 'blackhole' || !pair.upstream) pair.held.toUpstream.push(chunk);
      else pair.upstream.write(chunk);
    });
    client.once('close', () => this.onClose(pair));
    if (this.state === 'open') this.connectUpstream(pair);
  }

  /** One side hung up: the other side learns of it now, or once a partition heals. */
  private onClose(pair: Pair): void {
    if (this.state === 'blackhole') pair.held.closed = true;
    else this.hangUp(pair);
  }

  private hangUp(pair: Pair): void {
    pair.client.destroy();
    pair.upstream?.destroy();
    this.pairs.delete(pair);
  }

  private connectUpstream(pair: Pair): void {
    const upstream = net.connect(this.target.port, this.target.host);
    pair.upstream = upstream;
    upstream.on('error', () => {});
    upstream.on('data', (chunk) => {
      if (this.state === 'blackhole') pair.held.toClient.push(chunk);
      else pair.client.write(chunk);
    });
    upstream.once('close', () => this.onClose(pair));
    for (const chunk of pair.held.toUpstream.splice(0)) upstream.write(chunk);
  }
}
