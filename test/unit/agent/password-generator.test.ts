import { describe, expect, it } from 'vitest';
import type { CharacterClass, EndpointPasswordPolicy } from '../../../agent/accounts/account-backend.ts';
import {
  CLASS_ALPHABETS,
  MIN_PASSWORD_LENGTH,
  checkPassword,
  classOf,
  generatePassword,
  passwordEntropyBits,
  type PasswordRules,
} from '../../../agent/accounts/password-generator.ts';

const lax: EndpointPasswordPolicy = {
  minAgeDays: 0,
  minLength: 0,
  maxLength: null,
  minClasses: 0,
  requiredClasses: [],
  rejectsAccountName: false,
  historyLength: 0,
  sources: [],
};
const policy = (over: Partial<EndpointPasswordPolicy>): EndpointPasswordPolicy => ({ ...lax, ...over });
const ALL: CharacterClass[] = ['lower', 'upper', 'digit', 'symbol'];
const chars = (length: number, classes: CharacterClass[] = ALL): PasswordRules => ({ mode: 'characters', length, classes });
/** Characters no generated password may hold: chpasswd's separator, whitespace, quoting and shell/cmd/XML specials. */
const FORBIDDEN = /[:\s"'`\\$&<>|;%^!]/;
const many = (n: number, f: () => string) => Array.from({ length: n }, f);

describe('character passwords', () => {
  it('uses every requested class in every password, and every character of each alphabet over many samples', () => {
    const samples = many(2000, () => generatePassword(chars(16), lax, 'remote-support'));
    for (const pw of samples) {
      expect(pw).toHaveLength(16);
      expect(new Set([...pw].map(classOf))).toEqual(new Set(ALL));
      expect(pw).not.toMatch(FORBIDDEN);
    }
    const seen = new Set(samples.join(''));
    const alphabet = ALL.map((c) => CLASS_ALPHABETS[c]).join('');
    expect([...alphabet].filter((ch) => !seen.has(ch))).toEqual([]);
    expect([...seen].filter((ch) => !alphabet.includes(ch))).toEqual([]);
  });

  it('draws characters about uniformly (no character far from its expected share)', () => {
    const counts = new Map<string, number>();
    const samples = many(3000, () => generatePassword(chars(20), lax, 'x'));
    for (const ch of samples.join('')) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    const expected = (3000 * 20) / 78;
    for (const [ch, n] of counts) expect(Math.abs(n - expected) / expected, ch).toBeLessThan(0.25);
  });

  it('never produces the same password twice in a large sample', () => {
    const samples = many(5000, () => generatePassword(chars(12), lax, 'x'));
    expect(new Set(samples).size).toBe(samples.length);
  });

  it('takes the longest of the rules, the policy minimum and Steward\'s floor of 12, capped by the policy maximum', () => {
    expect(generatePassword(chars(8), lax, 'x')).toHaveLength(MIN_PASSWORD_LENGTH);
    expect(generatePassword(chars(14), policy({ minLength: 20 }), 'x')).toHaveLength(20);
    expect(generatePassword(chars(30), policy({ minLength: 8 }), 'x')).toHaveLength(30);
    expect(generatePassword(chars(64), policy({ maxLength: 16 }), 'x')).toHaveLength(16);
  });

  it('adds the classes the policy requires, and tops up to minClasses, even when the rules ask for fewer', () => {
    const required = many(300, () => generatePassword(chars(12, ['lower']), policy({ requiredClasses: ['digit'] }), 'x'));
    for (const pw of required) expect(new Set([...pw].map(classOf))).toEqual(new Set(['lower', 'digit']));
    const topped = many(300, () => generatePassword(chars(12, ['digit']), policy({ minClasses: 3 }), 'x'));
    for (const pw of topped) expect(new Set([...pw].map(classOf)).size).toBeGreaterThanOrEqual(3);
  });

  it('never contains the account name, forwards or reversed, in any case, when the policy rejects it', () => {
    // Lowercase only and a 3-letter name: without the exclusion ~1 in 900 passwords holds "abc"/"cba" (~22 here).
    const samples = many(20000, () => generatePassword(chars(12, ['lower']), policy({ rejectsAccountName: true }), 'ABC'));
    expect(samples.filter((pw) => pw.includes('abc') || pw.includes('cba'))).toEqual([]);
  });

  it('throws a clear error when the policy caps the length below what is needed', () => {
    expect(() => generatePassword(chars(16), policy({ maxLength: 10 }), 'x')).toThrow(/at most 10 characters.*at least 12/);
    expect(() => generatePassword(chars(16), policy({ minLength: 30, maxLength: 20 }), 'x')).toThrow(/at most 20.*at least 30/);
    expect(() => generatePassword(chars(16), policy({ minClasses: 5 }), 'x')).toThrow(/5 character classes/);
    expect(() => generatePassword(chars(16, []), lax, 'x')).toThrow(/no character classes/);
  });

  it('produces passwords that checkPassword accepts under a strict policy', () => {
    const strict = policy({ minLength: 14, minClasses: 4, requiredClasses: ['upper', 'symbol'], rejectsAccountName: true, maxLength: 14 });
    for (const pw of many(500, () => generatePassword(chars(12, ['lower']), strict, 'NOC_HelpDesk'))) {
      expect(checkPassword(strict, pw, 'NOC_HelpDesk')).toEqual([]);
    }
  });
});

describe('passphrases', () => {
  const phrase = (words: number, separator?: string): PasswordRules => ({ mode: 'passphrase', words, separator });

  it('joins the requested number of lowercase words with the separator', () => {
    for (const pw of many(200, () => generatePassword(phrase(5), lax, 'x'))) {
      expect(pw.split('-')).toHaveLength(5);
      expect(pw).toMatch(/^[a-z]+(-[a-z]+){4}$/);
    }
  });

  it('meets a policy that needs upper, digit and symbol and a long minimum, and checkPassword agrees', () => {
    const strict = policy({ minLength: 40, requiredClasses: ['upper', 'digit', 'symbol'], minClasses: 4, rejectsAccountName: true });
    for (const pw of many(300, () => generatePassword(phrase(4, ''), strict, 'remote-support'))) {
      expect(checkPassword(strict, pw, 'remote-support')).toEqual([]);
      expect(pw).not.toMatch(FORBIDDEN);
    }
  });

  it('refuses separators that tools cannot carry, too few words, and a cap too short for the words', () => {
    expect(() => generatePassword(phrase(5, ' '), lax, 'x')).toThrow(/separator/);
    expect(() => generatePassword(phrase(5, ':'), lax, 'x')).toThrow(/separator/);
    expect(() => generatePassword(phrase(2), lax, 'x')).toThrow(/at least 4 words/);
    expect(() => generatePassword(phrase(6), policy({ maxLength: 15 }), 'x')).toThrow(/15-character limit/);
  });
});

describe('checkPassword', () => {
  const strict = policy({ minLength: 12, maxLength: 20, minClasses: 3, requiredClasses: ['digit', 'symbol'], rejectsAccountName: true });

  it('accepts a compliant password and names each violation separately', () => {
    expect(checkPassword(strict, 'Abcdefgh-123', 'remote-support')).toEqual([]);
    expect(checkPassword(strict, 'Abc-1', 'x')).toEqual([expect.stringMatching(/5 characters long; the policy needs at least 12/)]);
    expect(checkPassword(strict, 'Abcdefgh-123456789012', 'x')).toEqual([expect.stringMatching(/21 characters long; the policy allows at most 20/)]);
    expect(checkPassword(strict, 'abcdefghijk1', 'x')).toEqual([
      expect.stringMatching(/uses 2 character classes; the policy needs 3/),
      expect.stringMatching(/no symbol/),
    ]);
    expect(checkPassword(strict, 'Abcdefghijk-', 'x')).toEqual([expect.stringMatching(/no digit/)]);
    expect(checkPassword(strict, 'xRemote-Support1', 'remote-support')).toEqual([expect.stringMatching(/account name "remote-support"/)]);
    expect(checkPassword(strict, 'x1-ksedpleh_con', 'NOC_HelpDesk')).toEqual([expect.stringMatching(/reversed/)]);
  });

  it('ignores the account name when the policy does not reject it, and names shorter than 3 characters', () => {
    expect(checkPassword({ ...strict, rejectsAccountName: false }, 'remote-support1', 'remote-support')).toEqual([]);
    expect(checkPassword(strict, 'Abcdefgh-123', 'ab')).toEqual([]);
  });
});

describe('passwordEntropyBits', () => {
  it('counts length × log2(alphabet) minus the strings missing a class, and 11 bits per passphrase word', () => {
    expect(passwordEntropyBits(chars(16, ['lower']))).toBeCloseTo(16 * Math.log2(26), 6);
    const all = passwordEntropyBits(chars(16));
    expect(all).toBeLessThan(16 * Math.log2(78));
    expect(all).toBeGreaterThan(16 * Math.log2(78) - 1);
    expect(passwordEntropyBits(chars(4, ['digit']))).toBeCloseTo(12 * Math.log2(10), 6);
    expect(passwordEntropyBits({ mode: 'passphrase', words: 6 })).toBeCloseTo(66, 6);
  });

  it('matches the closed-form count for two classes', () => {
    // 12 characters from 26 lowercase + 10 digits holding both classes: 36^12 - 26^12 - 10^12 strings.
    const exact = Math.log2(36 ** 12 - 26 ** 12 - 10 ** 12);
    expect(passwordEntropyBits(chars(12, ['lower', 'digit']))).toBeCloseTo(exact, 6);
  });
});
