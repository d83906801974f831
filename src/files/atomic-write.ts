import { randomBytes } from "node:crypto";
import * as fsPromises from "node:fs/promises";
import path from "node:path";

/** The file system calls an atomic write makes; tests pass one that fails on purpose. */
export interface WriteFs {
  realpath(file: string): Promise<string>;
  stat(file: string): Promise<{ mode: number }>;
  /** Creates `file` (failing if it exists), writes `data` and flushes it to disk. */
  writeNewFile(file: string, data: string, mode: number): Promise<void>;
  chmod(file: string, mode: number): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(file: string): Promise<void>;
}

export const nodeWriteFs: WriteFs = {
  realpath: (file) => fsPromises.realpath(file),
  stat: (file) => fsPromises.stat(file),
  writeNewFile: async (file, data, mode) => {
    const handle = await fsPromises.open(file, "wx", mode);
    try {
      await handle.writeFile(data, "utf8");
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
  chmod: (file, mode) => fsPromises.chmod(file, mode),
  rename: (from, to) => fsPromises.rename(from, to),
  unlink: (file) => fsPromises.unlink(file),
};

/**
 * Replaces a file's content all at once: writes a temporary file beside it (same directory,
 * so the same file system) and renames it over the original. Readers see the old or the new
 * content, never a part; when anything fails the original is untouched and the temporary file
 * removed. Without `options.mode` the file must exist and keeps its permission bits, and a
 * symbolic link keeps pointing at its target, which is the file replaced. With `options.mode`
 * the file may be new and gets exactly that mode.
 */
export async function writeFileAtomic(
  file: string,
  data: string,
  options: { mode?: number; fs?: WriteFs } = {},
): Promise<void> {
  const fs = options.fs ?? nodeWriteFs;
  const target = options.mode === undefined ? await fs.realpath(file) : file;
  const mode = (options.mode ?? (await fs.stat(target)).mode) & 0o7777;
  const temp = path.join(
    path.dirname(target),
    `.${path.basename(target).slice(0, 200)}.stsguard-${randomBytes(6).toString("hex")}.tmp`,
  );
  try {
    await fs.writeNewFile(temp, data, mode);
    // The umask may have narrowed the mode given to open(2).
    await fs.chmod(temp, mode);
    await fs.rename(temp, target);
  } catch (error: unknown) {
    await fs.unlink(temp).catch(() => undefined);
    throw error;
  }
}
