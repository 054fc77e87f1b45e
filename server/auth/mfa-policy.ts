/**
 * When MFA is owed: the user's role or their client requires it (a technician has no client), or the user turned it
 * on. One definition for login, for every authenticated request, and for refusing to turn MFA off.
 */
export interface MfaFacts {
  mfaEnabledAt: Date | null;
  roleRequiresMfa: boolean;
  clientRequiresMfa: boolean | null;
}

export const policyRequiresMfa = (u: Omit<MfaFacts, 'mfaEnabledAt'>): boolean => u.roleRequiresMfa || Boolean(u.clientRequiresMfa);

export const mfaRequired = (u: MfaFacts): boolean => Boolean(u.mfaEnabledAt) || policyRequiresMfa(u);
