// A stub CRI runtime: it stands in where the real runtime can't isolate criscope's own
// cost (its work per call is near zero and constant) or produce very large messages
// (a ~4 MiB ListContainers answer). It serves only what benchmarks and tests need;
// every other RuntimeService/ImageService method answers UNIMPLEMENTED.

import { createHash } from "node:crypto";
import { rm } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

/** Where the project's CRI proto lives, from this file's place in dist/test/support/. */
export const DEFAULT_CRI_PROTO_PATH = fileURLToPath(new URL("../../../proto/runtime/v1/api.proto", import.meta.url));

/** Big enough for any CRI answer we bench or test; grpc-js defaults to 4 MiB receive. */
export const MAX_GRPC_MESSAGE_BYTES = 64 * 1024 * 1024;

export const GRPC_MESSAGE_SIZE_OPTIONS = {
  "grpc.max_receive_message_length": MAX_GRPC_MESSAGE_BYTES,
  "grpc.max_send_message_length": MAX_GRPC_MESSAGE_BYTES,
} as const;

/** Same loader options for server and clients so both see messages the same way. */
const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
};

export interface CriServiceDefinitions {
  readonly runtimeService: protoLoader.ServiceDefinition;
  readonly imageService: protoLoader.ServiceDefinition;
}

export function loadCriServices(protoPath: string = DEFAULT_CRI_PROTO_PATH): CriServiceDefinitions {
  const definitions = protoLoader.loadSync(protoPath, PROTO_LOADER_OPTIONS);
  return {
    runtimeService: serviceNamed(definitions, "runtime.v1.RuntimeService"),
    imageService: serviceNamed(definitions, "runtime.v1.ImageService"),
  };
}

function serviceNamed(definitions: protoLoader.PackageDefinition, name: string): protoLoader.ServiceDefinition {
  const found = definitions[name];
  if (found === undefined || !isServiceDefinition(found)) {
    throw new Error(`CRI proto has no service ${name}`);
  }
  return found;
}

function isServiceDefinition(definition: protoLoader.AnyDefinition): definition is protoLoader.ServiceDefinition {
  return !("format" in definition);
}

export interface StubCriServerOptions {
  /** Path of runtime.v1 api.proto; defaults to the project's proto/. */
  readonly protoPath?: string;
  /** Approximate encoded size of the ListContainers answer (default 4 MiB). */
  readonly listContainersBytes?: number;
  /** Keep a journal of every call that reached the stub (off by default: benches make 100k calls). */
  readonly recordCalls?: boolean;
}

export interface StubCall {
  readonly method: string;
  readonly request: object;
  readonly metadata: Record<string, grpc.MetadataValue[]>;
}

export interface StubCriServer {
  readonly socketPath: string;
  /** The exact bytes of every ListContainers answer (serialized once), for byte-exact checks. */
  readonly listContainersResponseBytes: Buffer;
  readonly listContainersCount: number;
  /** Calls received, in order; empty unless recordCalls was set. */
  readonly journal: readonly StubCall[];
  /** GetContainerEvents streams currently open. */
  openEventStreamCount(): number;
  /** Resolves once at least `count` GetContainerEvents streams are open. */
  waitForEventStreams(count: number, timeoutMs?: number): Promise<void>;
  /** Writes `count` events to every open GetContainerEvents stream; returns how many streams got them. */
  emitContainerEvents(count: number): number;
  /** Ends every open GetContainerEvents stream with status OK. */
  endEventStreams(): void;
  close(): Promise<void>;
  /**
   * Writes events to the one open GetContainerEvents stream as fast as flow control lets it,
   * waiting for 'drain' when the stream is full; stops after `maxEvents`, or when a wait for
   * 'drain' lasts longer than `stallMs` (the reader has stopped and the pressure reached us).
   */
  emitUntilStalled(maxEvents: number, stallMs: number): Promise<{ written: number; stalled: boolean }>;
}

const DEFAULT_LIST_CONTAINERS_BYTES = 4 * 1024 * 1024;

export async function startStubCriServer(socketPath: string, options: StubCriServerOptions = {}): Promise<StubCriServer> {
  const services = loadCriServices(options.protoPath);
  const listContainers = buildListContainersAnswer(services.runtimeService, options.listContainersBytes ?? DEFAULT_LIST_CONTAINERS_BYTES);
  const journal: StubCall[] = [];
  const eventStreams = new Set<grpc.ServerWritableStream<object, object>>();
  let eventSequence = 0;

  const record = (method: string, call: { request: object; metadata: grpc.Metadata }): void => {
    if (options.recordCalls === true) {
      journal.push({ method, request: call.request, metadata: call.metadata.toJSON() });
    }
  };

  const runtimeImplementation: grpc.UntypedServiceImplementation = {
    Version(call: grpc.ServerUnaryCall<object, object>, callback: grpc.sendUnaryData<object>) {
      record("Version", call);
      callback(null, VERSION_ANSWER);
    },
    ContainerStatus(call: grpc.ServerUnaryCall<ContainerStatusRequest, object>, callback: grpc.sendUnaryData<object>) {
      record("ContainerStatus", call);
      callback(null, containerStatusAnswer(call.request.container_id ?? ""));
    },
    ListContainers(call: grpc.ServerUnaryCall<object, object>, callback: grpc.sendUnaryData<object>) {
      record("ListContainers", call);
      callback(null, listContainers.marker);
    },
    GetContainerEvents(call: grpc.ServerWritableStream<object, object>) {
      record("GetContainerEvents", call);
      eventStreams.add(call);
      const forget = (): void => {
        eventStreams.delete(call);
      };
      call.on("cancelled", forget);
      call.on("close", forget);
      call.on("error", forget);
    },
  };

  const server = new grpc.Server(GRPC_MESSAGE_SIZE_OPTIONS);
  server.addService(withPreserializedListContainers(services.runtimeService, listContainers), runtimeImplementation);
  server.addService(services.imageService, {});

  await rm(socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.bindAsync(`unix:${socketPath}`, grpc.ServerCredentials.createInsecure(), (error) => (error ? reject(error) : resolve()));
  });

  return {
    socketPath,
    listContainersResponseBytes: listContainers.bytes,
    listContainersCount: listContainers.count,
    journal,
    openEventStreamCount: () => eventStreams.size,
    async waitForEventStreams(count: number, timeoutMs = 5000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (eventStreams.size < count) {
        if (Date.now() > deadline) {
          throw new Error(`stub CRI server: ${eventStreams.size} of ${count} event streams open after ${timeoutMs} ms`);
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    },
    emitContainerEvents(count: number): number {
      for (const stream of eventStreams) {
        for (let i = 0; i < count; i++) {
          stream.write(containerEvent(eventSequence++));
        }
      }
      return eventStreams.size;
    },
    endEventStreams(): void {
      for (const stream of eventStreams) stream.end();
      eventStreams.clear();
    },
    async emitUntilStalled(maxEvents: number, stallMs: number): Promise<{ written: number; stalled: boolean }> {
      const [stream] = eventStreams;
      if (stream === undefined) throw new Error("stub CRI server: no GetContainerEvents stream is open");
      for (let written = 0; written < maxEvents; ) {
        written++;
        if (stream.write(containerEvent(eventSequence++))) continue;
        const drained = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), stallMs);
          stream.once("drain", () => {
            clearTimeout(timer);
            resolve(true);
          });
        });
        if (!drained) return { written, stalled: true };
      }
      return { written: maxEvents, stalled: false };
    },
    async close(): Promise<void> {
      for (const stream of eventStreams) stream.end();
      eventStreams.clear();
      await new Promise<void>((resolve) => {
        // A relay may hold its connection open; don't let that stall a test's teardown.
        const force = setTimeout(() => server.forceShutdown(), 1000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      await rm(socketPath, { force: true });
    },
  };
}

interface ContainerStatusRequest {
  readonly container_id?: string;
}

const VERSION_ANSWER = {
  version: "0.1.0",
  runtime_name: "criscope-stub",
  runtime_version: "1.0.0",
  runtime_api_version: "v1",
};

const STUB_CREATED_AT_NS = "1700000000000000000";

function containerStatusAnswer(containerId: string): object {
  return {
    status: {
      id: containerId,
      metadata: { name: "app", attempt: 0 },
      state: "CONTAINER_RUNNING",
      created_at: STUB_CREATED_AT_NS,
      started_at: STUB_CREATED_AT_NS,
      image: { image: "registry.k8s.io/e2e-test-images/busybox:1.36.1-1" },
      image_ref: `sha256:${hexId("image", 0)}`,
      labels: { "io.kubernetes.container.name": "app" },
      log_path: "app/0.log",
    },
  };
}

function containerEvent(sequence: number): object {
  const id = hexId("event-container", sequence);
  return {
    container_id: id,
    container_event_type: "CONTAINER_STARTED_EVENT",
    created_at: String(BigInt(STUB_CREATED_AT_NS) + BigInt(sequence)),
    pod_sandbox_status: {
      id: hexId("event-pod", sequence),
      metadata: { name: `pod-${sequence}`, uid: uid(sequence), namespace: "default", attempt: 0 },
      state: "SANDBOX_READY",
      created_at: STUB_CREATED_AT_NS,
    },
    containers_statuses: [(containerStatusAnswer(id) as { status: object }).status],
  };
}

interface ListContainersAnswer {
  /** The object handlers answer with; the serializer swaps it for `bytes`. */
  readonly marker: object;
  readonly bytes: Buffer;
  readonly count: number;
}

/** Builds a realistic ListContainersResponse of about `targetBytes`, serialized once up front. */
function buildListContainersAnswer(runtimeService: protoLoader.ServiceDefinition, targetBytes: number): ListContainersAnswer {
  const serialize = methodNamed(runtimeService, "ListContainers").responseSerialize;
  const sample = Array.from({ length: 64 }, (_, index) => realisticContainer(index));
  const bytesPerContainer = serialize({ containers: sample }).length / sample.length;
  const count = Math.max(1, Math.round(targetBytes / bytesPerContainer));
  const containers = Array.from({ length: count }, (_, index) => realisticContainer(index));
  return { marker: {}, bytes: serialize({ containers }), count };
}

/** Serving the same 4 MiB answer would otherwise cost the stub a full encode per call. */
function withPreserializedListContainers(
  runtimeService: protoLoader.ServiceDefinition,
  answer: ListContainersAnswer,
): protoLoader.ServiceDefinition {
  const listContainers = methodNamed(runtimeService, "ListContainers");
  const encode = listContainers.responseSerialize;
  return {
    ...runtimeService,
    ListContainers: {
      ...listContainers,
      responseSerialize: (value: object) => (value === answer.marker ? answer.bytes : encode(value)),
    },
  };
}

function methodNamed(service: protoLoader.ServiceDefinition, name: string): protoLoader.MethodDefinition<object, object> {
  const method = service[name];
  if (method === undefined) throw new Error(`CRI proto has no RuntimeService.${name}`);
  return method;
}

const APP_NAMES = ["nginx", "redis", "postgres", "api-gateway", "metrics-exporter", "sidecar-proxy", "log-shipper", "worker"];
const NAMESPACES = ["default", "kube-system", "monitoring", "payments", "search"];

/** Shaped like what kubelet-created containers carry in containerd. */
function realisticContainer(index: number): object {
  const app = APP_NAMES[index % APP_NAMES.length] ?? "app";
  const namespace = NAMESPACES[index % NAMESPACES.length] ?? "default";
  const podName = `${app}-${hexId("rs", index).slice(0, 10)}-${hexId("pod-suffix", index).slice(0, 5)}`;
  const podUid = uid(index);
  const image = `registry.example.com/${namespace}/${app}:v1.${index % 17}.${index % 5}`;
  const imageDigest = hexId("image", index % 40);
  return {
    id: hexId("container", index),
    pod_sandbox_id: hexId("sandbox", index),
    metadata: { name: app, attempt: index % 3 },
    image: { image, user_specified_image: image },
    image_ref: `sha256:${imageDigest}`,
    image_id: `sha256:${imageDigest}`,
    state: index % 11 === 0 ? "CONTAINER_EXITED" : "CONTAINER_RUNNING",
    created_at: String(BigInt(STUB_CREATED_AT_NS) + BigInt(index) * 1_000_000_007n),
    labels: {
      "io.kubernetes.container.name": app,
      "io.kubernetes.pod.name": podName,
      "io.kubernetes.pod.namespace": namespace,
      "io.kubernetes.pod.uid": podUid,
    },
    annotations: {
      "io.kubernetes.container.hash": hexId("hash", index).slice(0, 8),
      "io.kubernetes.container.restartCount": String(index % 3),
      "io.kubernetes.container.terminationMessagePath": "/dev/termination-log",
      "io.kubernetes.container.terminationMessagePolicy": "File",
      "io.kubernetes.pod.terminationGracePeriod": "30",
      "io.kubernetes.container.ports": `[{"name":"http","containerPort":${8000 + (index % 100)},"protocol":"TCP"}]`,
      "kubectl.kubernetes.io/last-applied-configuration": `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"${app}","namespace":"${namespace}"}}`,
    },
  };
}

/** Deterministic 64-hex ids, like containerd's, so runs and tests are reproducible. */
function hexId(kind: string, index: number): string {
  return createHash("sha256").update(`${kind}/${index}`).digest("hex");
}

function uid(index: number): string {
  const hex = hexId("uid", index);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
