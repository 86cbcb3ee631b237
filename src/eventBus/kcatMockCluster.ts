// The local Kafka peer: librdkafka's mock cluster, started by Debian's kcat
// (../shared/ENVIRONMENT.md). It speaks the real wire protocol; kill it to
// simulate a broker outage.
//
// Two things a real cluster has that the mock lacks are supplied here:
// - A stable bootstrap address. The mock binds random ports, so a restarted
//   cluster has new ones. A small TCP forwarder on a fixed local port fronts
//   the current cluster's first broker, the way a DNS name fronts MSK's
//   brokers; clients bootstrap through it, then talk to the brokers it
//   advertises. After restart() a client that rebuilds its connection (as
//   KafkaEventBus does after any failed publish) finds the new cluster.
// - Durable logs. The mock keeps messages in memory, so kill() first reads the
//   topics it is told to retain and readTopic() returns them ahead of what
//   the new cluster holds. Records acknowledged between that read and the
//   kill would be lost (a real broker keeps them): kill while the relay is
//   idle, or use pause() (SIGSTOP), which freezes the brokers and keeps
//   everything.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { PublishedEvent } from './EventBus.ts';
import { readKafkaEvents } from './kafkaReader.ts';

export interface KcatMockClusterOptions {
  readonly brokers?: number;
  /** kcat's debug output goes here (default: dropped). */
  readonly logFile?: string;
  readonly startTimeoutMs?: number;
}

/** True when Debian's kcat is on the PATH. */
export function kcatAvailable(): boolean {
  const probe = spawnSync('kcat', ['-V'], { stdio: 'ignore', timeout: 5_000 });
  return probe.error === undefined && probe.status === 0;
}

export class KcatMockCluster {
  private readonly options: KcatMockClusterOptions;
  private readonly proxy: Server;
  private readonly sockets = new Set<Socket>();
  private readonly retained = new Map<string, PublishedEvent[]>();
  private child: ChildProcess | undefined;
  private log: WriteStream | undefined;
  private upstream: { host: string; port: number } | undefined;
  /** The current cluster's own broker list (changes on restart). */
  brokerList = '';
  private proxyPort = 0;

  private constructor(options: KcatMockClusterOptions) {
    this.options = options;
    this.proxy = createServer((client) => this.forward(client));
  }

  static async start(options: KcatMockClusterOptions = {}): Promise<KcatMockCluster> {
    const cluster = new KcatMockCluster(options);
    cluster.proxy.listen(0, '127.0.0.1');
    await once(cluster.proxy, 'listening');
    const address = cluster.proxy.address();
    if (address === null || typeof address === 'string') throw new Error('bootstrap proxy has no port');
    cluster.proxyPort = address.port;
    try {
      await cluster.startKcat();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** The stable bootstrap address (host:port) clients are given. */
  get bootstrap(): string {
    return `127.0.0.1:${this.proxyPort}`;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  private forward(client: Socket): void {
    const upstream = this.upstream;
    if (!upstream || !this.running) {
      client.destroy();
      return;
    }
    const server = connect(upstream.port, upstream.host);
    for (const s of [client, server]) {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        server.destroy();
      });
    }
    client.pipe(server).pipe(client);
  }

  private async startKcat(): Promise<void> {
    const brokers = this.options.brokers ?? 3;
    const child = spawn(
      'kcat',
      [
        '-C',
        '-b',
        'unused:9092',
        '-t',
        'firebreak-warmup',
        '-X',
        `test.mock.num.brokers=${brokers}`,
        '-d',
        'mock',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.child = child;
    if (this.options.logFile) {
      this.log ??= createWriteStream(this.options.logFile, { flags: 'a' });
      child.stderr.pipe(this.log, { end: false });
    }
    const timeoutMs = this.options.startTimeoutMs ?? 15_000;
    const list = await new Promise<string>((resolve, reject) => {
      let seen = '';
      const onData = (chunk: Buffer) => {
        seen = (seen + chunk.toString('utf8')).slice(-8_192);
        const match = /bootstrap\.servers=(\S+)/.exec(seen);
        if (match?.[1]) finish(null, match[1]);
      };
      const onExit = (code: number | null) =>
        finish(new Error(`kcat exited (code ${code}) before serving: ${seen}`));
      const timer = setTimeout(
        () => finish(new Error(`kcat mock cluster not serving within ${timeoutMs} ms: ${seen}`)),
        timeoutMs,
      );
      const finish = (err: Error | null, value?: string) => {
        clearTimeout(timer);
        child.stderr.off('data', onData);
        child.off('exit', onExit);
        if (err) {
          child.kill('SIGKILL');
          reject(err);
        } else resolve(value!);
      };
      child.stderr.on('data', onData);
      child.once('exit', onExit);
      child.once('error', (err) => finish(err));
    });
    // Keep draining stderr (debug output) so kcat never blocks on a full pipe.
    if (!this.options.logFile) child.stderr.resume();
    this.brokerList = list;
    const first = list.split(',')[0] ?? '';
    const colon = first.lastIndexOf(':');
    this.upstream = { host: first.slice(0, colon), port: Number(first.slice(colon + 1)) };
  }

  /**
   * SIGKILL: the brokers vanish mid-request. The topics named in retain are
   * read first and kept (a real broker's disk); see the file comment for the race.
   */
  async kill({ retain = [] }: { retain?: readonly string[] } = {}): Promise<void> {
    if (!this.running) return;
    for (const topic of retain) {
      const held = await readKafkaEvents({ brokers: [this.bootstrap], topic });
      this.retained.set(topic, [...(this.retained.get(topic) ?? []), ...held]);
    }
    await this.signal('SIGKILL');
  }

  /** A new, empty cluster behind the same bootstrap address. */
  async restart(): Promise<void> {
    if (this.running) throw new Error('kcat mock cluster is still running; kill() it first');
    await this.startKcat();
  }

  /** SIGSTOP: the brokers hang (connections open, no answers); everything is kept. */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  /** Everything the topic has held: records of killed clusters first, then the live one's. */
  async readTopic(topic: string, { timeoutMs }: { timeoutMs?: number } = {}): Promise<PublishedEvent[]> {
    const live = this.running ? await readKafkaEvents({ brokers: [this.bootstrap], topic, timeoutMs }) : [];
    return [...(this.retained.get(topic) ?? []), ...live];
  }

  private async signal(sig: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGCONT'); // a paused process must run to die of anything but SIGKILL
    child.kill(sig);
    await exited;
    for (const s of this.sockets) s.destroy();
  }

  async stop(): Promise<void> {
    await this.signal('SIGKILL');
    for (const s of this.sockets) s.destroy();
    if (this.proxy.listening) await new Promise<void>((resolve) => this.proxy.close(() => resolve()));
    this.log?.end();
    this.log = undefined;
  }
}
