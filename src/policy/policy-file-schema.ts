import { z } from 'zod';
import { DECODE_RULE, SERVICES_RULE } from './built-in-rules.js';
import { podSelectorSchema } from './pod-scope.js';
import { celRuleSchema } from './rules/cel-rule.js';
import { imagesRuleSchema } from './rules/images-rule.js';
import { resourcesRuleSchema } from './rules/resources-rule.js';
import { securityRuleSchema } from './rules/security-rule.js';

const mode = z.enum(['enforce', 'audit']);

/** One selector, or a list of them: a pod matching any is exempt. */
const exemptions = z.union([podSelectorSchema, z.array(podSelectorSchema)]).transform((value) => (Array.isArray(value) ? value : [value]));

/** A name that reads well in a metric label and in the message kubelet shows. */
const ruleName = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, { message: 'must be lowercase letters, digits and "-", at most 63 characters' })
  .refine((name) => !BUILT_IN_RULES.includes(name), { message: `"${DECODE_RULE}" and "${SERVICES_RULE}" are criscope's own rules; choose another name` });

const BUILT_IN_RULES = [DECODE_RULE, SERVICES_RULE];

/** What every rule has, whatever its kind. */
const ruleCommon = {
  /** Names the rule in messages and metrics; defaults to its kind. */
  name: ruleName.optional(),
  /** Overrides the file's mode for this rule. */
  mode: mode.optional(),
  /** The pods the rule applies to; left out, all pods. */
  match: podSelectorSchema.optional(),
  /** Pods the rule skips, on top of the file's own exemptions. */
  exempt: exemptions.optional(),
};

// extend() keeps each kind's own object-level checks (e.g. "set at least one limit") and its strictness.
const ruleSchema = z.discriminatedUnion('kind', [
  imagesRuleSchema.extend({ kind: z.literal('images'), ...ruleCommon }),
  resourcesRuleSchema.extend({ kind: z.literal('resources'), ...ruleCommon }),
  securityRuleSchema.extend({ kind: z.literal('security'), ...ruleCommon }),
  celRuleSchema.extend({ kind: z.literal('cel'), ...ruleCommon, name: ruleName }),
]);

/** The policy file: a global mode and exemptions, then the rules, checked in order. */
export const policyFileSchema = z
  .object({
    mode: mode.default('enforce'),
    /** Pods no rule applies to (e.g. kube-system). */
    exempt: exemptions.default([]),
    /**
     * gRPC services besides CRI's that clients may call on the runtime's
     * socket. containerd serves its own API there too, which would start
     * containers no rule sees.
     */
    allowedServices: z.array(z.string().regex(/^[A-Za-z_][\w.]*$/, { message: 'must be a gRPC service name such as grpc.health.v1.Health' })).default(['grpc.health.v1.Health']),
    rules: z.array(ruleSchema).default([]),
  })
  .strict()
  .superRefine((file, context) => {
    const seen = new Set<string>();
    file.rules.forEach((rule, index) => {
      const name = rule.name ?? rule.kind;
      if (seen.has(name)) context.addIssue({ code: 'custom', path: ['rules', index, 'name'], message: `another rule is already named "${name}": give each rule of a kind its own name` });
      seen.add(name);
    });
  });

export type PolicyFile = z.output<typeof policyFileSchema>;
export type RuleSettings = PolicyFile['rules'][number];
