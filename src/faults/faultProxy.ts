// A TCP fault proxy: sits between services and a server (the drills put it
// in front of the ledger Postgres) and, switchable at run time, delays every
// chunk (latency ± jitter, per direction), holds all traffic (blackhole), or
// resets every open connection. Without a fault it forwards bytes untouched.
//
// Why hand-written and not toxiproxy (the usual tool, and the model for the
// names here): toxiproxy is a Go server binary, and it cannot be installed on
// this machine. Debian has no toxiproxy package (`apt-cache policy toxiproxy`
// finds nothing after `apt-get update`), and the npm registry only has clients
// for its HTTP API (`npm view toxiproxy-node-client`: 4.1.0, "Node Client for
// Toxiproxy", which needs the server running) or Testcontainers modules (which
// pull a container image); no prebuilt server can be fetched from elsewhere.
// The three faults the drills need are ~250 lines of node:net.
//
// Semantics, chosen to match what a real network does to a TCP stream:
// - latency: each chunk is delivered `latencyMs ± jitterMs` after it arrived,
//   but never before the chunk ahead of it (a stream is never reordered).
//   Applied downstream (server → client) by default, like toxiproxy's latency
//   toxic, so every request/response round trip gains one latency.
// - blackhole: chunks are held, not dropped (TCP retransmits through a
//   partition, so the bytes arrive once it heals, if the peer still waits);
//   new connections are accepted and held too. Dropping bytes would corrupt
//   a Postgres protocol stream that survives the fault.
// - reset: every open connection is closed with a TCP RST on the client side,
//   as a failover or a dead host's load balancer does.
// heal() removes latency and blackhole and delivers whatever was held at once.

import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';

export type Direction = 'upstream' | 'downstream' | 'both';

export interface LatencyFault {
  /** Added to each chunk's delivery time. */
  readonly latencyMs: number;
  /** Uniform jitter: each chunk's delay is latencyMs + u·jitterMs with u in [-1, 1]. */
  readonly jitterMs?: number;
  /** Which way the delay applies (default 'downstream': server to client). */
  readonly direction?: Direction;
  /** A [0, 1) source for the jitter; pass a seeded one for a replayable run. */
  readonly random?: () => number;
}

export interface FaultProxyOptions {
  /** A label for messages. */
  readonly name: string;
  readonly upstream: { readonly host: string; readonly port: number };
  readonly host?: string;
  /** 0 (default) picks a free port. */
  readonly port?: number;
}

export interface FaultProxyStats {
  readonly accepted: number;
  readonly open: number;
  readonly upstreamFailures: number;
  readonly resets: number;
  readonly bytesUpstream: number;
  readonly bytesDownstream: number;
}

/** Held bytes past this pause the sending side until they drain (backpressure through the delay). */
const HIGH_WATER_BYTES = 1 << 20;
/** Upper bound on an injected delay: a fault must never outlast the drill that set it. */
export const MAX_LATENCY_MS = 600_000;

interface Pending {
  /** performance.now() at which to deliver; null while held by a blackhole. */
  due: number | null;
  readonly chunk: Buffer | 'end';
}

/** One direction of one connection: source's bytes, delayed as the proxy says, written to dest. */
class Pipe {
  private readonly queue: Pending[] = [];
  private queuedBytes = 0;
  private lastDue = 0;
  private timer: NodeJS.Timeout | undefined;
  private paused = false;
  private readonly proxy: FaultProxy;
  private readonly source: Socket;
  private readonly dest: Socket;
  readonly direction: 'upstream' | 'downstream';

  constructor(proxy: FaultProxy, source: Socket, dest: Socket, direction: 'upstream' | 'downstream') {
    this.proxy = proxy;
    this.source = source;
    this.dest = dest;
    this.direction = direction;
    source.on('data', (chunk: Buffer) => this.push(chunk));
    source.on('end', () => this.push('end'));
    dest.on('drain', () => this.maybeResume());
  }

  private push(chunk: Buffer | 'end'): void {
    const now = performance.now();
    const due = this.proxy.isBlackholed()
      ? null
      : Math.max(now + this.proxy.delayFor(this.direction), this.lastDue);
    if (due !== null) this.lastDue = due;
    this.queue.push({ due, chunk });
    if (chunk !== 'end') {
      this.queuedBytes += chunk.length;
      this.proxy.countBytes(this.direction, chunk.length);
      if (this.queuedBytes > HIGH_WATER_BYTES && !this.paused) {
        this.paused = true;
        this.source.pause();
      }
    }
    this.pump();
  }

  /** Delivers every chunk that is due, in order, and arms a timer for the next. */
  pump(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const now = performance.now();
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      if (head.due === null) return; // held: nothing behind it may pass
      if (head.due > now) {
        this.timer = setTimeout(() => this.pump(), Math.ceil(head.due - now));
        return;
      }
      this.queue.shift();
      if (head.chunk === 'end') {
        this.dest.end();
        continue;
      }
      this.queuedBytes -= head.chunk.length;
      if (!this.dest.destroyed) this.dest.write(head.chunk);
    }
    this.maybeResume();
  }

  /** Releases held chunks (due now) and drops any remaining delay: the heal. */
  flush(): void {
    const now = performance.now();
    for (const p of this.queue) p.due = now;
    this.lastDue = now;
    this.pump();
  }

  private maybeResume(): void {
    if (this.paused && this.queuedBytes <= HIGH_WATER_BYTES / 2 && !this.dest.writableNeedDrain) {
      this.paused = false;
      this.source.resume();
    }
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.queue.length = 0;
  }
}

class Link {
  readonly client: Socket;
  readonly server: Socket;
  readonly pipes: readonly [Pipe, Pipe];

  constructor(proxy: FaultProxy, client: Socket, server: Socket) {
    this.client = client;
    this.server = server;
    this.pipes = [new Pipe(proxy, client, server, 'upstream'), new Pipe(proxy, server, client, 'downstream')];
  }

  /** Closes both sides; reset sends the client a TCP RST instead of a FIN. */
  destroy(reset: boolean): void {
    for (const p of this.pipes) p.dispose();
    if (reset && !this.client.destroyed) this.client.resetAndDestroy();
    else this.client.destroy();
    this.server.destroy();
  }
}

export class FaultProxy {
  readonly name: string;
  private upstream: { host: string; port: number };
  private readonly server: Server;
  private readonly links = new Set<Link>();
  private latency: LatencyFault | undefined;
  private blackholed = false;
  private counters = { accepted: 0, upstreamFailures: 0, resets: 0, bytesUpstream: 0, bytesDownstream: 0 };
  port = 0;

  private constructor(options: FaultProxyOptions) {
    this.name = options.name;
    this.upstream = { ...options.upstream };
    this.server = createServer({ noDelay: true }, (client) => this.accept(client));
  }

  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const proxy = new FaultProxy(options);
    proxy.server.listen(options.port ?? 0, options.host ?? '127.0.0.1');
    await once(proxy.server, 'listening');
    const address = proxy.server.address();
    if (address === null || typeof address === 'string')
      throw new Error(`fault proxy ${options.name}: listener has no TCP address`);
    proxy.port = address.port;
    return proxy;
  }

  private accept(client: Socket): void {
    this.counters.accepted++;
    const server = connect({ host: this.upstream.host, port: this.upstream.port, noDelay: true });
    const link = new Link(this, client, server);
    this.links.add(link);
    // Either side failing or closing ends the connection: a half-dead pair helps nobody.
    let closed = false;
    const close = (reset: boolean) => {
      if (closed) return;
      closed = true;
      this.links.delete(link);
      link.destroy(reset);
    };
    let connected = false;
    server.once('connect', () => (connected = true));
    server.once('error', () => {
      // Upstream refused or died: the client sees a reset, as it would from the server itself.
      if (!connected) this.counters.upstreamFailures++;
      close(true);
    });
    client.once('error', () => close(false));
    server.once('close', () => close(false));
    client.once('close', () => close(false));
  }

  /** Where clients connect instead of the upstream. */
  get address(): { host: string; port: number } {
    return { host: '127.0.0.1', port: this.port };
  }

  /** Points new connections at another server (a promoted standby, say); open ones are untouched. */
  setUpstream(host: string, port: number): void {
    this.upstream = { host, port };
  }

  setLatency(fault: LatencyFault): void {
    if (!Number.isFinite(fault.latencyMs) || fault.latencyMs < 0 || fault.latencyMs > MAX_LATENCY_MS)
      throw new RangeError(`latencyMs must be from 0 to ${MAX_LATENCY_MS}`);
    const jitter = fault.jitterMs ?? 0;
    if (!Number.isFinite(jitter) || jitter < 0 || jitter > fault.latencyMs)
      throw new RangeError('jitterMs must be from 0 to latencyMs');
    this.latency = { ...fault };
  }

  /** Holds every byte in both directions (and on new connections) until unblackholed or healed. */
  setBlackhole(on: boolean): void {
    this.blackholed = on;
    if (!on) this.flushAll();
  }

  private flushAll(): void {
    for (const link of this.links) for (const p of link.pipes) p.flush();
  }

  /** Closes every open connection with a reset; new ones are accepted as usual. */
  resetAll(): number {
    const n = this.links.size;
    for (const link of [...this.links]) {
      this.links.delete(link);
      link.destroy(true);
    }
    this.counters.resets += n;
    return n;
  }

  /** Removes every fault and delivers whatever was held or delayed at once. Idempotent. */
  heal(): void {
    this.latency = undefined;
    this.setBlackhole(false); // also flushes every pipe
  }

  /** The faults in force, for reports. */
  get faults(): { latencyMs: number; jitterMs: number; direction: Direction | null; blackhole: boolean } {
    return {
      latencyMs: this.latency?.latencyMs ?? 0,
      jitterMs: this.latency?.jitterMs ?? 0,
      direction: this.latency ? (this.latency.direction ?? 'downstream') : null,
      blackhole: this.blackholed,
    };
  }

  get stats(): FaultProxyStats {
    return { ...this.counters, open: this.links.size };
  }

  /** @internal for Pipe */
  isBlackholed(): boolean {
    return this.blackholed;
  }

  /** @internal for Pipe: the delay a chunk travelling this way gets now. */
  delayFor(direction: 'upstream' | 'downstream'): number {
    const l = this.latency;
    if (!l) return 0;
    const applies = (l.direction ?? 'downstream') === 'both' || (l.direction ?? 'downstream') === direction;
    if (!applies) return 0;
    const jitter = l.jitterMs ? ((l.random ?? Math.random)() * 2 - 1) * l.jitterMs : 0;
    return Math.max(0, l.latencyMs + jitter);
  }

  /** @internal for Pipe */
  countBytes(direction: 'upstream' | 'downstream', n: number): void {
    if (direction === 'upstream') this.counters.bytesUpstream += n;
    else this.counters.bytesDownstream += n;
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    this.heal();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.resetAll();
    await closed;
  }
}

/** The same postgres:// URL with its host and port replaced by the proxy's. */
export function urlThroughProxy(url: string, proxy: { host: string; port: number }): string {
  const u = new URL(url);
  u.hostname = proxy.host;
  u.port = String(proxy.port);
  return u.toString();
}
