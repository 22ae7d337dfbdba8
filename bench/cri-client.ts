// The one gRPC client every path is measured with: built from proto/, like kubelet's, on one channel.

import { randomBytes } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import type { MethodDefinition, ServiceDefinition } from "@grpc/proto-loader";
import { GRPC_MESSAGE_SIZE_OPTIONS, type CriServiceDefinitions } from "../test/support/stub-cri-server.js";

/** kubelet puts a deadline on every CRI call, so every call carries grpc-timeout. */
const CALL_TIMEOUT_MS = 60_000;

/** The first half of every trace id this run sends, so the OTLP sink can tell the client's traces apart. */
export const CLIENT_TRACE_ID_PREFIX = randomBytes(8).toString("hex");
let traceSequence = 0;

/**
 * A W3C trace context, fresh ids per call as a traced kubelet sends them (so HPACK can't index
 * the value away). Every path gets one, so direct, nghttpx and both criscopes do the same work
 * and criscope+telemetry re-parents every call.
 */
function nextTraceparent(): string {
  const sequence = (++traceSequence).toString(16).padStart(16, "0");
  return `00-${CLIENT_TRACE_ID_PREFIX}${sequence}-${sequence}-01`;
}

export type CriServiceName = "runtime" | "image";

export class CriClient {
  private readonly channel: grpc.Client;
  private callCount = 0;

  constructor(
    readonly socketPath: string,
    private readonly services: CriServiceDefinitions,
  ) {
    this.channel = new grpc.Client(`unix:${socketPath}`, grpc.credentials.createInsecure(), GRPC_MESSAGE_SIZE_OPTIONS);
  }

  waitForReady(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.channel.waitForReady(Date.now() + timeoutMs, (error) => (error ? reject(error) : resolve()));
    });
  }

  runtime<Response extends object>(method: string, request: object): Promise<Response> {
    return this.unary<Response>(methodOf(this.services.runtimeService, method), request);
  }

  image<Response extends object>(method: string, request: object): Promise<Response> {
    return this.unary<Response>(methodOf(this.services.imageService, method), request);
  }

  /** ListContainers answer left undecoded: decoding 4 MiB costs the same on every path and only adds noise. */
  listContainersBytes(): Promise<Buffer> {
    return this.undecoded("runtime", "ListContainers", {});
  }

  /** Any call with its answer left undecoded, for the same reason, and so one slow decode can't delay the next call's timing. */
  undecoded(service: CriServiceName, method: string, request: object): Promise<Buffer> {
    const definition = methodOf(service === "runtime" ? this.services.runtimeService : this.services.imageService, method);
    return this.invoke(definition.path, definition.requestSerialize, (bytes: Buffer) => bytes, request);
  }

  /** Calls started through this client, to check criscope+telemetry's spans against. */
  get callsMade(): number {
    return this.callCount;
  }

  close(): void {
    this.channel.close();
  }

  private unary<Response extends object>(method: MethodDefinition<object, object>, request: object): Promise<Response> {
    return this.invoke(method.path, method.requestSerialize, (bytes: Buffer) => method.responseDeserialize(bytes) as Response, request);
  }

  private invoke<Response>(
    path: string,
    serialize: (request: object) => Buffer,
    deserialize: (bytes: Buffer) => Response,
    request: object,
  ): Promise<Response> {
    this.callCount++;
    const metadata = new grpc.Metadata();
    metadata.set("traceparent", nextTraceparent());
    return new Promise((resolve, reject) => {
      this.channel.makeUnaryRequest(path, serialize, deserialize, request, metadata, { deadline: Date.now() + CALL_TIMEOUT_MS }, (error, response) => {
        if (error) reject(new Error(`${path} via ${this.socketPath}: ${error.message}`, { cause: error }));
        else if (response === undefined) reject(new Error(`${path} via ${this.socketPath}: empty answer`));
        else resolve(response);
      });
    });
  }
}

function methodOf(service: ServiceDefinition, name: string): MethodDefinition<object, object> {
  const method = service[name];
  if (method === undefined) throw new Error(`CRI proto has no method ${name}`);
  return method;
}
