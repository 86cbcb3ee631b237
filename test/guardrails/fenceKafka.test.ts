// The environment fence against a Kafka peer (librdkafka's mock cluster via
// kcat; skipped, saying so, without kcat): the stamp topic `<env>.firebreak.stamp`
// and its record, check / refuse / adopt.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFirebreakError } from '../../src/errors/index.ts';
import { Fence } from '../../src/guardrails/fence/fence.ts';
import { readKafkaStamps } from '../../src/guardrails/fence/kafkaStamp.ts';
import { parseResourceUrl } from '../../src/guardrails/fence/resourceUrl.ts';
import { skipWithoutKcat, startKafka } from '../helpers/kafka.ts';

test(
  'a Kafka cluster is stamped by a record on <env>.firebreak.stamp; another environment is refused',
  { skip: skipWithoutKcat },
  async () => {
    const kafka = await startKafka();
    const cluster = parseResourceUrl(`kafka://${kafka.bootstrap}`, { name: 'event bus' });
    assert.equal((await new Fence({ env: 'staging' }).check(cluster)).outcome, 'unstamped');

    const stamped = await new Fence({ env: 'staging', stampedBy: 'provisioning' }).stamp(cluster);
    assert.equal(stamped.outcome, 'adopted');
    assert.deepEqual(await readKafkaStamps({ brokers: [kafka.bootstrap] }), [
      { env: 'staging', stampedAt: null, stampedBy: null },
    ]);
    const records = await kafka.readTopic('staging.firebreak.stamp');
    assert.equal(records.length, 1);
    const value = JSON.parse(records[0]!.value) as Record<string, string>;
    assert.equal(value.env, 'staging');
    assert.equal(value.stampedBy, 'provisioning');

    assert.equal((await new Fence({ env: 'staging' }).check(cluster)).outcome, 'ok');
    await assert.rejects(new Fence({ env: 'production' }).verify(cluster), (err: unknown) => {
      assert.ok(isFirebreakError(err));
      assert.equal(err.code, 'FB_ENV_MISMATCH');
      assert.match(
        err.message,
        /^event bus kafka:\/\/127\.0\.0\.1:\d+ belongs to environment "staging", but this process runs as "production"/,
      );
      return true;
    });
    // Neither stamping nor adopting puts a second environment's stamp on it.
    assert.equal((await new Fence({ env: 'production' }).stamp(cluster)).outcome, 'mismatch');
    assert.equal((await new Fence({ env: 'production', adopt: true }).check(cluster)).outcome, 'mismatch');
    assert.deepEqual(
      (await readKafkaStamps({ brokers: [kafka.bootstrap] })).map((s) => s.env),
      ['staging'],
    );
  },
);
