import { FormatRegistry, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';

/** String formats used by protocol schemas (TypeBox checks none by itself). */
const FORMATS: Record<string, (value: string) => boolean> = {
  uuid: (v) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v),
  'date-time': (v) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(v) && !Number.isNaN(Date.parse(v)),
};
for (const [name, check] of Object.entries(FORMATS)) if (!FormatRegistry.Has(name)) FormatRegistry.Set(name, check);

/** Thrown when a value does not match its schema; `message` names the first offending path. */
export class SchemaError extends Error {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(message);
    this.name = 'SchemaError';
  }
}

export interface Validator<T extends TSchema> {
  check(value: unknown): value is Static<T>;
  /** Returns the value typed, or throws SchemaError naming what was wrong. */
  parse(value: unknown): Static<T>;
}

/** Compiles a schema once; `parse` is then cheap enough for every message on the wire. */
export function compile<T extends TSchema>(schema: T): Validator<T> {
  const checker: TypeCheck<T> = TypeCompiler.Compile(schema);
  return {
    check: (value): value is Static<T> => checker.Check(value),
    parse(value) {
      if (checker.Check(value)) return value;
      const first = checker.Errors(value).First();
      const path = first?.path || '/';
      throw new SchemaError(`${path}: ${first?.message ?? 'invalid value'}`, path);
    },
  };
}
