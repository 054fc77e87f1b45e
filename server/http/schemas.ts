import { Type, type TSchema } from '@sinclair/typebox';

/** Schemas shared by many routes. */
export const ErrorBody = Type.Object({ error: Type.Object({ code: Type.String(), message: Type.String() }) });
export const Email = Type.String({ format: 'email', minLength: 3, maxLength: 254 });
export const Uuid = Type.String({ format: 'uuid' });
export const IdParams = Type.Object({ id: Uuid });
/** Dates leave the server as ISO-8601 strings (fast-json-stringify serializes Date values). */
export const Timestamp = Type.Unsafe<Date | string>({ type: 'string', format: 'date-time' });
export const Name = Type.String({ minLength: 1, maxLength: 200, pattern: '\\S' });
export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
