import protobuf from 'protobufjs';
import { packagedFile } from '../packaged-files.js';

export const CRI_PACKAGE = 'runtime.v1';

/**
 * The project's own description of CRI runtime.v1 (k8s.io/cri-api v0.36.3), resolved;
 * field names stay as written in the .proto (snake_case).
 */
export function loadCriProto(): protobuf.Root {
  const root = new protobuf.Root();
  protobuf.parse(packagedFile('proto/runtime/v1/api.proto'), root, { keepCase: true });
  root.resolveAll();
  return root;
}
