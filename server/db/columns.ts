import { customType, timestamp } from 'drizzle-orm/pg-core';

/** Column types every schema file shares. */
export const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType: () => 'bytea',
  fromDriver: (value) => new Uint8Array(value),
});
export const at = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });
