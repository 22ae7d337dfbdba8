import { Client, credentials, Metadata, type ChannelOptions, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import { buildMethodTable, type CriMethod, type MethodTable } from '../../src/cri/method-table.js';
import { loadCriProto } from '../../src/cri/proto-root.js';

export const criTable: MethodTable = buildMethodTable(loadCriProto());

export type Message = Record<string, unknown>;

const TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: String, defaults: true, bytes: String };

/** A response as the test client received it: decoded for assertions, and the exact bytes. */
export interface Received {
  readonly path: string;
  readonly bytes: Buffer;
  readonly message: Message;
}

export function criMethod(name: string): CriMethod {
  for (const method of criTable.methods) if (method.name === name) return method;
  throw new Error(`no CRI method ${name}`);
}

/**
 * A CRI client as kubelet would be one: grpc-js over a unix socket, messages from
 * proto/. Every response's bytes are kept, so tests can check that they decode and
 * re-encode exactly.
 */
export class CriTestClient {
  readonly received: Received[] = [];
  private readonly client: Client;

  constructor(socketPath: string, options: ChannelOptions = {}) {
    this.client = new Client(`unix://${socketPath}`, credentials.createInsecure(), {
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      'grpc.max_send_message_length': 64 * 1024 * 1024,
      ...options,
    });
  }

  /** Calls a unary method by name ("Version", "RunPodSandbox", …) with a plain-object request. */
  call(name: string, request: Message = {}, options: { metadata?: Metadata; timeoutMs?: number } = {}): Promise<Message> {
    const method = criMethod(name);
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        method.path,
        (message: Message) => Buffer.from(method.requestType.encode(method.requestType.fromObject(message)).finish()),
        (bytes: Buffer) => this.keep(method, bytes),
        request,
        options.metadata ?? new Metadata(),
        { deadline: Date.now() + (options.timeoutMs ?? 30_000) },
        (error: ServiceError | null, response?: Message) => (error !== null ? reject(error) : resolve(response ?? {})),
      );
    });
  }

  /** Opens a server-streaming call by name; the caller reads 'data' and may cancel(). */
  stream(name: string, request: Message = {}, metadata: Metadata = new Metadata()): ClientReadableStream<Message> {
    const method = criMethod(name);
    return this.client.makeServerStreamRequest(
      method.path,
      (message: Message) => Buffer.from(method.requestType.encode(method.requestType.fromObject(message)).finish()),
      (bytes: Buffer) => this.keep(method, bytes),
      request,
      metadata,
      {},
    );
  }

  close(): void {
    this.client.close();
  }

  private keep(method: CriMethod, bytes: Buffer): Message {
    const message = method.responseType.toObject(method.responseType.decode(bytes), TO_OBJECT);
    this.received.push({ path: method.path, bytes: Buffer.from(bytes), message });
    return message;
  }
}

/** The gRPC status code of a failed call (grpc-js puts it on the error). */
export function statusOf(error: unknown): number | undefined {
  return (error as Partial<ServiceError>).code;
}
