/** macOS account policies (pwpolicy -getaccountpolicies, as JSON) read as the endpoint password policy. */
import type { CharacterClass, EndpointPasswordPolicy } from './account-backend.ts';

interface PolicyRule {
  policyContent?: unknown;
  policyIdentifier?: unknown;
  policyParameters?: Record<string, unknown>;
}

const ALL_CLASSES: CharacterClass[] = ['lower', 'upper', 'digit', 'symbol'];

/**
 * Account policies (pwpolicy(8)) as JSON: content rules are `policyAttributePassword matches 'REGEX'` (length and
 * character classes) and `none policyAttributePasswordHashes in policyAttributePasswordHistory` (history). A
 * content rule this code cannot read is assumed to want every character class, rather than silently ignored.
 */
export function policyFromAccountPolicies(policies: Record<string, unknown>): EndpointPasswordPolicy {
  const sources: string[] = ['macOS account policies have no minimum password age (pwpolicy(8) has none)'];
  const required = new Set<CharacterClass>();
  let minLength = 0;
  let maxLength: number | null = null;
  let history = 0;
  let rejectsAccountName = false;
  const rules = Array.isArray(policies.policyCategoryPasswordContent) ? (policies.policyCategoryPasswordContent as PolicyRule[]) : [];
  if (rules.length === 0) sources.push('pwpolicy -getaccountpolicies: no password content rules');
  for (const rule of rules) {
    const content = typeof rule.policyContent === 'string' ? rule.policyContent : '';
    const label = `pwpolicy ${typeof rule.policyIdentifier === 'string' ? rule.policyIdentifier : 'rule'}: ${content}`;
    const params = rule.policyParameters ?? {};
    if (/policyAttributePasswordHistory/.test(content)) {
      const depth = Number(params.policyAttributePasswordHistoryDepth);
      history = Math.max(history, Number.isInteger(depth) ? depth : 1);
      sources.push(label);
      continue;
    }
    if (/RecordName|FullName|AccountName/.test(content)) rejectsAccountName = true;
    const regex = /policyAttributePassword matches '(.*)'/.exec(content)?.[1];
    const found = regex === undefined ? null : readPasswordRegex(regex);
    if (!found) {
      ALL_CLASSES.forEach((c) => required.add(c));
      sources.push(`${label} (not understood: every character class assumed required)`);
      continue;
    }
    const paramMin = Number(params.minimumLength);
    minLength = Math.max(minLength, found.minLength, Number.isInteger(paramMin) ? paramMin : 0);
    if (found.maxLength !== null) maxLength = Math.min(maxLength ?? Infinity, found.maxLength);
    found.classes.forEach((c) => required.add(c));
    sources.push(label);
  }
  const requiredClasses = ALL_CLASSES.filter((c) => required.has(c));
  return { minAgeDays: 0, minLength, maxLength, minClasses: requiredClasses.length, requiredClasses, rejectsAccountName, historyLength: history, sources };
}

/** The shapes Apple's profiles and the macOS Security Compliance Project write: '.{15,}', '^$|.{4,}+',
 * '(.*[0-9].*){1,}+', '(.*[^a-zA-Z0-9].*){1,}+', '(.*[a-z].*[A-Z].*)|(.*[A-Z].*[a-z].*)'. */
function readPasswordRegex(regex: string): { minLength: number; maxLength: number | null; classes: CharacterClass[] } | null {
  let rest = regex;
  const classes: CharacterClass[] = [];
  const take = (pattern: RegExp, cls: CharacterClass) => {
    if (pattern.test(rest)) {
      classes.push(cls);
      rest = rest.replace(new RegExp(pattern.source, 'g'), '');
    }
  };
  take(/\[\^(a-zA-Z0-9|A-Za-z0-9|a-zA-Z\d|A-Za-z\d)\]/, 'symbol');
  // "a letter" is met by a lower-case one, which the generator then always includes.
  take(/\[(a-zA-Z|A-Za-z)\]/, 'lower');
  take(/\[(0-9|\\d)\]/, 'digit');
  take(/\[a-z\]/, 'lower');
  take(/\[A-Z\]/, 'upper');
  const length = /\.\{(\d+),(\d*)\}/.exec(rest);
  if (length) rest = rest.replace(length[0], '');
  // What is left must be regex scaffolding only ("^$|", ".*", groups, "{1,}+"), or the rule says more than we read.
  if (/[A-Za-z0-9\\[]/.test(rest.replace(/\{\d+,\d*\}/g, ''))) return null;
  if (!length && classes.length === 0) return null;
  return {
    minLength: length ? Number(length[1]) : 0,
    maxLength: length && length[2] ? Number(length[2]) : null,
    classes: [...new Set(classes)],
  };
}

