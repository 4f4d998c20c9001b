/** Cursors are opaque to clients: the last id of a page, in base64url. */
export function encodeCursor(lastId: string): string {
  return Buffer.from(lastId).toString("base64url");
}

/** The id a cursor stands for, or null for a cursor this service did not make. */
export function decodeCursor(cursor: string): string | null {
  const id = Buffer.from(cursor, "base64url").toString();
  return /^[0-9a-f-]{36}$/.test(id) ? id : null;
}
