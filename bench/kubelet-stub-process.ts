// A stub CRI runtime for the kubelet-shaped load: answers what a busy node's runtime answers
// kubelet (bench/kubelet-node-answers.ts), each answer serialized once up front so the stub's own
// work per call stays near zero and the same on every path.
// argv: <socket path> <proto path>; prints one KubeletStubReadyLine when serving.

import { rm } from "node:fs/promises";
import * as grpc from "@grpc/grpc-js";
import type { ServiceDefinition } from "@grpc/proto-loader";
import { GRPC_MESSAGE_SIZE_OPTIONS, loadCriServices } from "../test/support/stub-cri-server.js";
import { containerStatusAnswer, imageFsInfoAnswer, kubeletNode, listContainersAnswer, listContainerStatsAnswer, listImagesAnswer, listPodSandboxAnswer, podSandboxStatusAnswer, versionAnswer } from "./kubelet-node-answers.js";

export interface KubeletStubReadyLine {
  /** Encoded answer size per method (for PodSandboxStatus and ContainerStatus, the first pod's and container's). */
  readonly answerBytes: Readonly<Record<string, number>>;
}

const [socketPath, protoPath] = process.argv.slice(2);
if (socketPath === undefined || protoPath === undefined) throw new Error("usage: kubelet-stub-process.js <socket path> <proto path>");

const services = loadCriServices(protoPath);
const node = kubeletNode();

/** Handlers answer with a marker object; the method's serializer swaps it for the bytes made up front. */
const preserialized = new Map<object, Buffer>();
const cannedAnswer = (service: ServiceDefinition, method: string, answer: object): object => {
  const marker = {};
  preserialized.set(marker, serializerOf(service, method)(answer));
  return marker;
};
const runtime = services.runtimeService;
const image = services.imageService;
const version = cannedAnswer(runtime, "Version", versionAnswer());
const podList = cannedAnswer(runtime, "ListPodSandbox", listPodSandboxAnswer(node));
const containerList = cannedAnswer(runtime, "ListContainers", listContainersAnswer(node));
const containerStats = cannedAnswer(runtime, "ListContainerStats", listContainerStatsAnswer(node));
const podStatuses = new Map(node.pods.map((pod) => [pod.id, cannedAnswer(runtime, "PodSandboxStatus", podSandboxStatusAnswer(pod))]));
const containerStatuses = new Map(node.containers.map((container) => [container.id, cannedAnswer(runtime, "ContainerStatus", containerStatusAnswer(container))]));
const imageList = cannedAnswer(image, "ListImages", listImagesAnswer());
const imageFsInfo = cannedAnswer(image, "ImageFsInfo", imageFsInfoAnswer());
const firstOf = (answers: ReadonlyMap<string, object>): object => answers.values().next().value ?? {};

type Handler = (call: grpc.ServerUnaryCall<Record<string, unknown>, object>, callback: grpc.sendUnaryData<object>) => void;
const answerWith =
  (answer: object): Handler =>
  (_call, callback) =>
    callback(null, answer);
/** The stub knows every id of its node; an unknown one gets the first answer rather than NOT_FOUND. */
const answerById =
  (field: string, answers: ReadonlyMap<string, object>): Handler =>
  (call, callback) => {
    const id = call.request[field];
    callback(null, (typeof id === "string" ? answers.get(id) : undefined) ?? firstOf(answers));
  };

const server = new grpc.Server(GRPC_MESSAGE_SIZE_OPTIONS);
server.addService(withPreserializedAnswers(runtime), {
  Version: answerWith(version),
  ListPodSandbox: answerWith(podList),
  ListContainers: answerWith(containerList),
  ListContainerStats: answerWith(containerStats),
  PodSandboxStatus: answerById("pod_sandbox_id", podStatuses),
  ContainerStatus: answerById("container_id", containerStatuses),
});
server.addService(withPreserializedAnswers(image), { ListImages: answerWith(imageList), ImageFsInfo: answerWith(imageFsInfo) });

await rm(socketPath, { force: true });
await new Promise<void>((resolve, reject) => {
  server.bindAsync(`unix:${socketPath}`, grpc.ServerCredentials.createInsecure(), (error) => (error ? reject(error) : resolve()));
});

const sizeOf = (marker: object): number => preserialized.get(marker)?.length ?? 0;
const ready: KubeletStubReadyLine = {
  answerBytes: {
    Version: sizeOf(version),
    ListPodSandbox: sizeOf(podList),
    ListContainers: sizeOf(containerList),
    ListContainerStats: sizeOf(containerStats),
    PodSandboxStatus: sizeOf(firstOf(podStatuses)),
    ContainerStatus: sizeOf(firstOf(containerStatuses)),
    ListImages: sizeOf(imageList),
    ImageFsInfo: sizeOf(imageFsInfo),
  },
};
process.stdout.write(`${JSON.stringify(ready)}\n`);

const shutDown = (): void => {
  server.tryShutdown(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
};
process.once("SIGTERM", shutDown);
// The bench holds our stdin open; when it goes away, so do we.
process.stdin.once("end", shutDown);
process.stdin.resume();

function serializerOf(service: ServiceDefinition, method: string): (value: object) => Buffer {
  const definition = service[method];
  if (definition === undefined) throw new Error(`CRI proto has no method ${method}`);
  return definition.responseSerialize;
}

function withPreserializedAnswers(service: ServiceDefinition): ServiceDefinition {
  return Object.fromEntries(
    Object.entries(service).map(([name, method]) => [
      name,
      { ...method, responseSerialize: (value: object) => preserialized.get(value) ?? method.responseSerialize(value) },
    ]),
  );
}
