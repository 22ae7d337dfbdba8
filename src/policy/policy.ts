import type { PolicyRule } from './types.js';
import type { PolicyMode } from '../cri/policy-decision.js';

/** A loaded policy file: its rules, grouped by the methods each judges. */
export class Policy {
  private readonly byMethod = new Map<string, PolicyRule[]>();

  constructor(
    readonly rules: readonly PolicyRule[],
    /** The file's global mode: it also decides what happens to a request criscope cannot decode. */
    readonly mode: PolicyMode,
    /** Where the policy came from, for logs. */
    readonly source: string,
    /** gRPC services besides CRI's that calls may reach on the runtime's socket. */
    readonly allowedServices: ReadonlySet<string> = new Set(),
  ) {
    for (const rule of rules) {
      for (const method of rule.methods) {
        const list = this.byMethod.get(method);
        if (list === undefined) this.byMethod.set(method, [rule]);
        else list.push(rule);
      }
    }
  }

  /** The rules that judge `method` (e.g. "CreateContainer"), in file order. */
  rulesFor(method: string): readonly PolicyRule[] {
    return this.byMethod.get(method) ?? NO_RULES;
  }

  /** Whether a rule for `method` reads the whole request (a custom rule), rather than only the fields the method table names. */
  readsWholeRequest(method: string): boolean {
    return this.rulesFor(method).some((rule) => rule.readsRequest === true);
  }

  /** Whether judging `method` needs the image's names (a look-up that may reach the runtime). */
  resolvesImages(method: string): boolean {
    return this.rulesFor(method).some((rule) => rule.kind === 'images');
  }
}

const NO_RULES: readonly PolicyRule[] = [];
