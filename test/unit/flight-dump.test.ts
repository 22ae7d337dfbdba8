import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { CallRecord } from '../../src/cri/call-record.js';
import { showFlightDump } from '../../src/cli/flight-show.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { CALL_ENTRY_VERSION, type CallEntry } from '../../src/telemetry/recorder/call-entry.js';
import { dumpFileName, FLIGHT_DUMP_KIND, openDump, pruneDumps, writeDump, type FlightDumpHeader } from '../../src/telemetry/recorder/flight-dump.js';
import { FlightDumper } from '../../src/telemetry/recorder/flight-dumper.js';
import { FlightRecorder } from '../../src/telemetry/recorder/flight-recorder.js';
import type { CallInFlight } from '../../src/telemetry/call-in-flight.js';
import { callFacts } from '../support/call-facts.js';
import { waitFor } from '../support/wait.js';
import { criMethod } from '../support/cri-client.js';

function entry(overrides: Partial<CallEntry> = {}): CallEntry {
  return { v: CALL_ENTRY_VERSION, time: '2026-12-07T03:00:00.000Z', service: 'runtime', method: 'Version', status: 'OK', code: 0, durationMs: 1, requestBytes: 0, responseBytes: 0, ...overrides };
}

function header(overrides: Partial<FlightDumpHeader> = {}): FlightDumpHeader {
  return { v: CALL_ENTRY_VERSION, kind: FLIGHT_DUMP_KIND, time: '2026-12-07T03:38:04.123Z', trigger: 'signal', reason: 'SIGUSR1', criscope: '0.1.0', calls: 0, inFlight: [], ...overrides };
}

const freshDir = (): string => mkdtempSync(join(tmpdir(), 'criscope-flight-'));

/** Collects what is written to it, as a terminal would show it (not a TTY: no colour). */
class Collected extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

async function readAll(path: string): Promise<{ header: FlightDumpHeader; entries: CallEntry[] }> {
  const opened = await openDump(path);
  const entries: CallEntry[] = [];
  for await (const read of opened.entries) entries.push(read);
  return { header: opened.header, entries };
}

describe('flight dumps', () => {
  it('names dumps so that they sort by time, with what made them', () => {
    assert.equal(dumpFileName(new Date('2026-12-07T03:38:04.123Z'), 'runtime-unreachable'), 'flight-20261207T033804123Z-runtime-unreachable.jsonl.gz');
    assert.ok(dumpFileName(new Date('2026-12-07T09:00:00Z'), 'stuck-call') < dumpFileName(new Date('2026-12-07T10:00:00Z'), 'call-status'));
  });

  it('writes a header line then one call a line, gzip-compressed, mode 0600 in a directory made 0700, and reads them back', async () => {
    const dir = join(freshDir(), 'flight');
    const calls = Array.from({ length: 300 }, (_, index) => entry({ durationMs: index, podName: `pod-${index}`, podNamespace: 'default' }));
    const inFlight = [{ v: CALL_ENTRY_VERSION, time: '2026-12-07T03:36:00.000Z', service: 'image', method: 'PullImage', ageMs: 124_000, image: 'app:1' }] as const;
    const path = await writeDump(dir, header({ calls: calls.length, inFlight }), calls);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(dir), ['flight-20261207T033804123Z-signal.jsonl.gz'], 'no partial file left');
    const read = await readAll(path);
    assert.equal(read.header.reason, 'SIGUSR1');
    assert.deepEqual(read.header.inFlight, inFlight);
    assert.deepEqual(read.entries, calls);
  });

  it('keeps the newest dumps only, and removes a partial one a crash left', async () => {
    const dir = freshDir();
    for (let hour = 10; hour < 23; hour++) await writeDump(dir, header({ time: `2026-12-07T${hour}:00:00.000Z` }), []);
    writeFileSync(join(dir, '.flight-20261207T090000000Z-signal.jsonl.gz.partial'), '');
    writeFileSync(join(dir, 'notes.txt'), 'not a dump');
    const removed = await pruneDumps(dir, 10);
    assert.equal(removed.length, 4);
    const left = readdirSync(dir).sort();
    assert.equal(left.length, 11);
    assert.equal(left[0], 'flight-20261207T130000000Z-signal.jsonl.gz', 'the three oldest went');
    assert.ok(left.includes('notes.txt'), 'other files are left alone');
  });

  it('refuses a file that is not a flight dump, saying why', async () => {
    const dir = freshDir();
    const plain = join(dir, 'plain.txt');
    writeFileSync(plain, 'hello\n');
    await assert.rejects(openDump(plain), /plain\.txt is not a flight dump \(gzip-compressed JSON lines\)/);
    const other = join(dir, 'other.jsonl.gz');
    writeFileSync(other, gzipSync('{"v":1,"lost":3}\n'));
    await assert.rejects(openDump(other), /other\.jsonl\.gz is not a flight dump: its first line is not a header/);
    await assert.rejects(openDump(join(dir, 'missing.gz')), /cannot read .*missing\.gz: ENOENT/);
    await assert.rejects(openDump(dir), /cannot read .*: EISDIR/, 'a directory');
  });

  it('shows a dump in tail’s format with tail’s filters, then what was in flight', async () => {
    const dir = freshDir();
    const calls = [entry({ method: 'Version' }), entry({ method: 'PullImage', status: 'NOT_FOUND', code: 5, podNamespace: 'default', podName: 'web', image: 'app:2', message: 'not found' })];
    const inFlight = [{ v: CALL_ENTRY_VERSION, time: '2026-12-07T03:36:00.000Z', service: 'image', method: 'PullImage', ageMs: 192_000, podNamespace: 'default', podName: 'web', image: 'app:1' }] as const;
    const path = await writeDump(dir, header({ calls: 2, inFlight }), calls);
    const out = new Collected();
    assert.equal(await showFlightDump(path, { errors: true, json: false }, out), 0);
    const lines = out.text.trimEnd().split('\n');
    assert.match(lines[0], /^# flight dump taken 2026-12-07T03:38:04\.123Z by criscope 0\.1\.0: SIGUSR1 \(2 calls, 1 in flight\)$/);
    assert.equal(lines.length, 2, 'only the failed call, and no call in flight (it has not failed)');
    assert.match(lines[1], /PullImage +NOT_FOUND .*pod=default\/web .*image=app:2 .*"not found"/);
    const byPod = new Collected();
    await showFlightDump(path, { pods: ['default/web'], json: false }, byPod);
    assert.match(byPod.text, /in flight 3m12s +PullImage +pod=default\/web  app:1$/m);
    const json = new Collected();
    await showFlightDump(path, { methods: ['Version'], json: true }, json);
    assert.deepEqual(json.text.trimEnd().split('\n').map((line) => JSON.parse(line) as CallEntry), [calls[0]]);
  });
});

describe('the flight dumper', () => {
  const settings = { dumpDir: '', maxDumps: 10, autoDumpIntervalSeconds: 60, stuckCallSeconds: 120 };
  const recorderOf = (maxRecords: number): FlightRecorder => new FlightRecorder({ maxRecords, maxBytes: 1 << 20, maxSubscribers: 1, maxQueuedBytesPerSubscriber: 4096 });
  const failed = (code: number): CallRecord => new CallRecord({ ...callFacts(criMethod('StopContainer')), grpcStatus: code });

  it('dumps by itself when a call ends DEADLINE_EXCEEDED, holding that call, then at most once an interval', async () => {
    const dir = freshDir();
    const recorder = recorderOf(100);
    const dumper = new FlightDumper(recorder, { ...settings, dumpDir: dir }, () => [], '0.1.0', createLogger('silent'));
    for (const record of [new CallRecord(callFacts()), failed(4)]) {
      recorder.onCall(record);
      dumper.onCall(record);
    }
    recorder.onCall(failed(14));
    dumper.onCall(failed(14));
    dumper.reachabilityChanged('unix:///run/containerd/containerd.sock', false);
    await dumper.stop();
    const dumps = readdirSync(dir);
    assert.equal(dumps.length, 1, 'the later troubles fell within the interval');
    const read = await readAll(join(dir, dumps[0]));
    assert.equal(read.header.trigger, 'call-status');
    assert.equal(read.header.reason, 'StopContainer ended DEADLINE_EXCEEDED');
    assert.deepEqual(read.entries.map((call) => call.status), ['OK', 'DEADLINE_EXCEEDED']);
  });

  it('dumps on demand however recently it dumped (a signal while a dump is written gets that one), and with the recorder off, says there is nothing to dump', async () => {
    const dir = freshDir();
    const dumper = new FlightDumper(recorderOf(100), { ...settings, dumpDir: dir }, () => [], '0.1.0', createLogger('silent'));
    dumper.reachabilityChanged('unix:///run/containerd/containerd.sock', false);
    assert.match((await dumper.dumpNow('SIGUSR1')) ?? '', /-runtime-unreachable\.jsonl\.gz$/, 'asked while the automatic dump was written');
    assert.match((await dumper.dumpNow('SIGUSR1')) ?? '', /-signal\.jsonl\.gz$/);
    await dumper.stop();
    assert.equal(readdirSync(dir).length, 2);

    const lines: string[] = [];
    const log = createLogger('info', { write: (line: string) => void lines.push(line) });
    const offDir = freshDir();
    const off = new FlightDumper(recorderOf(0), { ...settings, dumpDir: offDir }, () => [], '0.1.0', log);
    off.onCall(failed(14));
    assert.equal(await off.dumpNow('SIGUSR1'), undefined);
    await off.stop();
    assert.deepEqual(readdirSync(offDir), []);
    assert.match(lines.join(''), /nothing to dump: the flight recorder is off \(set flightRecorder\.maxRecords/);
  });

  it("does not dump for criscope's own UNAVAILABLE answers nor for ExecSync's DEADLINE_EXCEEDED", async () => {
    const dir = freshDir();
    const recorder = recorderOf(100);
    const dumper = new FlightDumper(recorder, { ...settings, dumpDir: dir }, () => [], '0.1.0', createLogger('silent'));
    const routine = [
      new CallRecord({ ...callFacts(criMethod('ListPodSandbox')), grpcStatus: 14, answeredByCriscope: true }),
      new CallRecord({ ...callFacts(criMethod('ExecSync')), grpcStatus: 4 }),
    ];
    for (const record of routine) dumper.onCall(record);
    await dumper.stop();
    assert.deepEqual(readdirSync(dir), []);
    dumper.onCall(new CallRecord({ ...callFacts(criMethod('ExecSync')), grpcStatus: 14 }));
    await dumper.stop();
    assert.equal(readdirSync(dir).length, 1, "the runtime's UNAVAILABLE for ExecSync dumps");
  });

  it('writes one dump for a burst of trouble, however short the interval', async () => {
    const dir = freshDir();
    const recorder = recorderOf(100);
    // Below the schema's least interval (1 s): only the dump being written holds the others back.
    const dumper = new FlightDumper(recorder, { ...settings, dumpDir: dir, autoDumpIntervalSeconds: 0 }, () => [], '0.1.0', createLogger('silent'));
    for (let index = 0; index < 50; index++) {
      recorder.onCall(failed(14));
      dumper.onCall(failed(14));
    }
    await dumper.stop();
    assert.equal(readdirSync(dir).length, 1);
  });

  it('logs a trigger that fails, from the relay or the scan for stuck calls, and throws nothing', async () => {
    const lines: string[] = [];
    const recorder = recorderOf(100);
    recorder.heldNow = () => {
      throw new Error('the recorder broke');
    };
    const dumper = new FlightDumper(
      recorder,
      { ...settings, dumpDir: freshDir(), stuckCallSeconds: 0.04 },
      () => {
        throw new Error('the calls in flight broke');
      },
      '0.1.0',
      createLogger('info', { write: (line: string) => void lines.push(line) }),
    );
    dumper.reachabilityChanged('unix:///run/containerd/containerd.sock', false);
    dumper.start();
    try {
      await waitFor(() => lines.length >= 2, 'both failures logged');
    } finally {
      await dumper.stop();
    }
    const failures = lines.slice(0, 2).map((line) => JSON.parse(line) as { msg: string; err: { message: string } });
    assert.deepEqual(failures.map((line) => line.msg), ['flight dump trigger failed', 'flight dump trigger failed']);
    assert.deepEqual(failures.map((line) => line.err.message), ['the recorder broke', 'the calls in flight broke']);
  });

  it('dumps when a call stays in flight past the threshold, once for that call, naming it; not for a streaming call', async () => {
    const dir = freshDir();
    const recorder = recorderOf(100);
    const stuck: CallInFlight = { path: '/runtime.v1.ImageService/PullImage', method: criMethod('PullImage'), service: 'runtime.v1.ImageService', methodName: 'PullImage', serverStreaming: false, startedTick: performance.now() - 60_000, responseMessages: 0, requestIdentity: () => ({ image: 'app:1.2' }) };
    const events: CallInFlight = { ...stuck, path: '/runtime.v1.RuntimeService/GetContainerEvents', methodName: 'GetContainerEvents', serverStreaming: true };
    // Below the schema's least threshold and interval (1 s each): the scan runs every 10 ms, so the test need not wait seconds.
    const dumper = new FlightDumper(recorder, { ...settings, dumpDir: dir, stuckCallSeconds: 0.04, autoDumpIntervalSeconds: 0 }, () => [events, stuck], '0.1.0', createLogger('silent'));
    dumper.start();
    try {
      await waitFor(() => existsSync(dir) && readdirSync(dir).length > 0, 'a dump');
      await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      await dumper.stop();
    }
    const dumps = readdirSync(dir);
    assert.equal(dumps.length, 1, 'one dump for the one stuck call, however often it is seen');
    const read = await readAll(join(dir, dumps[0]));
    assert.equal(read.header.trigger, 'stuck-call');
    assert.equal(read.header.reason, 'PullImage in flight for over 0.04s');
  });

  it('logs a dump it cannot write, and goes on', async () => {
    const file = join(freshDir(), 'a-file');
    writeFileSync(file, '');
    const lines: string[] = [];
    const dumper = new FlightDumper(recorderOf(100), { ...settings, dumpDir: join(file, 'flight') }, () => [], '0.1.0', createLogger('info', { write: (line: string) => void lines.push(line) }));
    assert.equal(await dumper.dumpNow('SIGUSR1'), undefined);
    assert.equal(lines.length, 1);
    assert.match(lines[0], /"msg":"could not dump the flight recorder"/);
  });
});
