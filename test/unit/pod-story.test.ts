import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { podVerdict, storyEvents, storyLines } from '../../src/cli/pod-story.js';
import { parsePodName } from '../../src/cli/why.js';
import { CALL_ENTRY_VERSION, type CallEntry } from '../../src/telemetry/recorder/call-entry.js';
import type { InFlightEntry } from '../../src/telemetry/recorder/in-flight-entry.js';

let second = 0;
/** A call of pod default/web, each a second after the one before. */
function call(method: string, overrides: Partial<CallEntry> = {}): CallEntry {
  second++;
  return {
    v: CALL_ENTRY_VERSION,
    time: new Date(Date.UTC(2026, 11, 7, 3, 0, second)).toISOString(),
    service: method === 'PullImage' ? 'image' : 'runtime',
    method,
    status: 'OK',
    code: 0,
    durationMs: 10,
    requestBytes: 0,
    responseBytes: 0,
    podNamespace: 'default',
    podName: 'web',
    podUid: 'uid-1',
    ...overrides,
  };
}

function inFlight(method: string, ageMs: number, overrides: Partial<InFlightEntry> = {}): InFlightEntry {
  return { v: CALL_ENTRY_VERSION, time: new Date(Date.UTC(2026, 11, 7, 3, 5, 0) - ageMs).toISOString(), service: 'runtime', method, ageMs, podNamespace: 'default', podName: 'web', ...overrides };
}

const notFound = { status: 'NOT_FOUND', code: 5, message: 'registry.example/app:1.2: not found' };
const run = (): CallEntry => call('RunPodSandbox', { sandboxId: 'sb-1' });
const pull = (image: string, outcome: Partial<CallEntry> = {}): CallEntry => call('PullImage', { image, ...outcome });
const create = (name: string, id: string): CallEntry => call('CreateContainer', { containerName: name, containerId: id, sandboxId: 'sb-1', image: 'registry.example/app:1.2' });
const start = (id: string): CallEntry => call('StartContainer', { containerId: id });
const exited = (id: string, exitCode: number, reason: string): CallEntry => call('ContainerStatus', { containerId: id, containerState: 'exited', exitCode, reason });
const denial = { status: 'PERMISSION_DENIED', code: 7, message: 'criscope policy "images.allowed": image "evil.example/x:1" is not in an allowed registry or repository', policy: { verdict: 'denied', rule: 'images.allowed', reason: 'image "evil.example/x:1" is not in an allowed registry or repository' } } as const;

describe('criscope why: the verdict', () => {
  const cases: { name: string; calls: CallEntry[]; inFlight?: InFlightEntry[]; verdict: string | RegExp }[] = [
    {
      name: 'a pull in flight: what it waits on, and for how long',
      calls: [run()],
      inFlight: [inFlight('PullImage', 192_000, { image: 'registry.example/app:1.2' }), inFlight('ContainerStatus', 3)],
      verdict: 'waiting 3m12s on PullImage registry.example/app:1.2',
    },
    {
      name: 'a start in flight names the container it starts',
      calls: [run(), pull('registry.example/app:1.2'), create('app', 'c-1')],
      inFlight: [inFlight('StartContainer', 5_500, { containerId: 'c-1' })],
      verdict: 'waiting 5.5s on StartContainer app',
    },
    {
      name: 'a pull that keeps failing',
      calls: [run(), pull('registry.example/app:1.2', notFound), pull('registry.example/app:1.2', notFound)],
      verdict: 'PullImage failed: NOT_FOUND registry.example/app:1.2: not found',
    },
    {
      name: 'a long runtime message keeps its start and its end, where the cause is',
      calls: [run(), pull('registry.example/app:1.2', { ...notFound, message: `failed to pull and unpack image ${'x'.repeat(300)}: not found` })],
      verdict: /^PullImage failed: NOT_FOUND failed to pull and unpack image x+…x+: not found$/,
    },
    {
      name: 'a denial by policy names the rule and why',
      calls: [run(), pull('evil.example/x:1', denial)],
      verdict: 'denied by policy rule images.allowed: image "evil.example/x:1" is not in an allowed registry or repository',
    },
    {
      name: 'a failure a later success undid',
      calls: [run(), pull('registry.example/app:1.2', notFound), pull('registry.example/app:1.2'), create('app', 'c-1'), start('c-1')],
      verdict: 'running (app)',
    },
    {
      name: 'a failure the pod got past (its image was changed) is not the verdict',
      calls: [run(), pull('registry.example/app:nope', notFound), pull('registry.example/app:1.2'), create('app', 'c-1'), start('c-1')],
      verdict: 'running (app)',
    },
    {
      name: "another container's pull failing is not undone by the app's start",
      calls: [run(), pull('registry.example/side:1', { ...notFound, message: 'registry.example/side:1: not found' }), pull('registry.example/app:1.2'), create('app', 'c-1'), start('c-1')],
      verdict: 'running (app); PullImage failed: NOT_FOUND registry.example/side:1: not found',
    },
    {
      name: "another container's create failing is named, beside the app running",
      calls: [run(), pull('registry.example/app:1.2'), call('CreateContainer', { containerName: 'side', sandboxId: 'sb-1', image: 'registry.example/app:1.2', status: 'UNKNOWN', code: 2, message: 'failed to create containerd container: mount denied' }), create('app', 'c-1'), start('c-1')],
      verdict: 'running (app); CreateContainer side failed: UNKNOWN failed to create containerd container: mount denied',
    },
    {
      name: 'a new sandbox starts the pod over: what failed in the one before is history',
      calls: [run(), pull('registry.example/app:1.2', notFound), run()],
      verdict: 'sandbox ready; no container created yet',
    },
    {
      name: 'a container that exited, with its code and reason, beside one running',
      calls: [run(), create('app', 'c-1'), start('c-1'), create('sidecar', 'c-2'), start('c-2'), exited('c-1', 137, 'OOMKilled')],
      verdict: 'app exited with code 137 (OOMKilled); running (sidecar)',
    },
    {
      name: 'a pod that is gone, and what failed before it went',
      calls: [run(), pull('registry.example/app:1.2', notFound), call('StopPodSandbox', { sandboxId: 'sb-1' }), call('RemovePodSandbox', { sandboxId: 'sb-1' })],
      verdict: /^sandbox removed at \d\d:\d\d:\d\d\.\d{3}; before that, PullImage failed: NOT_FOUND registry\.example\/app:1\.2: not found$/,
    },
    {
      name: 'a sandbox and nothing else yet',
      calls: [run(), call('PodSandboxStatus', { sandboxId: 'sb-1' })],
      verdict: 'sandbox ready; no container created yet',
    },
    {
      name: 'only status calls',
      calls: [call('PodSandboxStatus', { sandboxId: 'sb-1' })],
      verdict: 'no call that starts or stops this pod is held (only status and list calls)',
    },
  ];
  for (const { name, calls, inFlight: flying, verdict } of cases) {
    it(name, () => {
      const said = podVerdict(calls, flying ?? []);
      if (typeof verdict === 'string') assert.equal(said, verdict);
      else assert.match(said, verdict);
    });
  }
});

describe('criscope why: the story', () => {
  it('tells the lifecycle calls in order, failures and exits, leaves out status polls, and folds retries alike into one line', () => {
    const calls = [
      run(),
      call('PodSandboxStatus', { sandboxId: 'sb-1' }),
      pull('registry.example/app:1.2', notFound),
      pull('registry.example/app:1.2', notFound),
      pull('registry.example/app:1.2', notFound),
      pull('registry.example/app:1.2'),
      create('app', 'c-1'),
      start('c-1'),
      call('ContainerStatus', { containerId: 'c-1', containerState: 'running' }),
      exited('c-1', 1, 'Error'),
      exited('c-1', 1, 'Error'),
      call('ContainerStatus', { containerId: 'c-9', ...notFound }),
    ];
    const events = storyEvents(calls);
    assert.deepEqual(
      events.map((event) => [event.call.method, event.call.status, event.times]),
      [
        ['RunPodSandbox', 'OK', 1],
        ['PullImage', 'NOT_FOUND', 3],
        ['PullImage', 'OK', 1],
        ['CreateContainer', 'OK', 1],
        ['StartContainer', 'OK', 1],
        ['ContainerStatus', 'OK', 1],
        ['ContainerStatus', 'NOT_FOUND', 1],
      ],
    );
    const lines = storyLines(calls, [inFlight('StopContainer', 2000, { containerId: 'c-1' })]);
    assert.match(lines[1], /PullImage +NOT_FOUND ×3 .*image=registry\.example\/app:1\.2 +"registry\.example\/app:1\.2: not found"/);
    assert.match(lines[4], /StartContainer +OK .*container=app\(c-1\)/, 'a call naming only the container shows its name');
    assert.match(lines[5], /ContainerStatus +OK .*exited code=1 \(Error\)/);
    assert.match(lines.at(-1) ?? '', /StopContainer +IN FLIGHT +2\.0s  app$/);
  });

  it('shows a pull with its time and the image’s size, when the runtime told it', () => {
    const [line] = storyLines([pull('registry.example/app:1.2', { durationMs: 2345.6 })], [], { 'registry.example/app:1.2': 4_404_019 });
    assert.match(line, /PullImage +OK +2345\.6 ms  image=registry\.example\/app:1\.2  size=4\.2 MiB$/);
  });

  it('shows a denial with its rule and reason', () => {
    const [line] = storyLines([pull('evil.example/x:1', denial)], []);
    assert.match(line, /PullImage +PERMISSION_DENIED .*policy denied by rule images\.allowed: image "evil\.example\/x:1" is not in an allowed/);
  });

  it('takes the pod as NAMESPACE/NAME only', () => {
    assert.deepEqual(parsePodName('kube-system/coredns-5d78c'), { namespace: 'kube-system', name: 'coredns-5d78c' });
    assert.throws(() => parsePodName('coredns'), /why takes the pod as NAMESPACE\/NAME, not "coredns"/);
    assert.throws(() => parsePodName(undefined), /why needs the pod, as NAMESPACE\/NAME/);
  });
});
