import http2 from "node:http2";
import net from "node:net";
import fs from "node:fs";
try { fs.unlinkSync("/tmp/nx/h2.sock"); } catch {}
const srv = http2.createServer();
srv.on("stream", (s) => { s.respond({":status": 200}); s.end("x"); });
await new Promise(r => srv.listen("/tmp/nx/h2.sock", r));
const c = http2.connect("http://localhost", { createConnection: () => net.connect("/tmp/nx/h2.sock") });
const req = () => new Promise((res) => { const r = c.request({":path": "/"}); r.on("data", () => {}); r.on("end", res); r.end(); });
for (let k = 0; k < 3; k++) { const t = performance.now(); for (let i = 0; i < 2000; i++) await req(); console.log("h2 seq us", (performance.now() - t) / 2000 * 1000); }
c.close(); srv.close();
