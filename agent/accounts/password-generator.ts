import { randomInt } from 'node:crypto';
import { wordlist } from '@scure/bip39/wordlists/english.js';
import type { CharacterClass, EndpointPasswordPolicy } from './account-backend.ts';

/**
 * Passwords for the accounts Steward manages, shaped by the endpoint's own policy so the OS never refuses them.
 *
 * Randomness: only `crypto.randomInt` (a CSPRNG, unbiased over its range). Character mode draws every character
 * uniformly from the union alphabet and throws the whole draw away when a needed class is missing or the account
 * name shows up (rejection sampling), so every acceptable password is equally likely — forcing "one of each class"
 * into fixed slots would not be.
 *
 * Symbol set (16): # * + , - . / = ? @ [ ] _ { } ~ — chosen so a password survives every tool on the way:
 *   `:`            chpasswd's and /etc/passwd's field separator;
 *   space, tab, newline, control characters: trimmed by forms, and a newline ends a chpasswd record;
 *   `"` `'` `` ` `` `\`   quoting and escaping in sh, PowerShell, JSON and CSV;
 *   `$`            expansion in sh and PowerShell double-quoted strings;
 *   `&` `<` `>`    XML/HTML escaping (unattend files, MSI properties) and cmd.exe redirection;
 *   `|` `;`        command separators in sh and cmd.exe;
 *   `%` `^` `!`    cmd.exe expansion and escape, bash history expansion.
 * Letters and digits are the full ASCII sets (look-alikes such as l/1/O/0 are kept: the console copies passwords).
 */

export type PasswordRules =
  | { mode: 'characters'; length: number; classes: CharacterClass[] }
  | { mode: 'passphrase'; words: number; separator?: string };

/** Steward's own floor, whatever the rules or the endpoint say. */
export const MIN_PASSWORD_LENGTH = 12;
/** Passphrases need enough words to reach a useful strength with an 11-bit (2048-word) list. */
export const MIN_PASSPHRASE_WORDS = 4;

export const CLASS_ALPHABETS: Readonly<Record<CharacterClass, string>> = {
  lower: 'abcdefghijklmnopqrstuvwxyz',
  upper: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ',
  digit: '0123456789',
  symbol: '#*+,-./=?@[]_{}~',
};

const CLASS_ORDER: CharacterClass[] = ['lower', 'upper', 'digit', 'symbol'];
/** A draw that fails this often means the constraints are practically unsatisfiable; say so instead of spinning. */
const MAX_DRAWS = 10_000;
/** The shortest word in the BIP39 English list ("act", "add", …). */
const SHORTEST_WORD = 3;

export function classOf(char: string): CharacterClass {
  if (char >= 'a' && char <= 'z') return 'lower';
  if (char >= 'A' && char <= 'Z') return 'upper';
  if (char >= '0' && char <= '9') return 'digit';
  // Everything else, non-ASCII letters included, is "other" to pwquality and a symbol to us.
  return 'symbol';
}

/** Account names shorter than this are not checked: Windows complexity does the same, and a one-letter name would
 * forbid that letter everywhere. */
const MIN_CHECKED_NAME_LENGTH = 3;

/** pwquality's usercheck also refuses the name reversed; Windows checks it as-is. Both are covered. */
function containsAccountName(password: string, accountName: string): boolean {
  const name = accountName.toLowerCase();
  if (name.length < MIN_CHECKED_NAME_LENGTH) return false;
  const pw = password.toLowerCase();
  return pw.includes(name) || pw.includes([...name].reverse().join(''));
}

/** Human-readable reasons this password breaks the endpoint's policy; empty when it satisfies it. */
export function checkPassword(policy: EndpointPasswordPolicy, password: string, accountName: string): string[] {
  const violations: string[] = [];
  const length = [...password].length;
  if (length < policy.minLength) violations.push(`is ${length} characters long; the policy needs at least ${policy.minLength}`);
  if (policy.maxLength !== null && length > policy.maxLength) {
    violations.push(`is ${length} characters long; the policy allows at most ${policy.maxLength}`);
  }
  const present = new Set([...password].map(classOf));
  if (present.size < policy.minClasses) {
    violations.push(`uses ${present.size} character classes; the policy needs ${policy.minClasses}`);
  }
  for (const cls of policy.requiredClasses) {
    if (!present.has(cls)) violations.push(`has no ${describeClass(cls)}; the policy requires one`);
  }
  if (policy.rejectsAccountName && containsAccountName(password, accountName)) {
    violations.push(`contains the account name "${accountName}" (or it reversed)`);
  }
  return violations;
}

export function generatePassword(rules: PasswordRules, policy: EndpointPasswordPolicy, accountName: string): string {
  return rules.mode === 'characters'
    ? generateCharacters(rules, policy, accountName)
    : generatePassphrase(rules, policy, accountName);
}

/** The classes a character-mode password will contain: the rules' and the policy's, topped up to minClasses. */
export function effectiveClasses(ruleClasses: CharacterClass[], policy: EndpointPasswordPolicy): CharacterClass[] {
  const wanted = new Set<CharacterClass>([...ruleClasses, ...policy.requiredClasses]);
  if (policy.minClasses > CLASS_ORDER.length) {
    throw new Error(`the policy needs ${policy.minClasses} character classes; only ${CLASS_ORDER.length} exist`);
  }
  for (const cls of CLASS_ORDER) if (wanted.size < policy.minClasses) wanted.add(cls);
  if (wanted.size === 0) throw new Error('no character classes chosen: pick at least one of lower, upper, digit, symbol');
  return CLASS_ORDER.filter((c) => wanted.has(c));
}

/** The length a character-mode password will have, or a clear error when the policy's cap makes it impossible. */
export function effectiveLength(requested: number, classCount: number, policy: EndpointPasswordPolicy): number {
  const needed = Math.max(policy.minLength, MIN_PASSWORD_LENGTH, classCount);
  const length = Math.max(requested, needed);
  if (policy.maxLength === null) return length;
  if (policy.maxLength < needed) {
    throw new Error(
      `cannot make a password: the endpoint allows at most ${policy.maxLength} characters, but at least ${needed} are ` +
        `needed (policy minimum ${policy.minLength}, Steward's minimum ${MIN_PASSWORD_LENGTH}, ${classCount} classes)`,
    );
  }
  return Math.min(length, policy.maxLength);
}

function generateCharacters(
  rules: Extract<PasswordRules, { mode: 'characters' }>,
  policy: EndpointPasswordPolicy,
  accountName: string,
): string {
  if (!Number.isInteger(rules.length) || rules.length < 1) throw new Error(`invalid password length ${rules.length}`);
  const classes = effectiveClasses(rules.classes, policy);
  const length = effectiveLength(rules.length, classes.length, policy);
  const alphabet = classes.map((c) => CLASS_ALPHABETS[c]).join('');
  for (let draw = 0; draw < MAX_DRAWS; draw++) {
    let password = '';
    for (let i = 0; i < length; i++) password += alphabet[randomInt(alphabet.length)];
    const present = new Set([...password].map(classOf));
    if (classes.every((c) => present.has(c)) && checkPassword(policy, password, accountName).length === 0) return password;
  }
  throw new Error(`no password of ${length} characters satisfied the policy after ${MAX_DRAWS} draws`);
}

/** A separator must itself be safe to carry (see the symbol set above); empty joins the words directly. */
function validSeparator(separator: string): boolean {
  return [...separator].every((ch) => classOf(ch) !== 'symbol' || CLASS_ALPHABETS.symbol.includes(ch));
}

/**
 * Words from the BIP39 English list (2048 words, 11 bits each; MIT, shipped in @scure/bip39; every word is 3–8
 * lowercase letters and unique in its first four). The policy is met by extra words for length, one capitalised
 * word, a digit appended to one word, and a symbol appended when the separator is not one.
 */
function generatePassphrase(
  rules: Extract<PasswordRules, { mode: 'passphrase' }>,
  policy: EndpointPasswordPolicy,
  accountName: string,
): string {
  const separator = rules.separator ?? '-';
  if (!validSeparator(separator)) {
    throw new Error(`passphrase separator ${JSON.stringify(separator)} is not allowed; use "" or some of ${CLASS_ALPHABETS.symbol}`);
  }
  if (!Number.isInteger(rules.words) || rules.words < MIN_PASSPHRASE_WORDS) {
    throw new Error(`a passphrase needs at least ${MIN_PASSPHRASE_WORDS} words (asked for ${rules.words})`);
  }
  const needs = effectiveClasses(['lower'], policy);
  const minLength = Math.max(policy.minLength, MIN_PASSWORD_LENGTH);
  const shortest = rules.words * SHORTEST_WORD + (rules.words - 1) * separator.length;
  if (policy.maxLength !== null && policy.maxLength < Math.max(minLength, shortest)) {
    throw new Error(
      `cannot make a ${rules.words}-word passphrase within the endpoint's ${policy.maxLength}-character limit ` +
        `(at least ${Math.max(minLength, shortest)} are needed); use character mode or fewer words`,
    );
  }
  for (let draw = 0; draw < MAX_DRAWS; draw++) {
    const words: string[] = [];
    for (let i = 0; i < rules.words; i++) words.push(wordlist[randomInt(wordlist.length)]);
    if (needs.includes('upper')) {
      const i = randomInt(words.length);
      words[i] = words[i][0].toUpperCase() + words[i].slice(1);
    }
    if (needs.includes('digit')) words[randomInt(words.length)] += String(randomInt(10));
    const hasSymbol = [...separator].some((ch) => classOf(ch) === 'symbol');
    if (needs.includes('symbol') && !hasSymbol) {
      words[randomInt(words.length)] += CLASS_ALPHABETS.symbol[randomInt(CLASS_ALPHABETS.symbol.length)];
    }
    let password = words.join(separator);
    while (password.length < minLength) password += separator + wordlist[randomInt(wordlist.length)];
    // Words vary in length: a draw over the cap is thrown away, a shorter one may fit.
    if (checkPassword(policy, password, accountName).length === 0) return password;
  }
  throw new Error(`no ${rules.words}-word passphrase satisfied the policy after ${MAX_DRAWS} draws`);
}

/**
 * Strength for the UI, from the rules alone (the policy can only add length or classes, so this is a floor).
 * Character mode counts exactly the strings the generator can produce — all of the chosen classes present — by
 * inclusion–exclusion over the class subsets; passphrases count the words only (capitals/digits are extra).
 */
export function passwordEntropyBits(rules: PasswordRules): number {
  if (rules.mode === 'passphrase') return Math.max(rules.words, 0) * Math.log2(wordlist.length);
  const classes = CLASS_ORDER.filter((c) => rules.classes.includes(c));
  if (classes.length === 0) return 0;
  const length = Math.max(rules.length, MIN_PASSWORD_LENGTH, classes.length);
  const total = classes.reduce((n, c) => n + CLASS_ALPHABETS[c].length, 0);
  // count = Σ over subsets S of (-1)^(k-|S|) · |alphabet(S)|^L; computed as total^L · Σ (-1)^… (|S|/total)^L.
  let fraction = 0;
  for (let mask = 1; mask < 1 << classes.length; mask++) {
    const subset = classes.filter((_, i) => mask & (1 << i));
    const size = subset.reduce((n, c) => n + CLASS_ALPHABETS[c].length, 0);
    const sign = (classes.length - subset.length) % 2 === 0 ? 1 : -1;
    fraction += sign * (size / total) ** length;
  }
  return length * Math.log2(total) + Math.log2(fraction);
}

function describeClass(cls: CharacterClass): string {
  return { lower: 'lowercase letter', upper: 'uppercase letter', digit: 'digit', symbol: 'symbol' }[cls];
}
