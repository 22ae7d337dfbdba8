import { PolicyFileError } from '../errors.js';
import { compilePolicy } from '../policy/compile-policy.js';
import { policyFileSchema } from '../policy/policy-file-schema.js';
import type { Policy } from '../policy/policy.js';
import { issuesOf, readYamlMapping } from './load.js';

/** Reads, validates and compiles a policy file; throws PolicyFileError naming the file and every bad field. */
export function loadPolicy(path: string): Policy {
  const document = readYamlMapping(path, (issues) => new PolicyFileError(path, issues));
  const result = policyFileSchema.safeParse(document);
  if (!result.success) throw new PolicyFileError(path, issuesOf(result.error));
  return compilePolicy(result.data, path);
}
