import { InstallError } from '../errors.js';
import { parseMapping, restoreSpan, setString, type ParsedMapping, type SpliceResult } from './yaml-splice.js';

/** The two KubeletConfiguration fields criscope moves kubelet with. */
export const ENDPOINT_FIELDS = ['containerRuntimeEndpoint', 'imageServiceEndpoint'] as const;
export type EndpointField = (typeof ENDPOINT_FIELDS)[number];

export interface KubeletConfigFile {
  readonly mapping: ParsedMapping;
  /** Each endpoint field's value; undefined when it is absent or empty (kubelet then falls back). */
  readonly endpoints: Readonly<Partial<Record<EndpointField, string>>>;
  /** Which endpoint fields are written in the file at all, empty or not. */
  readonly written: ReadonlySet<EndpointField>;
}

/**
 * Reads a kubelet config file (YAML or JSON), or one of its --config-dir drop-ins, and
 * refuses one kubelet would not take as a KubeletConfiguration. `path` names it in errors.
 */
export function parseKubeletConfig(text: string, path: string): KubeletConfigFile {
  const mapping = parseMapping(text, path);
  const kind = mapping.data['kind'];
  if (kind !== 'KubeletConfiguration') throw new InstallError(path, `kind is ${kind === undefined ? 'missing' : JSON.stringify(kind)}, not KubeletConfiguration`);
  const endpoints: Partial<Record<EndpointField, string>> = {};
  const written = new Set<EndpointField>();
  for (const field of ENDPOINT_FIELDS) {
    if (!(field in mapping.data)) continue;
    written.add(field);
    const value = mapping.data[field];
    if (value !== null && typeof value !== 'string') throw new InstallError(path, `${field} is not a string`);
    if (typeof value === 'string' && value !== '') endpoints[field] = value;
  }
  return { mapping, endpoints, written };
}

/** Sets an endpoint field, in place or added among the others; the result is checked. */
export function setEndpointField(file: KubeletConfigFile, field: EndpointField, endpoint: string, path: string): SpliceResult {
  // In kubeadm's sorted order when the file keeps it; else beside its sibling.
  const sibling: EndpointField = field === 'imageServiceEndpoint' ? 'containerRuntimeEndpoint' : 'imageServiceEndpoint';
  return setString(file.mapping, field, endpoint, path, sibling);
}

/**
 * Puts back what install replaced: `writtenText` (the pair install wrote, or everything it
 * inserted) becomes `previousText` again. Undefined when the file no longer holds
 * `writtenText` at that field (someone changed it since).
 */
export function restoreEndpointField(text: string, path: string, field: EndpointField, writtenText: string, previousText: string): string | undefined {
  const file = parseKubeletConfig(text, path);
  return restoreSpan(file.mapping, field, writtenText, previousText, path);
}
