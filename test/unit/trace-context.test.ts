import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { parseTraceParent } from '@opentelemetry/core';
import { PooledRandomIds, parseTraceparent } from '../../src/telemetry/tracing/trace-context.js';
import { prng } from '../support/seeded-random.js';

const VALID = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

/** OpenTelemetry's reading of a traceparent, in the shape criscope's parser answers. */
function otelReading(header: string): unknown {
  const parsed = parseTraceParent(header);
  return parsed === null ? undefined : { traceId: parsed.traceId, spanId: parsed.spanId, traceFlags: parsed.traceFlags };
}

/** Chars that matter to the grammar: hex in both cases, separators, whitespace and line ends, and others. */
const ALPHABET = ['0', '1', '9', 'a', 'f', 'A', 'F', 'g', '-', ' ', '\t', '\n', '\r', '\u00a0', '\u2028', 'x', '.', 'z'];

describe('parseTraceparent', () => {
  const cases: [string, string][] = [
    ['a sampled parent', VALID],
    ['flags 00', VALID.replace(/01$/, '00')],
    ['one leading and one trailing space', ` ${VALID} `],
    ['two trailing spaces', `${VALID}  `],
    ['a leading tab', `\t${VALID}`],
    ['a later version with more after a dash', `cc${VALID.slice(2)}-what-comes-next`],
    ['a later version with more, and a trailing newline', `cc${VALID.slice(2)}-more\n`],
    ['a later version with a newline inside what follows', `cc${VALID.slice(2)}-mo\nre`],
    ['version 00 with more', `${VALID}-more`],
    ['version ff', `ff${VALID.slice(2)}`],
    ['upper-case hex', VALID.toUpperCase()],
    ['an all-zero trace id', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`],
    ['an all-zero span id', `00-4bf92f3577b34da6a3ce929d0e0e4736-${'0'.repeat(16)}-01`],
    ['one char short', VALID.slice(0, -1)],
    ['empty', ''],
  ];
  for (const [what, header] of cases) {
    it(`reads ${what} as OpenTelemetry's propagator does`, () => {
      assert.deepEqual(parseTraceparent(header), otelReading(header));
    });
  }

  it("agrees with OpenTelemetry's propagator on thousands of mutated headers", () => {
    const random = prng(20261207);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
    let accepted = 0;
    for (let round = 0; round < 20_000; round++) {
      let header = pick([VALID, `cc${VALID.slice(2)}-x`, ` ${VALID}`]);
      for (let edits = 1 + Math.floor(random() * 3); edits > 0; edits--) {
        const at = Math.floor(random() * (header.length + 1));
        const edit = random();
        if (edit < 0.6) header = header.slice(0, at) + pick(ALPHABET) + header.slice(at + 1);
        else if (edit < 0.8) header = header.slice(0, at) + pick(ALPHABET) + header.slice(at);
        else header = header.slice(0, at) + header.slice(at + 1);
      }
      const expected = otelReading(header);
      if (expected !== undefined) accepted++;
      assert.deepEqual(parseTraceparent(header), expected, JSON.stringify(header));
    }
    assert.ok(accepted > 1000, `only ${accepted} of the mutated headers were valid: the test would not compare readings`);
  });
});

describe('PooledRandomIds', () => {
  it('makes lowercase hex ids of 16 and 8 octets, none repeated', () => {
    const ids = new PooledRandomIds();
    const seen = new Set<string>();
    for (let round = 0; round < 3000; round++) {
      const traceId = ids.generateTraceId();
      const spanId = ids.generateSpanId();
      assert.match(traceId, /^[0-9a-f]{32}$/);
      assert.match(spanId, /^[0-9a-f]{16}$/);
      seen.add(traceId).add(spanId);
    }
    assert.equal(seen.size, 6000, 'past several refills of the pool');
  });
});
