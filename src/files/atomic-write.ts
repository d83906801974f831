import { randomBytes } from "node:crypto";
import * as fsPromises from "node:fs/promises";
import path from "node:path";

/** The file system calls an atomic write makes; tests pass one that fails on purpose. */
export interface WriteFs {
  /** Does not follow a symbolic link: the link itself is what it describes. */
  lstat(file: string): Promise<{ mode: number; isSymbolicLink(): boolean }>;
  /** Creates `file` (failing if it exists), writes `data` and flushes it to disk. */
  writeNewFile(file: string, data: string, mode: number): Promise<void>;
  chmod(file: string, mode: number): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(file: string): Promise<void>;
}

export const nodeWriteFs: WriteFs = {
  lstat: (file) => fsPromises.lstat(file),
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
 * removed. Without `options.mode` the file must exist and keeps its permission bits; a symbolic
 * link is refused (writing its target would write wherever the link points, outside the files
 * the caller was given). With `options.mode` the file may be new and gets exactly that mode; a
 * link of that name is replaced by the file, never written through.
 */
export async function writeFileAtomic(
  file: string,
  data: string,
  options: { mode?: number; fs?: WriteFs } = {},
): Promise<void> {
  const fs = options.fs ?? nodeWriteFs;
  let mode = options.mode;
  if (mode === undefined) {
    const info = await fs.lstat(file);
    if (info.isSymbolicLink()) {
      throw new Error(`${file} is a symbolic link; only regular files are rewritten`);
    }
    mode = info.mode;
  }
  mode &= 0o7777;
  const temp = path.join(
    path.dirname(file),
    `.${path.basename(file).slice(0, 200)}.stsguard-${randomBytes(6).toString("hex")}.tmp`,
  );
  try {
    await fs.writeNewFile(temp, data, mode);
    // The umask may have narrowed the mode given to open(2).
    await fs.chmod(temp, mode);
    await fs.rename(temp, file);
  } catch (error: unknown) {
    await fs.unlink(temp).catch(() => undefined);
    throw error;
  }
}
