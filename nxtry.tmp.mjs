import { loadCriServices, GRPC_MESSAGE_SIZE_OPTIONS } from "/work/main/dist/test/support/stub-cri-server.js";
import * as grpc from "@grpc/grpc-js";
const svc = loadCriServices("/tmp/criscope-proto/runtime/v1/api.proto").runtimeService;
const C = grpc.makeGenericClientConstructor(svc, "RuntimeService");
for (const sock of ["/tmp/nx/runtime.sock", "/tmp/nx/nghttpx.sock"]) {
  const c = new C("unix:" + sock, grpc.credentials.createInsecure(), GRPC_MESSAGE_SIZE_OPTIONS);
  const call = (m, r) => new Promise((res, rej) => c[m](r, (e, v) => e ? rej(e) : res(v)));
  for (let i = 0; i < 3000; i++) await call(i % 2 ? "Version" : "ContainerStatus", {container_id: "x"});
  let t = performance.now(); for (let i = 0; i < 2000; i++) await call("Version", {}); console.log("seq per call us", (performance.now() - t) / 2000 * 1000);
  t = performance.now(); for (let i = 0; i < 2000; i++) await call("ContainerStatus", {container_id: "x"}); console.log("cs seq per call us", (performance.now() - t) / 2000 * 1000);
  t = performance.now(); await Promise.all(Array.from({length:16}, async () => { for (let i = 0; i < 500; i++) await call("Version", {}); })); console.log("c16 per s", 8000 / (performance.now() - t) * 1000);
  t = performance.now(); for (let i = 0; i < 5; i++) await call("ListContainers", {}); console.log("big ms", (performance.now() - t) / 5);
  try { await call("ImageFsInfo", {}); } catch (e) { console.log("err", e.code, e.details); }
  try { await call("PodSandboxStatus", {pod_sandbox_id: "x"}); } catch (e) { console.log("err", e.code, e.details); }
  c.close();
}
