// Asks a Kafka broker which protocol APIs it serves (ApiVersions v0, the first
// request every client sends). kafkajs does not expose the answer, and the
// relay needs it to tell "this peer cannot administer topics" (the librdkafka
// mock cluster serves neither CreateTopics nor DescribeConfigs) from "topic
// declaration failed" (which must stop the relay).

import { connect } from 'node:net';

export const API_KEYS = { CreateTopics: 19, DescribeConfigs: 32 } as const;

const API_VERSIONS_KEY = 18;
const CORRELATION_ID = 1;

export interface ApiVersionRange {
  readonly minVersion: number;
  readonly maxVersion: number;
}

function request(clientId: string): Buffer {
  const id = Buffer.from(clientId, 'utf8');
  const body = Buffer.alloc(10 + id.length);
  body.writeInt16BE(API_VERSIONS_KEY, 0);
  body.writeInt16BE(0, 2); // version 0
  body.writeInt32BE(CORRELATION_ID, 4);
  body.writeInt16BE(id.length, 8);
  id.copy(body, 10);
  const size = Buffer.alloc(4);
  size.writeInt32BE(body.length, 0);
  return Buffer.concat([size, body]);
}

function parse(frame: Buffer): Map<number, ApiVersionRange> {
  // frame: correlation_id int32, error_code int16, [api_key int16, min int16, max int16]
  const errorCode = frame.readInt16BE(4);
  if (errorCode !== 0) throw new Error(`ApiVersions answered error code ${errorCode}`);
  const count = frame.readInt32BE(6);
  const out = new Map<number, ApiVersionRange>();
  for (let i = 0; i < count; i++) {
    const at = 10 + i * 6;
    out.set(frame.readInt16BE(at), {
      minVersion: frame.readInt16BE(at + 2),
      maxVersion: frame.readInt16BE(at + 4),
    });
  }
  return out;
}

/** The APIs one broker serves, keyed by API key. Rejects on connection failure or after timeoutMs. */
export function fetchApiVersions(
  broker: string,
  { clientId = 'firebreak', timeoutMs = 5_000 }: { clientId?: string; timeoutMs?: number } = {},
): Promise<Map<number, ApiVersionRange>> {
  const colon = broker.lastIndexOf(':');
  const host = broker.slice(0, colon);
  const port = Number(broker.slice(colon + 1));
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let buffered = Buffer.alloc(0);
    const finish = (err: Error | null, value?: Map<number, ApiVersionRange>) => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(value!);
    };
    const timer = setTimeout(
      () => finish(new Error(`ApiVersions from ${broker}: no answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.on('connect', () => socket.write(request(clientId)));
    socket.on('error', (err) =>
      finish(new Error(`ApiVersions from ${broker}: ${err.message}`, { cause: err })),
    );
    socket.on('close', () => finish(new Error(`ApiVersions from ${broker}: connection closed`)));
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < 4) return;
      const size = buffered.readInt32BE(0);
      if (buffered.length < 4 + size) return;
      try {
        finish(null, parse(buffered.subarray(4, 4 + size)));
      } catch (err) {
        finish(err as Error);
      }
    });
  });
}
