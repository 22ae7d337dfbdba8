import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { FramePump, FrameVerdict, type FrameHandler, type FrameSink } from '../../src/relay/frame-pump.js';
import { ConnectionFrameRules } from '../../src/relay/frame-rule-state.js';
import { buildFrame, Flag, FrameType, goawayFrame, rstStreamFrame } from '../../src/relay/http2-frames.js';
import { Http2ErrorCode } from '../../src/wire-codes.js';

/** Records what is written, and how many times it would reach the socket (corked writes leave together). */
class MemorySink implements FrameSink {
  readonly destroyed = false;
  readonly writes: Buffer[] = [];
  flushes = 0;
  private corks = 0;
  private heldWrites = 0;
  write(bytes: Buffer): boolean {
    this.writes.push(Buffer.from(bytes));
    if (this.corks > 0) this.heldWrites += 1;
    else this.flushes += 1;
    return true;
  }
  cork(): void {
    this.corks += 1;
  }
  uncork(): void {
    this.corks -= 1;
    if (this.corks === 0 && this.heldWrites > 0) {
      this.flushes += 1;
      this.heldWrites = 0;
    }
  }
  get bytes(): Buffer {
    return Buffer.concat(this.writes);
  }
}

const frames = [
  buildFrame(FrameType.SETTINGS, 0, 0, Buffer.alloc(12, 1)),
  buildFrame(FrameType.HEADERS, 0, 1, Buffer.alloc(30, 2)),
  buildFrame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, Buffer.alloc(10, 3)),
  buildFrame(FrameType.DATA, 0, 1, Buffer.alloc(40_000, 4)),
  buildFrame(FrameType.DATA, Flag.END_STREAM, 1, Buffer.alloc(0)),
  buildFrame(FrameType.WINDOW_UPDATE, 0, 0, Buffer.from([0, 0, 1, 0])),
];
const stream = Buffer.concat(frames);

/** A pump of a client's frames to `handler`; unreadable, refused or oversized frames fail the test unless it expects them. */
function pumpTo(sink: FrameSink, handler: FrameHandler, problems: string[] = [], onProblem: () => void = () => undefined): FramePump {
  const note = (problem: string): void => {
    problems.push(problem);
    onProblem();
  };
  return new FramePump(sink, {
    onFrame: handler,
    onUnreadable: note,
    onViolation: (violation, streamId) => note(`${violation.scope} error ${violation.code} on stream ${streamId}`),
    onOversized: (length, limit) => note(`oversized ${length} > ${limit}`),
  }, new ConnectionFrameRules().fromClient);
}

/** Pushes `bytes` cut into pieces of the given sizes (cycled). */
function pushInPieces(pump: FramePump, bytes: Buffer, sizes: number[]): void {
  for (let offset = 0, turn = 0; offset < bytes.length; turn++) {
    const size = sizes[turn % sizes.length];
    pump.push(bytes.subarray(offset, offset + size));
    offset += size;
  }
}

describe('FramePump', () => {
  for (const sizes of [[stream.length], [1], [7], [9, 3], [16_384], [5, 40_000, 2]]) {
    it(`relays every frame unchanged and whole, in pieces of ${sizes.join('/')} bytes`, () => {
      const sink = new MemorySink();
      const seen: number[] = [];
      const problems: string[] = [];
      const pump = pumpTo(sink, (type) => {
        seen.push(type);
        return FrameVerdict.Forward;
      }, problems);
      pump.acceptedFrameSize.sent(65_536);
      pushInPieces(pump, stream, sizes);
      assert.ok(sink.bytes.equals(stream));
      assert.deepEqual(problems, []);
      assert.deepEqual(seen, [FrameType.SETTINGS, FrameType.HEADERS, FrameType.CONTINUATION, FrameType.DATA, FrameType.DATA, FrameType.WINDOW_UPDATE]);
      // Each write ends on a frame boundary, so an injected frame can never land inside another.
      let offset = 0;
      for (const write of sink.writes) {
        offset += write.length;
        assert.ok(frames.some((_, index) => Buffer.concat(frames.slice(0, index + 1)).length === offset), `a write ends at byte ${offset}`);
      }
    });
  }

  it('cuts out dropped frames and keeps the rest in order', () => {
    const sink = new MemorySink();
    const pump = pumpTo(sink, (type) => (type === FrameType.DATA ? FrameVerdict.Drop : FrameVerdict.Forward));
    pump.acceptedFrameSize.sent(65_536);
    pump.push(stream);
    assert.ok(sink.bytes.equals(Buffer.concat([frames[0], frames[1], frames[2], frames[5]] as Buffer[])));
    assert.equal(sink.flushes, 1, 'the pieces around dropped frames leave in one write');
  });

  it('holds an injected frame until the open header block ends', () => {
    const sink = new MemorySink();
    const pump = pumpTo(sink, () => FrameVerdict.Forward);
    const injected = rstStreamFrame(3, 8);
    pump.push(Buffer.concat([frames[0], frames[1]] as Buffer[]));
    assert.ok(pump.insideHeaderBlock);
    pump.inject(injected);
    assert.ok(!sink.bytes.includes(injected), 'not inside HEADERS … CONTINUATION');
    pump.push(frames[2]);
    assert.ok(sink.bytes.equals(Buffer.concat([frames[0], frames[1], frames[2], injected] as Buffer[])));
  });

  it('writes frames injected while a chunk is pumped after the frames before them', () => {
    const sink = new MemorySink();
    const injected = rstStreamFrame(1, 8);
    const pump: FramePump = pumpTo(sink, (type) => {
      if (type === FrameType.WINDOW_UPDATE) pump.inject(injected);
      return FrameVerdict.Forward;
    });
    pump.acceptedFrameSize.sent(65_536);
    pump.push(stream);
    assert.ok(sink.bytes.equals(Buffer.concat([stream, injected])));
  });
});

describe('FramePump and the receiving peer SETTINGS_MAX_FRAME_SIZE (RFC 9113 §6.5.3)', () => {
  const large = buildFrame(FrameType.DATA, 0, 1, Buffer.alloc(40_000));
  const opened = Buffer.concat([frames[0], buildFrame(FrameType.HEADERS, Flag.END_HEADERS, 1, Buffer.alloc(4))]);

  it('takes a larger frame as soon as the receiver raises its limit', () => {
    const problems: string[] = [];
    const pump = pumpTo(new MemorySink(), () => FrameVerdict.Forward, problems);
    pump.acceptedFrameSize.sent(65_536);
    pump.push(Buffer.concat([opened, large]));
    assert.deepEqual(problems, []);
  });

  it('still takes a frame at the old, larger limit until the sender acknowledges a lowered one, and refuses it after', () => {
    const problems: string[] = [];
    const pump = pumpTo(new MemorySink(), () => FrameVerdict.Forward, problems);
    pump.acceptedFrameSize.sent(65_536);
    pump.acceptedFrameSize.acknowledged();
    pump.acceptedFrameSize.sent(16_384);
    pump.push(Buffer.concat([opened, large]));
    assert.deepEqual(problems, [], 'sent before the sender could know of the lower limit');
    pump.acceptedFrameSize.acknowledged();
    pump.push(large);
    assert.deepEqual(problems, ['oversized 40000 > 16384']);
  });
});

describe('FramePump and frames that break RFC 9113', () => {
  const settings = frames[0];
  const headers = buildFrame(FrameType.HEADERS, Flag.END_HEADERS, 1, Buffer.alloc(10, 2));
  const after = buildFrame(FrameType.PING, 0, 0, Buffer.alloc(8));
  // The frames the old pump relayed unread for the runtime to judge: the RFC makes each a connection error.
  const malformed: { name: string; frame: Buffer; code: number }[] = [
    { name: 'RST_STREAM with an empty payload', frame: buildFrame(FrameType.RST_STREAM, 0, 1, Buffer.alloc(0)), code: Http2ErrorCode.FRAME_SIZE_ERROR },
    { name: 'HEADERS whose pad length exceeds the payload', frame: buildFrame(FrameType.HEADERS, Flag.PADDED | Flag.END_HEADERS, 3, Buffer.from([200, 1])), code: Http2ErrorCode.PROTOCOL_ERROR },
    { name: 'HEADERS with PRIORITY and too short a payload', frame: buildFrame(FrameType.HEADERS, Flag.PRIORITY | Flag.END_HEADERS, 3, Buffer.from([1, 2])), code: Http2ErrorCode.FRAME_SIZE_ERROR },
    { name: 'DATA whose pad length exceeds the payload', frame: buildFrame(FrameType.DATA, Flag.PADDED, 1, Buffer.from([50, 1, 2])), code: Http2ErrorCode.PROTOCOL_ERROR },
    { name: 'a 7-byte WINDOW_UPDATE', frame: buildFrame(FrameType.WINDOW_UPDATE, 0, 0, Buffer.alloc(7)), code: Http2ErrorCode.FRAME_SIZE_ERROR },
    { name: 'a short GOAWAY', frame: buildFrame(FrameType.GOAWAY, 0, 0, Buffer.alloc(3)), code: Http2ErrorCode.FRAME_SIZE_ERROR },
    { name: 'SETTINGS of 5 bytes', frame: buildFrame(FrameType.SETTINGS, 0, 0, Buffer.alloc(5)), code: Http2ErrorCode.FRAME_SIZE_ERROR },
    { name: 'HEADERS on stream 0', frame: buildFrame(FrameType.HEADERS, Flag.END_HEADERS, 0, Buffer.alloc(4)), code: Http2ErrorCode.PROTOCOL_ERROR },
  ];
  for (const { name, frame, code } of malformed) {
    for (const sizes of [[1_000_000], [1], [10, 4]]) {
      it(`refuses ${name}: relays what came before, and nothing from it on (pieces of ${sizes.join('/')} bytes)`, () => {
        const sink = new MemorySink();
        const problems: string[] = [];
        const handled: number[] = [];
        const pump = pumpTo(sink, (type) => {
          handled.push(type);
          return FrameVerdict.Forward;
        }, problems);
        pushInPieces(pump, Buffer.concat([settings, headers, frame, after]), sizes);
        assert.ok(sink.bytes.equals(Buffer.concat([settings, headers])));
        assert.deepEqual(handled, [FrameType.SETTINGS, FrameType.HEADERS], 'the handler never sees it');
        assert.equal(problems.length, 1);
        assert.match(problems[0] ?? '', new RegExp(`^connection error ${code} `));
      });
    }
  }

  it('drops a PRIORITY of the wrong length on an open stream (a stream error), and relays what follows', () => {
    const sink = new MemorySink();
    const problems: string[] = [];
    const pump = pumpTo(sink, () => FrameVerdict.Forward, problems);
    pump.push(Buffer.concat([settings, headers, buildFrame(FrameType.PRIORITY, 0, 1, Buffer.alloc(4)), after]));
    assert.ok(sink.bytes.equals(Buffer.concat([settings, headers, after])));
    assert.deepEqual(problems, [`stream error ${Http2ErrorCode.FRAME_SIZE_ERROR} on stream 1`]);
  });

  it('writes what the owner injects on a refused frame after the frames before it', () => {
    const sink = new MemorySink();
    const answer = goawayFrame(1, Http2ErrorCode.PROTOCOL_ERROR);
    const pump: FramePump = pumpTo(sink, () => FrameVerdict.Forward, [], () => pump.inject(answer));
    pump.push(Buffer.concat([settings, headers, buildFrame(FrameType.DATA, 0, 0, Buffer.alloc(3)), after]));
    assert.ok(sink.bytes.equals(Buffer.concat([settings, headers, answer])));
  });

  it('writes what the owner injects when it stops at an oversized frame', () => {
    const sink = new MemorySink();
    const answer = goawayFrame(0, Http2ErrorCode.FRAME_SIZE_ERROR);
    const pump: FramePump = pumpTo(sink, () => FrameVerdict.Forward, [], () => pump.inject(answer));
    pump.push(Buffer.concat([settings, Buffer.from([0xff, 0xff, 0xff, FrameType.DATA, 0, 0, 0, 0, 1])]));
    assert.ok(sink.bytes.equals(Buffer.concat([settings, answer])));
  });

  it('does not count a refused HEADERS as an open header block', () => {
    const sink = new MemorySink();
    const pump = pumpTo(sink, () => FrameVerdict.Forward);
    pump.push(Buffer.concat([settings, buildFrame(FrameType.HEADERS, 0, 2, Buffer.alloc(4))]));
    assert.equal(pump.insideHeaderBlock, false, 'what criscope injects can still go out');
  });

  it('relays a frame whose handler throws, and says so', () => {
    const sink = new MemorySink();
    const problems: string[] = [];
    const pump = pumpTo(sink, () => {
      throw new Error('boom');
    }, problems);
    pump.push(stream.subarray(0, 21));
    assert.ok(sink.bytes.equals(stream.subarray(0, 21)));
    assert.match(problems[0] ?? '', /boom/);
  });

  it('stops at a frame longer than the receiver accepts, before buffering it', () => {
    const sink = new MemorySink();
    const problems: string[] = [];
    const pump = pumpTo(sink, () => FrameVerdict.Forward, problems);
    const huge = Buffer.from([0xff, 0xff, 0xff, FrameType.DATA, 0, 0, 0, 0, 1]);
    pump.push(Buffer.concat([settings, huge, Buffer.alloc(100)]));
    assert.deepEqual(problems, [`oversized ${0xffffff} > 16384`]);
    assert.ok(sink.bytes.equals(settings), 'what came before is relayed');
    pump.push(Buffer.alloc(1000));
    assert.ok(sink.bytes.equals(settings), 'nothing after');
  });
});
