import { Client, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import { buildMethodTable, type CriMethod } from '../src/cri/method-table.js';
import { loadCriProto } from '../src/cri/proto-root.js';

export type Message = Record<string, unknown>;

const METHODS = new Map<string, CriMethod>();
for (const method of buildMethodTable(loadCriProto()).methods) METHODS.set(method.name, method);

const TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: String, defaults: true, bytes: String };

/**
 * A CRI client as kubelet is one: grpc-js over a unix socket, messages from the
 * project's proto/ (snake_case field names, enums as their names, bytes as base64).
 */
export class CriClient {
  private readonly client: Client;

  constructor(socketPath: string) {
    this.client = new Client(`unix://${socketPath}`, credentials.createInsecure());
  }

  /** Resolves once the socket accepts a connection: criscope may have only just started. */
  ready(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) =>
      this.client.waitForReady(Date.now() + timeoutMs, (error) => (error === undefined ? resolve() : reject(error))),
    );
  }

  /** Calls a unary method by name; T names the response fields the caller reads. */
  call<T extends object = Message>(name: string, request: Message = {}, timeoutMs = 60_000): Promise<T> {
    const method = METHODS.get(name);
    if (method === undefined) return Promise.reject(new Error(`no CRI method ${name}`));
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        method.path,
        (message: Message) => Buffer.from(method.requestType.encode(method.requestType.fromObject(message)).finish()),
        (bytes: Buffer) => method.responseType.toObject(method.responseType.decode(bytes), TO_OBJECT) as T,
        request,
        new Metadata(),
        { deadline: Date.now() + timeoutMs },
        (error: ServiceError | null, response?: T) =>
          error !== null ? reject(error) : response === undefined ? reject(new Error(`${name}: no response`)) : resolve(response),
      );
    });
  }

  close(): void {
    this.client.close();
  }
}
