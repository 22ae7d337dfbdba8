import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { SettingLimit } from '../../src/relay/setting-limit.js';

/** Runs SETTINGS (a table size, or '-' for one without) and ACKs ('ack'), returning the allowed size after each. */
function run(limit: SettingLimit, steps: readonly (number | '-' | 'ack')[]): number[] {
  return steps.map((step) => {
    if (step === 'ack') limit.acknowledged();
    else limit.sent(step === '-' ? undefined : step);
    return limit.allowed;
  });
}

describe('SettingLimit (a SETTINGS value the sender keeps to: lowered at the ACK, raised at once)', () => {
  it('starts at the value it is given', () => {
    assert.equal(new SettingLimit(4096).allowed, 4096);
    assert.equal(new SettingLimit(256).allowed, 256);
  });

  it('lowers only on the ACK, raises at once', () => {
    assert.deepEqual(run(new SettingLimit(4096), [1024, 'ack']), [4096, 1024]);
    assert.deepEqual(run(new SettingLimit(4096), [8192, 'ack']), [8192, 8192]);
    assert.deepEqual(run(new SettingLimit(4096), [0, 'ack', 4096, 'ack']), [4096, 0, 4096, 4096]);
  });

  it('matches ACKs to SETTINGS in order, counting SETTINGS without a table size', () => {
    assert.deepEqual(run(new SettingLimit(4096), ['-', 1024, 'ack', 'ack']), [4096, 4096, 4096, 1024]);
    assert.deepEqual(run(new SettingLimit(4096), [1024, '-', 'ack', 'ack']), [4096, 4096, 1024, 1024]);
  });

  it('allows the largest of the applied size and every pending one', () => {
    assert.deepEqual(run(new SettingLimit(4096), [16384, 1024, 'ack', 'ack']), [16384, 16384, 16384, 1024]);
    assert.deepEqual(run(new SettingLimit(4096), [1024, 2048, 'ack', 'ack']), [4096, 4096, 2048, 2048]);
    assert.deepEqual(run(new SettingLimit(4096), [512, 256, 'ack', 'ack']), [4096, 4096, 512, 256]);
  });

  it('ignores an ACK for SETTINGS never sent', () => {
    assert.deepEqual(run(new SettingLimit(4096), ['ack', 1024, 'ack', 'ack']), [4096, 4096, 1024, 1024]);
    assert.deepEqual(run(new SettingLimit(4096), ['ack', 'ack', 1024, 'ack']), [4096, 4096, 4096, 1024]);
  });

  it('under a flood of unacknowledged SETTINGS, is never stricter than the rule and exact once all are acknowledged', () => {
    const limit = new SettingLimit(4096);
    // The rule itself: applied value plus every pending one, kept in full.
    let applied = 4096;
    const pending: (number | undefined)[] = [];
    const exact = (): number => Math.max(applied, ...pending.map((size) => size ?? 0));
    const sizes = Array.from({ length: 200 }, (_, i) => (i % 3 === 0 ? undefined : ((i * 7919) % 20000) + 100));
    for (const size of sizes) {
      limit.sent(size);
      pending.push(size);
      assert.ok(limit.allowed >= exact(), `after SETTINGS ${pending.length}`);
    }
    while (pending.length > 0) {
      limit.acknowledged();
      const size = pending.shift();
      if (size !== undefined) applied = size;
      assert.ok(limit.allowed >= exact(), `with ${pending.length} pending`);
    }
    assert.equal(limit.allowed, applied);
    limit.sent(100);
    limit.acknowledged();
    assert.equal(limit.allowed, 100);
  });
});
