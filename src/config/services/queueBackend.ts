// The payment queue's bindings, shared by the namespaces of the services that
// open the queue (api, worker, scheduler): which adapter, and for SQS where
// its queues are. Bindings, not tunables: where the queue is differs per
// environment (staging: Postgres, prod: SQS FIFO) and is never promoted. The
// variables and their checks are src/queue/queueFromEnv.ts's. SQS_ENDPOINT
// (an SQS-compatible server, for tests) has no key: a deployed service talks to SQS.

import { z } from 'zod';
import { QUEUE_BACKENDS } from '../../queue/queueFromEnv.ts';
import { locationField } from '../secretRef.ts';
import type { EnvBinding, NamespaceDocument } from './serviceSpec.ts';

export const queueBackendBindings = {
  /** Absent: postgres, as QUEUE_BACKEND's default (the repository's files say it anyway). */
  queueBackend: z.enum(QUEUE_BACKENDS, { error: `must be ${QUEUE_BACKENDS.join(' or ')}` }).optional(),
  /** The payment queue's URL (…/checkout-payments.fifo); with queueBackend sqs. */
  sqsQueueUrl: locationField.optional(),
  sqsDlqUrl: locationField.optional(),
  awsRegion: locationField.optional(),
};

export const queueBackendEnvVars: readonly EnvBinding[] = [
  { env: 'QUEUE_BACKEND', path: ['bindings', 'queueBackend'] },
  { env: 'SQS_QUEUE_URL', path: ['bindings', 'sqsQueueUrl'] },
  { env: 'SQS_DLQ_URL', path: ['bindings', 'sqsDlqUrl'] },
  { env: 'AWS_REGION', path: ['bindings', 'awsRegion'] },
];

/** sqs needs its queues and region; postgres must not name SQS queues (a half-made switch). */
export function refineQueueBackendBindings(doc: NamespaceDocument, ctx: z.RefinementCtx): void {
  const b = doc.bindings as { queueBackend?: string } & Record<string, unknown>;
  const backend = b.queueBackend ?? 'postgres';
  const keys = ['sqsQueueUrl', 'sqsDlqUrl', 'awsRegion'] as const;
  for (const key of keys) {
    if (backend === 'sqs' && b[key] === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['bindings', key],
        message: 'is required when bindings.queueBackend is sqs (a URL, a region, or a reference)',
      });
    if (backend === 'postgres' && key !== 'awsRegion' && b[key] !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['bindings', key],
        message: 'is set but bindings.queueBackend is postgres: set queueBackend to sqs, or remove it',
      });
  }
}
