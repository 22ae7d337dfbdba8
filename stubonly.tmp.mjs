import { startStubCriServer } from "/work/main/dist/test/support/stub-cri-server.js";
const s = await startStubCriServer("/tmp/nx/runtime.sock", { protoPath: "/tmp/criscope-proto/runtime/v1/api.proto" });
console.log("ready", s.listContainersResponseBytes.length, s.listContainersCount);
process.on("SIGTERM", async () => { await s.close(); process.exit(0); });
