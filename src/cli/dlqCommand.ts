import { z } from 'zod';
import { parseEnv } from '../config/env.ts';
import { fbError } from '../errors/index.ts';
import { openQueue, queueBackendEnv, refineQueueBackend } from '../queue/queueFromEnv.ts';
import { flag, intFlag, parseFlags } from './args.ts';

export const DLQ_HELP = `firebreak dlq list [--queue-url URL] [--limit N] [--json]
firebreak dlq redrive [--queue-url URL] [--id MESSAGE_ID ...]
  Shows or replays dead-lettered checkouts. The queue database URL comes from
  --queue-url or QUEUE_DATABASE_URL. With QUEUE_BACKEND=sqs the queue is SQS:
  SQS_QUEUE_URL, SQS_DLQ_URL, AWS_REGION (or SQS_ENDPOINT), credentials from
  the AWS SDK's chain. redrive without --id replays them all; each goes to the
  tail of its creator's group.`;

export async function dlqCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'list' && sub !== 'redrive') {
    throw fbError(
      'FB_USAGE',
      `firebreak dlq: expected "list" or "redrive", got ${JSON.stringify(sub ?? '')}.\n${DLQ_HELP}`,
    );
  }
  const v = parseFlags(`dlq ${sub}`, rest, {
    'queue-url': { type: 'string' },
    limit: { type: 'string' },
    id: { type: 'string', multiple: true },
    json: { type: 'boolean' },
  });
  const backend = parseEnv(
    z.object(queueBackendEnv).superRefine(refineQueueBackend),
    process.env,
    'firebreak dlq',
  );
  if (backend.QUEUE_BACKEND === 'sqs' && v['queue-url'] !== undefined)
    throw fbError(
      'FB_USAGE',
      '--queue-url: names a Postgres queue database, but QUEUE_BACKEND=sqs: the queue is SQS_QUEUE_URL (drop --queue-url, or unset QUEUE_BACKEND)',
      { field: '--queue-url' },
    );
  const queue =
    backend.QUEUE_BACKEND === 'sqs'
      ? await openQueue(backend, {})
      : await openQueue(backend, {
          postgres: {
            databaseUrl: flag(
              'queue-url',
              z.string({ error: 'is required (or set QUEUE_DATABASE_URL)' }).url('must be a postgres:// URL'),
              v['queue-url'] ?? (process.env.QUEUE_DATABASE_URL || undefined),
            ),
          },
        });
  try {
    if (sub === 'list') {
      const limit = flag('limit', intFlag(1, 10_000).optional(), v.limit) ?? 100;
      const letters = await queue.listDeadLetters(limit);
      if (v.json) {
        process.stdout.write(
          `${JSON.stringify(letters, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x), 2)}\n`,
        );
      } else if (letters.length === 0) {
        process.stdout.write('The dead-letter queue is empty.\n');
      } else {
        process.stdout.write(`${letters.length} dead letter(s):\n`);
        for (const l of letters) {
          process.stdout.write(
            `  ${l.messageId}  creator ${l.groupId}  checkout ${l.dedupId}  received ${l.receiveCount}x  dead since ${l.deadLetteredAt.toISOString()}\n`,
          );
        }
        process.stdout.write('Replay with: firebreak dlq redrive [--id MESSAGE_ID]\n');
      }
    } else {
      const moved = await queue.redrive(v.id);
      process.stdout.write(`Redrove ${moved} message(s) to the payment queue.\n`);
    }
    return 0;
  } finally {
    await queue.close();
  }
}
