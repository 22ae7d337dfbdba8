// Runs the stub CRI server in a process of its own, so its work neither shares the client's
// event loop nor counts as the client's: direct and relayed paths then differ only by the relay.
// argv: <socket path> <proto path> <ListContainers bytes>; prints one JSON line when serving.

import { createHash } from "node:crypto";
import { startStubCriServer } from "../test/support/stub-cri-server.js";

export interface StubReadyLine {
  readonly listContainersSha256: string;
  readonly listContainersBytes: number;
  readonly listContainersCount: number;
}

const [socketPath, protoPath, listContainersBytes] = process.argv.slice(2);
if (socketPath === undefined || protoPath === undefined || listContainersBytes === undefined) {
  throw new Error("usage: stub-process.js <socket path> <proto path> <ListContainers bytes>");
}

const server = await startStubCriServer(socketPath, { protoPath, listContainersBytes: Number(listContainersBytes) });
const ready: StubReadyLine = {
  listContainersSha256: createHash("sha256").update(server.listContainersResponseBytes).digest("hex"),
  listContainersBytes: server.listContainersResponseBytes.length,
  listContainersCount: server.listContainersCount,
};
process.stdout.write(`${JSON.stringify(ready)}\n`);

const shutDown = (): void => {
  void server.close().then(() => process.exit(0));
};
process.once("SIGTERM", shutDown);
// The bench holds our stdin open; when it goes away, so do we.
process.stdin.once("end", shutDown);
process.stdin.resume();
