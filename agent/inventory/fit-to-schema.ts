import type { Static, TSchema } from '@sinclair/typebox';

/**
 * Bends a collected value into the shape a (TypeBox / JSON) schema allows, using the schema's own limits, so the
 * limits are written once in protocol/ and not copied here:
 *
 * - strings are trimmed and cut to `maxLength` (never splitting a surrogate pair); an empty string becomes null
 *   where null is allowed,
 * - arrays are capped at `maxItems`; objects keep only the schema's properties,
 * - integers are rounded and numbers clamped to `minimum`; a non-finite number becomes null where allowed.
 *
 * It repairs what the OS hands us (padding, absurd lengths, NaN); it does not invent fields — the caller still
 * validates the result.
 */
interface JsonSchema {
  type?: string;
  const?: unknown;
  anyOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  maxItems?: number;
  maxLength?: number;
  minimum?: number;
}

export function fitToSchema<T extends TSchema>(schema: T, value: unknown): Static<T> {
  return fit(schema as JsonSchema, value) as Static<T>;
}

function fit(schema: JsonSchema, value: unknown): unknown {
  if (schema.anyOf) return fitUnion(schema.anyOf, value);
  if (schema.const !== undefined) return value;
  switch (schema.type) {
    case 'string':
      return fitString(schema, value) ?? '';
    case 'integer':
    case 'number':
      return fitNumber(schema, value) ?? schema.minimum ?? 0;
    case 'array': {
      const items = Array.isArray(value) ? value : [];
      const capped = schema.maxItems === undefined ? items : items.slice(0, schema.maxItems);
      return schema.items ? capped.map((item) => fit(schema.items as JsonSchema, item)) : capped;
    }
    case 'object': {
      const source = value && typeof value === 'object' ? (value as Record<string, unknown>) : {};
      const out: Record<string, unknown> = {};
      for (const [key, propSchema] of Object.entries(schema.properties ?? {})) out[key] = fit(propSchema, source[key]);
      return out;
    }
    default:
      return value;
  }
}

function fitUnion(members: JsonSchema[], value: unknown): unknown {
  const nullable = members.some((m) => m.type === 'null');
  if (value === null || value === undefined) return nullable ? null : value;
  // Literal unions (platform, kind, source...) are passed through for validation to judge.
  const plain = members.find((m) => m.type !== 'null' && m.const === undefined && !m.anyOf);
  if (!plain) return value;
  if (plain.type === 'string') {
    const s = fitString(plain, value);
    return s === null || (s === '' && nullable) ? (nullable ? null : '') : s;
  }
  if (plain.type === 'number' || plain.type === 'integer') {
    const n = fitNumber(plain, value);
    return n === null ? (nullable ? null : (plain.minimum ?? 0)) : n;
  }
  return fit(plain, value);
}

function fitString(schema: JsonSchema, value: unknown): string | null {
  if (value === null || value === undefined) return null;
  let s = String(value).trim();
  if (schema.maxLength !== undefined && s.length > schema.maxLength) {
    s = s.slice(0, schema.maxLength);
    // A lone high surrogate at the cut would make the string invalid UTF-16.
    if (/[\uD800-\uDBFF]$/.test(s)) s = s.slice(0, -1);
  }
  return s;
}

function fitNumber(schema: JsonSchema, value: unknown): number | null {
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() ? Number(value) : NaN;
  if (!Number.isFinite(n)) return null;
  const whole = schema.type === 'integer' ? Math.round(n) : n;
  return schema.minimum !== undefined ? Math.max(schema.minimum, whole) : whole;
}
