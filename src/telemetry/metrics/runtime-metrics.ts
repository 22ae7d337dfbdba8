import { Counter, Gauge, type Registry } from 'prom-client';

/** Whether the runtime answers, asked at scrape time so the gauge is right even when kubelet is quiet. */
export type RuntimeProbe = () => Promise<unknown>;

/**
 * The runtime as criscope sees it: up (it answers Version now) and how often
 * it came back after being unreachable.
 */
export class RuntimeMetrics {
  private readonly reconnects: Counter<'endpoint'>;
  private readonly everReachable = new Set<string>();
  private readonly unreachable = new Set<string>();

  constructor(registry: Registry, endpoints: readonly string[], probedEndpoint: string, probe: RuntimeProbe) {
    this.reconnects = new Counter({
      name: 'criscope_runtime_reconnects_total',
      help: 'Times a runtime endpoint became reachable again after criscope found it unreachable.',
      labelNames: ['endpoint'],
      registers: [registry],
    });
    for (const endpoint of endpoints) this.reconnects.inc({ endpoint }, 0);
    new Gauge({
      name: 'criscope_runtime_up',
      help: 'Whether the runtime answered a Version call at this scrape (1) or not within a second (0).',
      labelNames: ['endpoint'],
      registers: [registry],
      async collect() {
        const up = await probe().then(
          () => 1,
          () => 0,
        );
        this.set({ endpoint: probedEndpoint }, up);
      },
    });
  }

  /** From the relay: a change of reachability seen on its connections. */
  readonly reachabilityChanged = (endpoint: string, reachable: boolean): void => {
    if (!reachable) {
      this.unreachable.add(endpoint);
      return;
    }
    if (this.unreachable.delete(endpoint) && this.everReachable.has(endpoint)) this.reconnects.inc({ endpoint });
    this.everReachable.add(endpoint);
  };
}
