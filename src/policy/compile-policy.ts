import { compileScope } from './pod-scope.js';
import type { PolicyFile, RuleSettings } from './policy-file-schema.js';
import { Policy } from './policy.js';
import { celRule } from './rules/cel-rule.js';
import { imagesRule } from './rules/images-rule.js';
import { resourcesRule } from './rules/resources-rule.js';
import { securityRule } from './rules/security-rule.js';
import type { PolicyRule, RuleChecks } from './types.js';

function checksOf(settings: RuleSettings): RuleChecks {
  switch (settings.kind) {
    case 'images':
      return imagesRule(settings);
    case 'resources':
      return resourcesRule(settings);
    case 'security':
      return securityRule(settings);
    case 'cel':
      return celRule(settings);
  }
}

/** Turns a validated policy file into rules ready to judge calls. */
export function compilePolicy(file: PolicyFile, source: string): Policy {
  const rules = file.rules.map((settings): PolicyRule => {
    const checks = checksOf(settings);
    return {
      kind: settings.kind,
      name: settings.name ?? settings.kind,
      mode: settings.mode ?? file.mode,
      scope: compileScope(settings.match, [...file.exempt, ...(settings.exempt ?? [])]),
      methods: checks.methods,
      readsRequest: checks.readsRequest === true,
      evaluate: (subject) => checks.evaluate(subject),
    };
  });
  return new Policy(rules, file.mode, source, new Set(file.allowedServices));
}
