// criscope's metrics as an operator gets them: a real Prometheus (Debian's prometheus package,
// /usr/bin/prometheus) scrapes criscope while a pod runs through it against the real containerd,
// and loads config/criscope-alerts.yaml. Only Grafana itself is not run here: dashboards/criscope.json
// is checked by running each of its queries against that Prometheus, as Grafana would. criscope runs
// with a policy file, so that the Policy row has findings to show: a denied pull, an undecodable one,
// and an audited host-network pod.
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { startCriscope, type CriscopeProcess } from '../support/criscope-process.js';
import { CriTestClient, criMethod, statusOf, type Message } from '../support/cri-client.js';
import { policyFile } from '../support/policy-env.js';
import { runPromtool, startPrometheus, type LoadedRuleGroup, type PrometheusProcess, type QueryData, type ScrapeTarget } from '../support/prometheus.js';
import { grpcFrame, openH2, rawCall } from '../support/raw-h2.js';
import { testRuntime } from '../support/runtime-env.js';
import { waitFor } from '../support/wait.js';
import { hostNetworkPodConfig, startSleeper } from '../support/pods.js';

const runtime = testRuntime();
const PROJECT_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const ALERT_RULES_FILE = join(PROJECT_ROOT, 'config/criscope-alerts.yaml');
const ALERT_RULES_TEST_FILE = join(PROJECT_ROOT, 'config/criscope-alerts.test.yaml');
const DASHBOARD_FILE = join(PROJECT_ROOT, 'dashboards/criscope.json');

const JOB = 'criscope';
const SCRAPE_SECONDS = 1;
/** Seconds criscope waits after a pod's last container started before it counts the pod as started. */
const POD_START_SETTLE_SECONDS = 1;
const GRPC_NOT_FOUND = 5;
const GRPC_PERMISSION_DENIED = 7;

/** The test images' repository on the loopback registry. */
const TEST_REPOSITORY = runtime.busyboxImage.slice(0, runtime.busyboxImage.lastIndexOf('/'));
/**
 * Lets the lifecycle through (it pulls and runs only the test repository's images) and audits its
 * host-network pod; a pull from elsewhere is denied before it reaches the runtime or any registry.
 */
const POLICY = {
  mode: 'enforce',
  rules: [
    { kind: 'images', allowed: [`${TEST_REPOSITORY}/*`] },
    { kind: 'security', name: 'host-network', mode: 'audit', denyHostNetwork: true },
  ],
};
/** A PullImageRequest cut short: its image field claims 5 bytes and has 1. Policy cannot read it, so denies it. */
const UNDECODABLE_PULL = Buffer.from([0x0a, 0x05, 0x0a]);
/** The alerts the lifecycle raises on purpose, with the undecodable pull; every other rule stays inactive. */
const EXPECTED_ALERTS: readonly string[] = ['CriscopeDecodeFailures: firing', 'CriscopePolicyUndecodableRequests: firing'];

/** What Grafana puts in place of its built-in variables; generous enough for 1 s scrapes. */
const GRAFANA_BUILT_INS: Readonly<Record<string, string>> = {
  __rate_interval: '1m',
  __interval: '15s',
  __range: '5m',
};

// The parts of Grafana's dashboard JSON this test reads.
interface DatasourceRef {
  readonly type?: string;
  readonly uid?: string;
}
interface DashboardTarget {
  readonly refId?: string;
  readonly expr?: string;
  /** Grafana runs an instant query for this target (tables, bar gauges); otherwise a range query. */
  readonly instant?: boolean;
  readonly datasource?: DatasourceRef;
}
interface DashboardPanel {
  readonly id?: number;
  readonly type: string;
  readonly title?: string;
  readonly description?: string;
  readonly datasource?: DatasourceRef;
  readonly targets?: readonly DashboardTarget[];
  /** A collapsed row keeps its panels here. */
  readonly panels?: readonly DashboardPanel[];
}
interface TemplateVariable {
  readonly name: string;
  readonly type: string;
  readonly label?: string;
  readonly query?: string | { readonly query?: string };
  readonly datasource?: DatasourceRef;
  readonly multi?: boolean;
  readonly includeAll?: boolean;
}
interface Dashboard {
  readonly schemaVersion: number;
  readonly panels: readonly DashboardPanel[];
  readonly templating: { readonly list: readonly TemplateVariable[] };
}

interface RuleFile {
  readonly groups: readonly { readonly name: string; readonly rules: readonly { readonly alert?: string; readonly record?: string; readonly expr: string }[] }[];
}

/** A query the dashboard runs, and where it sits. */
interface PanelQuery {
  readonly panel: string;
  readonly refId: string;
  readonly expr: string;
  readonly instant: boolean;
}

const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as Dashboard;

/** Every panel, rows' nested panels included. */
function allPanels(panels: readonly DashboardPanel[]): DashboardPanel[] {
  return panels.flatMap((panel) => [panel, ...allPanels(panel.panels ?? [])]);
}

function panelQueries(): PanelQuery[] {
  return allPanels(dashboard.panels).flatMap((panel) =>
    (panel.targets ?? []).flatMap((target) =>
      target.expr === undefined ? [] : [{ panel: panel.title ?? `panel ${panel.id}`, refId: target.refId ?? '?', expr: target.expr, instant: target.instant === true }],
    ),
  );
}

function variableQuery(variable: TemplateVariable): string | undefined {
  return typeof variable.query === 'string' ? variable.query : variable.query?.query;
}

/** A Prometheus regex matching exactly `value`, written inside a PromQL string (as Grafana formats a variable for =~). */
function promqlRegexLiteral(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, (special) => `\\\\${special}`);
}

/** Replaces $name and ${name} as Grafana would; a variable this test does not know fails the test. */
function substituteVariables(expr: string, values: Readonly<Record<string, string>>): string {
  return expr.replace(/\$(?:\{(\w+)(?::\w+)?\}|(\w+))/g, (written: string, braced: string | undefined, bare: string | undefined) => {
    const name = braced ?? bare ?? '';
    const value = values[name];
    if (value === undefined) throw new Error(`the dashboard uses ${written}, which this test does not substitute: ${expr}`);
    return value;
  });
}

function seriesCount(data: QueryData): number {
  return data.resultType === 'vector' || data.resultType === 'matrix' ? data.result.length : 1;
}

/** A series with its samples: `value` in an instant vector, `values` in a matrix. */
interface SampledSeries {
  readonly value?: readonly [number, string];
  readonly values?: readonly (readonly [number, string])[];
}

/** The highest value a query answered with, at any point of its range. */
function highestValue(data: QueryData): number {
  if (data.resultType === 'scalar' || data.resultType === 'string') return Number(data.result[1]);
  const samples = (data.result as readonly SampledSeries[]).flatMap((series) => series.values ?? (series.value === undefined ? [] : [series.value]));
  return Math.max(-Infinity, ...samples.map(([, value]) => Number(value)));
}

/** The titles of a row's panels: those it holds when collapsed, those after it up to the next row when open. */
function rowPanelTitles(title: string): Set<string> {
  const start = dashboard.panels.findIndex((panel) => panel.type === 'row' && panel.title === title);
  if (start === -1) return new Set();
  const next = dashboard.panels.findIndex((panel, index) => index > start && panel.type === 'row');
  const following = dashboard.panels.slice(start + 1, next === -1 ? undefined : next);
  return new Set([...(dashboard.panels[start].panels ?? []), ...following].map((panel) => panel.title ?? ''));
}


describe('criscope scraped by a real Prometheus: every dashboard query answers, the alert rules load and evaluate', () => {
  let criscope: CriscopeProcess | undefined;
  let prometheus: PrometheusProcess | undefined;
  let client: CriTestClient | undefined;
  let direct: CriTestClient | undefined;
  let sandboxId: string | undefined;
  /** Date.now() when the pod lifecycle started and finished: the dashboard's time range, and the scrapes it needs. */
  let lifecycleStartedAt: number | undefined;
  let lifecycleFinishedAt: number | undefined;

  before(async () => {
    criscope = await startCriscope({
      runtimeSocket: runtime.containerdSocket,
      config: { podStart: { settleSeconds: POD_START_SETTLE_SECONDS }, policyFile: policyFile(POLICY) },
      logLevel: 'info',
    });
    client = new CriTestClient(criscope.socketPath);
    direct = new CriTestClient(runtime.containerdSocket);
    // Start from a runtime without the pull-only image, so the pull really goes to the registry.
    await direct.call('RemoveImage', { image: { image: runtime.pullOnlyImage } }).catch(() => undefined);
    prometheus = await startPrometheus({
      targets: [new URL(criscope.httpUrl).host],
      jobName: JOB,
      ruleFiles: [ALERT_RULES_FILE],
      intervalSeconds: SCRAPE_SECONDS,
    });
  });

  after(async () => {
    // A failed lifecycle must not leave its pod on the shared containerd.
    if (direct !== undefined && sandboxId !== undefined && lifecycleFinishedAt === undefined) {
      await direct.call('StopPodSandbox', { pod_sandbox_id: sandboxId }).catch(() => undefined);
      await direct.call('RemovePodSandbox', { pod_sandbox_id: sandboxId }).catch(() => undefined);
    }
    client?.close();
    direct?.close();
    // Both are stopped before either exit code is asserted.
    const prometheusExit = prometheus === undefined ? 0 : await prometheus.stop();
    const criscopeExit = criscope === undefined ? 0 : await criscope.stop();
    assert.equal(prometheusExit, 0, `prometheus exits 0 on SIGTERM:\n${prometheus?.output() ?? ''}`);
    assert.equal(criscopeExit, 0, `criscope exits 0 on SIGTERM:\n${criscope?.output() ?? ''}`);
  });

  /** What before() started, for the tests (which do not run when it failed). */
  const started = (): { criscope: CriscopeProcess; prometheus: PrometheusProcess; client: CriTestClient } => {
    assert.ok(criscope !== undefined && prometheus !== undefined && client !== undefined, 'criscope and prometheus started');
    return { criscope, prometheus, client };
  };

  it('promtool accepts the alert rules, and their unit tests pass', () => {
    const check = runPromtool(['check', 'rules', ALERT_RULES_FILE]);
    assert.equal(check.status, 0, `promtool check rules ${ALERT_RULES_FILE}:\n${check.output}`);
    const unitTests = runPromtool(['test', 'rules', ALERT_RULES_TEST_FILE]);
    assert.equal(unitTests.status, 0, `promtool test rules ${ALERT_RULES_TEST_FILE}:\n${unitTests.output}`);
  });

  it('has a dashboard current Grafana imports as is, each panel on the chosen data source and nodes', () => {
    assert.ok(dashboard.schemaVersion >= 39, `schemaVersion ${dashboard.schemaVersion}`);
    const variables = new Map(dashboard.templating.list.map((variable) => [variable.name, variable]));
    const datasource = variables.get('datasource');
    assert.equal(datasource?.type, 'datasource');
    assert.equal(datasource?.query, 'prometheus');
    const node = variables.get('instance');
    assert.equal(node?.label, 'Node');
    assert.equal(node?.type, 'query');
    assert.equal(variableQuery(node), 'label_values(criscope_build_info, instance)');
    assert.ok(node.multi === true && node.includeAll === true, 'Node is multi-value with All');
    assert.equal(node.datasource?.uid, '${datasource}');

    const panels = allPanels(dashboard.panels);
    const ids = panels.map((panel) => panel.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
    for (const panel of panels) {
      assert.ok(['row', 'timeseries', 'stat', 'table', 'bargauge'].includes(panel.type), `panel "${panel.title}" has type ${panel.type}`);
      if (panel.type === 'row') continue;
      assert.ok((panel.description ?? '').length > 0, `panel "${panel.title}" has a description`);
      assert.equal(panel.datasource?.uid, '${datasource}', `panel "${panel.title}" uses the datasource variable`);
      assert.ok((panel.targets ?? []).length > 0, `panel "${panel.title}" has queries`);
      for (const target of panel.targets ?? []) {
        assert.equal(target.datasource?.uid, '${datasource}', `panel "${panel.title}" target ${target.refId} uses the datasource variable`);
        assert.ok(target.expr?.includes('instance=~"$instance"'), `panel "${panel.title}" target ${target.refId} selects instance=~"$instance": ${target.expr}`);
      }
    }
  });

  it('relays a whole pod lifecycle while Prometheus scrapes criscope', async () => {
    const { criscope, client } = started();
    lifecycleStartedAt = Date.now();
    const version = await client.call('Version');
    assert.equal(version['runtime_name'], 'containerd');
    const config = hostNetworkPodConfig('metrics');
    ({ pod_sandbox_id: sandboxId } = (await client.call('RunPodSandbox', { config, runtime_handler: '' })) as { pod_sandbox_id: string });

    const pulled = (await client.call('PullImage', { image: { image: runtime.pullOnlyImage }, sandbox_config: config })) as { image_ref: string };
    assert.match(pulled.image_ref, /^sha256:[0-9a-f]{64}$/);
    // A pull that fails, for the image pull failures panel.
    await assert.rejects(client.call('PullImage', { image: { image: runtime.missingImage }, sandbox_config: config }));
    // For the Policy row: a pull the policy denies, and one it cannot read (denied too, and counted as rule "decode").
    await assert.rejects(
      client.call('PullImage', { image: { image: 'docker.io/library/nginx:1.27' }, sandbox_config: config }),
      (error: unknown) => statusOf(error) === GRPC_PERMISSION_DENIED,
    );
    const session = openH2(criscope.socketPath);
    try {
      // As gRPC clients (kubelet's grpc-go, grpc-js) do, the call waits for the server's SETTINGS.
      await new Promise((resolve) => session.once('remoteSettings', resolve));
      const exchange = await rawCall(session, criMethod('PullImage').path, grpcFrame(UNDECODABLE_PULL));
      assert.equal(exchange.trailers?.['grpc-status'] ?? exchange.headers['grpc-status'], String(GRPC_PERMISSION_DENIED), 'an undecodable PullImage is denied');
    } finally {
      session.close();
    }

    const containerId = await startSleeper(client, sandboxId, config, runtime.pullOnlyImage);
    // The pod counts as started once no further container came for settleSeconds; stopping it earlier would count it as stopped.
    await waitFor(
      async () => /^criscope_pod_starts_total\{[^}]*result="started"[^}]*\} [1-9]/m.test(await (await fetch(`${criscope.httpUrl}/metrics`)).text()),
      `criscope_pod_starts_total{result="started"} counting the pod ${POD_START_SETTLE_SECONDS} s after its container started`,
      15_000,
    );

    const status = (await client.call('ContainerStatus', { container_id: containerId })) as { status: Message };
    assert.equal(status.status['state'], 'CONTAINER_RUNNING');
    // Two seconds long, so that a scrape finds it in flight (criscope_cri_calls_in_flight has series only then).
    const exec = (await client.call('ExecSync', { container_id: containerId, cmd: ['sleep', '2'], timeout: 10 })) as { exit_code: number };
    assert.equal(exec.exit_code, 0);
    await client.call('ListContainers', { filter: { pod_sandbox_id: sandboxId } });
    await assert.rejects(client.call('ContainerStatus', { container_id: '0'.repeat(64) }), (error: unknown) => statusOf(error) === GRPC_NOT_FOUND);

    await client.call('StopContainer', { container_id: containerId, timeout: 1 });
    await waitFor(
      async () => ((await client.call('ContainerStatus', { container_id: containerId })) as { status: Message }).status['state'] === 'CONTAINER_EXITED',
      'ContainerStatus reporting the stopped container as exited',
    );
    await client.call('RemoveContainer', { container_id: containerId });
    await client.call('StopPodSandbox', { pod_sandbox_id: sandboxId });
    await client.call('RemovePodSandbox', { pod_sandbox_id: sandboxId });
    lifecycleFinishedAt = Date.now();
  });

  it('answers every query of the dashboard with at least one series', async () => {
    assert.ok(lifecycleStartedAt !== undefined && lifecycleFinishedAt !== undefined, 'the pod lifecycle ran (the test before this one)');
    const [startedAt, finishedAt] = [lifecycleStartedAt, lifecycleFinishedAt];
    const { criscope, prometheus } = started();

    // Two scrapes that started after the lifecycle, so every rate() has the final counts.
    const scrapesSeen = new Set<string>();
    let lastTarget: ScrapeTarget | undefined;
    await waitFor(
      async () => {
        const targets = await prometheus.request<{ activeTargets: readonly ScrapeTarget[] }>('/api/v1/targets');
        lastTarget = targets.data?.activeTargets.find((target) => target.labels['job'] === JOB);
        if (lastTarget?.health === 'up' && Date.parse(lastTarget.lastScrape) > finishedAt) scrapesSeen.add(lastTarget.lastScrape);
        return scrapesSeen.size >= 2;
      },
      'two scrapes of criscope after the lifecycle',
      20_000,
    ).catch((error: Error) => {
      throw new Error(`${error.message}; the scrape target: ${JSON.stringify(lastTarget)}`);
    });

    // The Node variable, as Grafana fills it: label_values(criscope_build_info, instance).
    const values: Record<string, string> = { ...GRAFANA_BUILT_INS };
    for (const variable of dashboard.templating.list) {
      if (variable.type !== 'query') continue;
      const query = substituteVariables(variableQuery(variable) ?? '', values);
      const labelValues = /^label_values\((.+),\s*(\w+)\)$/.exec(query);
      assert.ok(labelValues !== null, `templating variable ${variable.name} uses a query this test knows (label_values(metric, label)): ${query}`);
      const answer = await prometheus.request<readonly string[]>(`/api/v1/label/${labelValues[2]}/values`, { 'match[]': labelValues[1] });
      assert.equal(answer.status, 'success', `variable ${variable.name}: ${query}: ${answer.error}`);
      assert.deepEqual(answer.data, [new URL(criscope.httpUrl).host], `variable ${variable.name} (${query}) lists criscope's scrape address`);
      values[variable.name] = promqlRegexLiteral(answer.data?.[0] ?? '');
    }

    // The Policy row must show what the lifecycle provoked, not only zeros: each policy finding there is the
    // first of its series, which a plain increase() would not see. Rates are left out: the lifecycle's judged
    // calls are one-offs too, and a rate() needs two scrapes that see a counter grow.
    const policyPanels = rowPanelTitles('Policy');
    assert.ok(policyPanels.size > 0, 'the dashboard has a Policy row with panels');

    const problems: string[] = [];
    const queries = panelQueries();
    assert.ok(queries.length > 0, 'the dashboard has queries');
    // As Grafana runs them, over a time range that holds the lifecycle: time series panels
    // ask for a range (a gauge such as calls in flight has series only while calls are), tables and bar gauges for an instant.
    // The range ends now, on a step, so its last point sees the latest scrapes.
    const endSeconds = Date.now() / 1000;
    const startSeconds = endSeconds - Math.ceil((endSeconds - startedAt / 1000) / SCRAPE_SECONDS) * SCRAPE_SECONDS;
    const range = { start: String(startSeconds), end: String(endSeconds), step: String(SCRAPE_SECONDS) };
    for (const { panel, refId, expr, instant } of queries) {
      const promql = substituteVariables(expr, values);
      const answer = instant
        ? await prometheus.request<QueryData>('/api/v1/query', { query: promql, time: range.end })
        : await prometheus.request<QueryData>('/api/v1/query_range', { query: promql, ...range });
      if (answer.status !== 'success' || answer.data === undefined) problems.push(`panel "${panel}" query ${refId} failed (${answer.errorType}: ${answer.error}): ${promql}`);
      else if (seriesCount(answer.data) === 0) problems.push(`panel "${panel}" query ${refId} returned no series: ${promql}`);
      else if (policyPanels.has(panel) && !expr.includes('rate(') && !(highestValue(answer.data) > 0)) problems.push(`panel "${panel}" query ${refId} returned only zeros: ${promql}`);
    }
    assert.deepEqual(problems, [], `every dashboard query answers with series (${queries.length} queries)`);
  });

  it('loads the alert rule groups healthy, evaluates each rule expression, and raises only the alerts the lifecycle provoked', async () => {
    const { prometheus } = started();
    const ruleFile = parseYaml(readFileSync(ALERT_RULES_FILE, 'utf8')) as RuleFile;
    const rules = ruleFile.groups.flatMap((group) => group.rules);
    assert.ok(rules.length > 0, 'the rules file has rules');

    for (const rule of rules) {
      const answer = await prometheus.request<QueryData>('/api/v1/query', { query: rule.expr });
      assert.equal(answer.status, 'success', `rule ${rule.alert ?? rule.record}: ${answer.errorType}: ${answer.error}\n${rule.expr}`);
    }

    // Prometheus evaluates each rule every SCRAPE_SECONDS; health is "unknown" until it has.
    let loaded: readonly LoadedRuleGroup[] = [];
    const raisedAlerts = (): string[] =>
      loaded
        .flatMap((group) => group.rules.filter((rule) => rule.state !== undefined && rule.state !== 'inactive').map((rule) => `${rule.name}: ${rule.state}`))
        .sort();
    await waitFor(
      async () => {
        loaded = (await prometheus.request<{ groups: readonly LoadedRuleGroup[] }>('/api/v1/rules')).data?.groups ?? [];
        const loadedRules = loaded.flatMap((group) => group.rules);
        return loadedRules.length === rules.length && loadedRules.every((rule) => rule.health !== 'unknown') && raisedAlerts().length >= EXPECTED_ALERTS.length;
      },
      'Prometheus having evaluated every alert rule, and raised the alerts the lifecycle provoked',
      15_000,
    ).catch(() => undefined); // the assertions below say what is missing
    // Prometheus lists the groups in its own order.
    assert.deepEqual(
      loaded.map((group) => group.name).sort(),
      ruleFile.groups.map((group) => group.name).sort(),
      'Prometheus loaded the rule groups of config/criscope-alerts.yaml',
    );
    const unhealthy = loaded.flatMap((group) => group.rules.filter((rule) => rule.health !== 'ok').map((rule) => `${rule.name}: ${rule.health} ${rule.lastError ?? ''}`));
    assert.deepEqual(unhealthy, [], 'every rule evaluates without error');
    // The undecodable pull fires the two decode alerts at once (they have no `for`), the first finding of its
    // series included. The rest stays quiet: the runtime is up, no span was dropped, the policy file loaded, and the
    // lifecycle's few failures (NOT_FOUND, PERMISSION_DENIED) stay under the error ratio's floor of 5.
    assert.deepEqual(raisedAlerts(), EXPECTED_ALERTS, 'the alerts pending or firing');
  });
});
