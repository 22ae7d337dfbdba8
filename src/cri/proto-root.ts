import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

/** The project's own description of CRI runtime.v1 (k8s.io/cri-api v0.36.3). */
export const CRI_PROTO_FILE = fileURLToPath(new URL('../../../proto/runtime/v1/api.proto', import.meta.url));

export const CRI_PACKAGE = 'runtime.v1';

/** Loads and resolves the CRI proto; field names stay as written in the .proto (snake_case). */
export function loadCriProto(file: string = CRI_PROTO_FILE): protobuf.Root {
  const root = new protobuf.Root();
  root.loadSync(file, { keepCase: true });
  root.resolveAll();
  return root;
}
