import type { MethodTable } from '../../cri/method-table.js';

/** The label value that stands for every value beyond the known or first-seen ones. */
export const OTHER = 'other';

/** runtime.v1 and the older v1alpha2 of both CRI services: the only service label values besides "other". */
const CRI_SERVICE = /^runtime\.v1(alpha2)?\.(RuntimeService|ImageService)$/;

/** The labels of one method path, worked out once per path. */
export interface MethodLabels {
  readonly service: string;
  readonly method: string;
  readonly operation_type: string;
}

/**
 * Label values for a call's path. Any client can send any path, so only the
 * CRI services and the method names our proto knows become label values; the
 * rest is "other", which keeps every metric's series count bounded.
 */
export class MethodLabelValues {
  private readonly knownMethods: ReadonlyMap<string, string>;
  private readonly byPath = new Map<string, MethodLabels>();
  private readonly other: MethodLabels = { service: OTHER, method: OTHER, operation_type: OTHER };

  constructor(table: MethodTable) {
    const operations = new Map<string, string>();
    for (const method of table.methods) operations.set(method.name, method.operationType);
    this.knownMethods = operations;
  }

  of(service: string, methodName: string, path: string): MethodLabels {
    const cached = this.byPath.get(path);
    if (cached !== undefined) return cached;
    const operationType = this.knownMethods.get(methodName);
    if (!CRI_SERVICE.test(service) || operationType === undefined) return this.other;
    const labels = { service, method: methodName, operation_type: operationType };
    this.byPath.set(path, labels);
    return labels;
  }
}

/**
 * The first `limit` distinct values seen, then "other": for labels whose
 * values come from the workload (registries), where a node normally sees a
 * handful but a hostile pod spec could name thousands.
 */
export class FirstSeenValues {
  private readonly seen = new Set<string>();

  constructor(private readonly limit: number) {}

  of(value: string): string {
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.limit) return OTHER;
    this.seen.add(value);
    return value;
  }
}

/**
 * The registry host of an image reference, normalised as container runtimes
 * do: a first path component with a dot or a port, or "localhost", is a
 * registry; anything else is on Docker Hub.
 */
export function registryOf(image: string): string {
  const slash = image.indexOf('/');
  if (slash < 0) return 'docker.io';
  const first = image.slice(0, slash);
  if (!first.includes('.') && !first.includes(':') && first !== 'localhost') return 'docker.io';
  const registry = first.toLowerCase();
  // Docker Hub's legacy names are the same registry.
  return registry === 'index.docker.io' || registry === 'registry-1.docker.io' ? 'docker.io' : registry;
}
