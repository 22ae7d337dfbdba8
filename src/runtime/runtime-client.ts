import { Client, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import type { MethodTable } from '../cri/method-table.js';

export interface RuntimeVersion {
  readonly runtimeName: string;
  readonly runtimeVersion: string;
  readonly runtimeApiVersion: string;
}

/** criscope's own calls to the runtime (readiness, look-ups), straight to its socket, never through the relay. */
export class RuntimeClient {
  private readonly client: Client;

  constructor(
    socketPath: string,
    private readonly table: MethodTable,
  ) {
    // Short reconnect backoff: after a runtime restart, readiness should follow within a second.
    this.client = new Client(`unix://${socketPath}`, credentials.createInsecure(), {
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1000,
    });
  }

  async version(timeoutMs: number): Promise<RuntimeVersion> {
    const response = await this.call('RuntimeService', 'Version', {}, timeoutMs);
    const text = (key: string): string => {
      const value = response[key];
      return typeof value === 'string' ? value : '';
    };
    return { runtimeName: text('runtime_name'), runtimeVersion: text('runtime_version'), runtimeApiVersion: text('runtime_api_version') };
  }

  close(): void {
    this.client.close();
  }

  /**
   * One runtime.v1 call by name, e.g. ("ImageService", "ImageStatus"); the
   * response as a plain object with the proto's field names, 64-bit integers
   * as strings and enums by name.
   */
  call(service: 'RuntimeService' | 'ImageService', name: string, request: Record<string, unknown>, timeoutMs: number): Promise<Record<string, unknown>> {
    const path = `/runtime.v1.${service}/${name}`;
    const method = this.table.lookup(path);
    if (method === undefined) return Promise.reject(new Error(`the CRI proto has no method ${path}`));
    const encode = (message: Record<string, unknown>): Buffer => Buffer.from(method.requestType.encode(message).finish());
    const decode = (bytes: Buffer): Record<string, unknown> => method.responseType.toObject(method.responseType.decode(bytes), TO_OBJECT);
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(path, encode, decode, request, new Metadata(), { deadline: Date.now() + timeoutMs }, (error: ServiceError | null, response?: Record<string, unknown>) => {
        if (error !== null) reject(error);
        else resolve(response ?? {});
      });
    });
  }
}

const TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: String, defaults: true };
