import protobuf from 'protobufjs';
import { METHOD_SPECS, type MethodSpec, type PodStartStep, type PolicyPaths } from './method-specs.js';
import { IdentityProjection } from './projection.js';
import { CRI_PACKAGE } from './proto-root.js';

/** Everything criscope knows about one runtime.v1 method, built once at start. */
export interface CriMethod {
  /** The HTTP/2 :path, e.g. "/runtime.v1.RuntimeService/Version". */
  readonly path: string;
  /** "runtime.v1.RuntimeService" */
  readonly service: string;
  /** "Version" */
  readonly name: string;
  readonly serverStreaming: boolean;
  readonly requestType: protobuf.Type;
  readonly responseType: protobuf.Type;
  /** Present when the request carries identity fields. */
  readonly requestIdentity: IdentityProjection | undefined;
  /** Present when the (first) response carries identity fields. */
  readonly responseIdentity: IdentityProjection | undefined;
  /** The field number of the response's repeated field whose length the record counts. */
  readonly responseItemsField: number | undefined;
  /** Whether the relay should keep the request message for the record to decode. */
  readonly keepsRequest: boolean;
  /** Whether the relay should keep the (only) response message for the record to decode; a list's only when it comes compressed, else its items are counted as they pass. */
  readonly keepsResponse: boolean;
  /** kubelet's operation_type label for this call ("run_podsandbox"). */
  readonly operationType: string;
  readonly podStartStep: PodStartStep | undefined;
  readonly reportsContainerExit: boolean;
  /** Where the request keeps what policy judges; undefined for calls policy never holds. */
  readonly policy: PolicyPaths | undefined;
}

/** kubelet's operation name for a method: snake_case, with "pod_sandbox" written as one word. */
export function kubeletOperationType(methodName: string): string {
  return methodName
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .replace(/pod_sandbox/g, 'podsandbox');
}

/** The service part of any gRPC path ("/pkg.Service/Method" → "pkg.Service"). */
export function serviceOfPath(path: string): string {
  const slash = path.indexOf('/', 1);
  return slash > 1 ? path.slice(1, slash) : '';
}

const V1ALPHA2_PREFIX = '/runtime.v1alpha2.';

export class MethodTable {
  private readonly byPath: ReadonlyMap<string, CriMethod>;

  constructor(methods: readonly CriMethod[]) {
    this.byPath = new Map(methods.map((method) => [method.path, method]));
  }

  /** The method at `path`, or undefined for one our proto does not describe (it is relayed all the same). */
  lookup(path: string): CriMethod | undefined {
    return this.byPath.get(path);
  }

  /**
   * The runtime.v1 method policy judges a call at `path` as, or undefined:
   * runtime.v1alpha2 (which runtimes still serve) carries the same requests on
   * the wire, so a client cannot step around policy by using it.
   */
  judgedAs(path: string): CriMethod | undefined {
    // grpc-go before 1.79.3 routes a :path without its leading "/" too: it is the same method.
    const routed = path.startsWith('/') ? path : `/${path}`;
    const method = this.byPath.get(routed.startsWith(V1ALPHA2_PREFIX) ? `/runtime.v1.${routed.slice(V1ALPHA2_PREFIX.length)}` : routed);
    return method?.policy === undefined ? undefined : method;
  }

  get methods(): IterableIterator<CriMethod> {
    return this.byPath.values();
  }
}

/** Builds the table from the loaded proto and the identity table (METHOD_SPECS); throws if the two disagree. */
export function buildMethodTable(root: protobuf.Root, specs: Readonly<Record<string, MethodSpec>> = METHOD_SPECS): MethodTable {
  const pkg = root.lookup(CRI_PACKAGE);
  if (!(pkg instanceof protobuf.Namespace)) throw new Error(`the CRI proto has no package ${CRI_PACKAGE}`);
  const methods: CriMethod[] = [];
  const unused = new Set(Object.keys(specs));
  for (const service of pkg.nestedArray) {
    if (!(service instanceof protobuf.Service)) continue;
    const serviceName = service.fullName.slice(1);
    for (const rpc of service.methodsArray) {
      rpc.resolve();
      const requestType = rpc.resolvedRequestType;
      const responseType = rpc.resolvedResponseType;
      if (requestType === null || responseType === null) throw new Error(`${serviceName}/${rpc.name}: unresolved message types`);
      const spec = specs[rpc.name] ?? {};
      unused.delete(rpc.name);
      const itemsFieldName = spec.responseItems;
      const itemsField = itemsFieldName === undefined ? undefined : responseType.fields[itemsFieldName];
      if (itemsFieldName !== undefined && (itemsField === undefined || !itemsField.repeated)) {
        throw new Error(`${serviceName}/${rpc.name}: response has no repeated field "${itemsFieldName}"`);
      }
      // A list response's items are counted as it passes, and it is not kept: nothing else of it can be read.
      if (itemsFieldName !== undefined && spec.response !== undefined) throw new Error(`${serviceName}/${rpc.name}: a response whose items are counted cannot also name identity fields`);
      const requestIdentity = spec.request && IdentityProjection.build(requestType, spec.request, `${rpc.name}Request`);
      const responseIdentity = spec.response && IdentityProjection.build(responseType, spec.response, `${rpc.name}Response`);
      const serverStreaming = rpc.responseStream === true;
      methods.push({
        path: `/${serviceName}/${rpc.name}`,
        service: serviceName,
        name: rpc.name,
        serverStreaming,
        requestType,
        responseType,
        requestIdentity,
        responseIdentity,
        responseItemsField: itemsField?.id,
        keepsRequest: requestIdentity !== undefined,
        keepsResponse: !serverStreaming && (responseIdentity !== undefined || itemsField !== undefined),
        operationType: spec.operationType ?? kubeletOperationType(rpc.name),
        podStartStep: spec.podStartStep,
        reportsContainerExit: spec.reportsContainerExit === true,
        policy: spec.policy,
      });
    }
  }
  if (unused.size > 0) throw new Error(`method table names methods the proto lacks: ${[...unused].join(', ')}`);
  return new MethodTable(methods);
}
