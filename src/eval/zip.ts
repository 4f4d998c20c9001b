import { inflateRawSync } from "node:zlib";

/*
 * Just enough of the ZIP format (PKWARE APPNOTE.TXT) to read a .npz: the end of central directory
 * record, the central directory, and entries stored or deflated, ZIP64 sizes and offsets included
 * (numpy writes its members with force_zip64).
 */

const EOCD = 0x06054b50;
const EOCD64_LOCATOR = 0x07064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

/** The members of a ZIP archive by name; each is inflated when asked for. */
export function readZip(bytes: Uint8Array): Map<string, () => Uint8Array> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (o: number) => view.getUint16(o, true);
  const u32 = (o: number) => view.getUint32(o, true);
  const u64 = (o: number) => Number(view.getBigUint64(o, true));
  // The record sits at the end, before a comment of at most 65535 bytes.
  let eocd = -1;
  for (let o = bytes.byteLength - 22; o >= Math.max(0, bytes.byteLength - 22 - 65535); o--) {
    if (u32(o) === EOCD) {
      eocd = o;
      break;
    }
  }
  if (eocd < 0) throw new Error("not a ZIP archive (no end of central directory)");
  let count = u16(eocd + 10);
  let offset = u32(eocd + 16);
  if ((offset === 0xffffffff || count === 0xffff) && eocd >= 20 && u32(eocd - 20) === EOCD64_LOCATOR) {
    const record = u64(eocd - 20 + 8);
    count = u64(record + 32);
    offset = u64(record + 48);
  }
  const members = new Map<string, () => Uint8Array>();
  for (let i = 0; i < count; i++) {
    if (offset + 46 > bytes.byteLength || u32(offset) !== CENTRAL)
      throw new Error("damaged ZIP central directory");
    const method = u16(offset + 10);
    let compressed = u32(offset + 20);
    let size = u32(offset + 24);
    const nameLength = u16(offset + 28);
    const extraLength = u16(offset + 30);
    const commentLength = u16(offset + 32);
    let local = u32(offset + 42);
    const name = new TextDecoder().decode(bytes.subarray(offset + 46, offset + 46 + nameLength));
    // ZIP64 extra field: the 64-bit values of the fields saturated at 0xffffffff, in this order.
    for (let e = offset + 46 + nameLength; e + 4 <= offset + 46 + nameLength + extraLength; ) {
      const [id, length] = [u16(e), u16(e + 2)];
      if (id === 0x0001) {
        let at = e + 4;
        if (size === 0xffffffff) {
          size = u64(at);
          at += 8;
        }
        if (compressed === 0xffffffff) {
          compressed = u64(at);
          at += 8;
        }
        if (local === 0xffffffff) local = u64(at);
      }
      e += 4 + length;
    }
    members.set(name, () => member(bytes, { name, method, compressed, size, local }));
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return members;
}

interface Entry {
  name: string;
  method: number;
  compressed: number;
  size: number;
  local: number;
}

function member(bytes: Uint8Array, e: Entry): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (e.local + 30 > bytes.byteLength || view.getUint32(e.local, true) !== LOCAL)
    throw new Error(`damaged ZIP member ${e.name}`);
  const start = e.local + 30 + view.getUint16(e.local + 26, true) + view.getUint16(e.local + 28, true);
  const data = bytes.subarray(start, start + e.compressed);
  if (data.byteLength !== e.compressed) throw new Error(`ZIP member ${e.name} is cut short`);
  if (e.method === 0) return data;
  if (e.method === 8) return new Uint8Array(inflateRawSync(data));
  throw new Error(
    `ZIP member ${e.name} uses compression method ${e.method}; save with np.savez or np.savez_compressed`,
  );
}
