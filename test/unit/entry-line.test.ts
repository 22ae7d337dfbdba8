import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { CALL_ENTRY_VERSION, type CallEntry } from '../../src/telemetry/recorder/call-entry.js';
import { entryLine } from '../../src/telemetry/recorder/entry-line.js';
import { isoTime } from '../../src/telemetry/recorder/iso-time.js';
import { prng } from '../support/seeded-random.js';

/** Every field set: a field added to CallEntry must be added here (the type says so), and then to entryLine. */
const everyField: Required<CallEntry> = {
  v: CALL_ENTRY_VERSION,
  time: '2026-12-08T01:02:03.004Z',
  service: 'runtime',
  method: 'CreateContainer',
  status: 'PERMISSION_DENIED',
  code: 7,
  message: 'denied by policy',
  durationMs: 1.25,
  podNamespace: 'shop',
  podName: 'web-1',
  podUid: '6f1c1f5e-1d51-4b7a-9c57-1b2c3d4e5f60',
  sandboxId: 'a'.repeat(64),
  containerId: 'b'.repeat(64),
  containerName: 'app',
  image: 'registry.example/app:1.2',
  exitCode: -1,
  containerState: 'exited',
  reason: 'OOMKilled',
  items: 300,
  requestBytes: 812,
  responseBytes: 0,
  byCriscope: true,
  policy: { verdict: 'denied', rule: 'images.allowed', reason: 'registry.example is not allowed' },
  traceId: '0af7651916cd43dd8448eb211c80319c',
};

/** Characters JSON escapes or that UTF-8 writes in more than one byte, lone surrogates included. */
const AWKWARD = ['"', '\\', '\n', '\t', '\u0000', '\u001f', '\u007f', 'é', '€', '\u2028', '😀', '\ud83d', '\ude00', '/', ' '];

function randomText(random: () => number): string {
  let text = '';
  const length = Math.floor(random() * 12);
  for (let index = 0; index < length; index++) text += random() < 0.3 ? AWKWARD[Math.floor(random() * AWKWARD.length)] : String.fromCharCode(97 + Math.floor(random() * 26));
  return text;
}

/** The fields every entry has. */
const REQUIRED = new Set(['v', 'time', 'service', 'method', 'status', 'code', 'durationMs', 'requestBytes', 'responseBytes']);

/** A random entry: each optional field present or not, each string with awkward characters at times. */
function randomEntry(random: () => number): CallEntry {
  const entry: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(everyField)) {
    if (!REQUIRED.has(key) && random() < 0.3) continue;
    if (typeof value === 'string') entry[key] = randomText(random);
    else if (typeof value === 'number') entry[key] = key === 'v' ? value : [0, -0, 7, -1, 0.001, 1e21, 2 ** 53, Number.NaN, Number.POSITIVE_INFINITY][Math.floor(random() * 9)];
    else if (key === 'policy') entry[key] = { verdict: 'clamped', rule: randomText(random), reason: randomText(random) };
    else entry[key] = value;
  }
  return entry as unknown as CallEntry;
}

describe('an entry line', () => {
  it('is the entry as JSON.stringify writes it, every field set', () => {
    assert.equal(entryLine(everyField), `${JSON.stringify(everyField)}\n`);
  });

  it('is what JSON.stringify writes for entries with fields left out, awkward text and odd numbers', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const random = prng(seed);
      for (let index = 0; index < 500; index++) {
        const entry = randomEntry(random);
        assert.equal(entryLine(entry), `${JSON.stringify(entry)}\n`, `seed ${seed}, entry ${index}`);
      }
    }
  });
});

describe('an ISO time', () => {
  it('is what toISOString writes, within one second, across seconds and at odd instants', () => {
    const random = prng(7);
    const instants = [0, -1, -1.5, -999.9, -1000, 999.999, 1000, 1_765_000_000_123.7, 253_402_300_799_999, 253_402_300_800_000, -62_198_755_200_000];
    const now = 1_765_000_000_000;
    for (let index = 0; index < 2000; index++) instants.push(now + random() * 5000, now + Math.floor(random() * 3_000_000) * 1000 + random() * 1000, (random() - 0.5) * 1e15);
    for (const ms of instants) assert.equal(isoTime(ms), new Date(ms).toISOString(), `${ms}`);
  });

  it('refuses what toISOString refuses: times past a Date\'s range, and NaN', () => {
    for (const ms of [8.64e15 + 1, -8.64e15 - 1, Number.NaN]) assert.throws(() => isoTime(ms), RangeError, `${ms}`);
  });
});
