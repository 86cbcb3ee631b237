// The SQS model (sqsModel.ts) served over real HTTP on loopback, so real
// service processes can run on it with QUEUE_BACKEND=sqs and
// SQS_ENDPOINT=http://127.0.0.1:<port>. It speaks SQS's AWS JSON 1.0
// protocol as the SDK sends it: POST /, the operation in x-amz-target
// ("AmazonSQS.<Op>"), the input as a JSON body; the reply is the model's
// status, headers and JSON body (sqsFake.ts shows the same shapes in-process).
// Hand-written because no SQS-compatible server (ElasticMQ, LocalStack) can
// run here; node:http is all it needs. Requests are not authenticated.
//
// Beside the model, the server keeps queue tags (ListQueueTags / TagQueue):
// the environment fence stamps and checks queues by their tags. The fence
// addresses a queue behind another endpoint as http://HOST:PORT/ACCOUNT/NAME,
// so tags are kept by the URL's path, whatever host it names.

import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ok, sqsError, type SqsCall, type SqsReply } from './sqsFake.ts';
import { SqsModel } from './sqsModel.ts';

export class SqsModelServer {
  readonly model: SqsModel;
  /** Every call served, in arrival order. */
  readonly calls: SqsCall[] = [];
  private readonly server: Server;
  private readonly tags = new Map<string, Record<string, string>>();

  private constructor(model: SqsModel) {
    this.model = model;
    this.server = createServer((req, res) => {
      void this.serve(req, res);
    });
  }

  static async start(model = new SqsModel()): Promise<SqsModelServer> {
    const s = new SqsModelServer(model);
    s.server.listen(0, '127.0.0.1');
    await once(s.server, 'listening');
    return s;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** How many calls of one operation were served. */
  count(operation: string): number {
    return this.calls.filter((c) => c.operation === operation).length;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let reply: SqsReply;
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const target = String(req.headers['x-amz-target'] ?? '');
      if (req.method !== 'POST' || !target.startsWith('AmazonSQS.')) {
        reply = sqsError('InvalidAction', 400, `not an SQS JSON request: ${req.method} ${target}`);
      } else {
        const text = Buffer.concat(chunks).toString('utf8');
        const call = {
          operation: target.slice('AmazonSQS.'.length),
          input: (text === '' ? {} : JSON.parse(text)) as Record<string, unknown>,
        };
        this.calls.push(call);
        reply = await this.answer(call);
      }
    } catch (err) {
      // The model throws for a queue it does not know; anything else is the server's fault.
      const message = (err as Error).message;
      reply = message.startsWith('no queue ')
        ? sqsError('AWS.SimpleQueueService.NonExistentQueue', 400, 'The specified queue does not exist.')
        : sqsError('InternalError', 500, message);
    }
    if (res.destroyed) return; // the client gave up (a long poll cut short)
    const body = JSON.stringify(reply.body ?? {});
    res.writeHead(reply.status ?? 200, {
      'content-type': 'application/x-amz-json-1.0',
      'content-length': Buffer.byteLength(body),
      'x-amzn-requestid': String(this.calls.length),
      ...reply.headers,
    });
    res.end(body);
  }

  private answer(call: SqsCall): SqsReply | Promise<SqsReply> {
    const path = () => new URL(String(call.input.QueueUrl)).pathname;
    switch (call.operation) {
      case 'ListQueueTags':
        return ok({ Tags: this.tags.get(path()) ?? {} });
      case 'TagQueue':
        this.tags.set(path(), { ...this.tags.get(path()), ...(call.input.Tags as Record<string, string>) });
        return ok();
      default:
        return this.model.respond(call);
    }
  }
}
