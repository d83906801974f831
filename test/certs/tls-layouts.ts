import { mkdir, rename, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";

export interface PemPair {
  readonly cert: string;
  readonly key: string;
}

/** A directory holding tls.crt and tls.key, and a way to replace both the way a real system does. */
export interface TlsLayout {
  readonly certFile: string;
  readonly keyFile: string;
  install(pair: PemPair): Promise<void>;
}

export type TlsLayoutName = "kubernetes-secret-volume" | "renamed-files";

export function createTlsLayout(name: TlsLayoutName, dir: string): TlsLayout {
  switch (name) {
    case "kubernetes-secret-volume":
      return createSecretVolumeLayout(dir);
    case "renamed-files":
      return createRenamedFilesLayout(dir);
  }
}

/**
 * What the kubelet does (AtomicWriter): files live in a timestamped `..<ts>` directory,
 * `..data` links to it and tls.crt / tls.key link through `..data`. An update writes a new
 * directory, points `..data_tmp` at it and renames that over `..data` in one step.
 */
function createSecretVolumeLayout(dir: string): TlsLayout {
  let generation = 0;
  let current: string | null = null;
  return {
    certFile: join(dir, "tls.crt"),
    keyFile: join(dir, "tls.key"),
    async install(pair: PemPair): Promise<void> {
      generation += 1;
      const next = `..2025_01_01_00_00_${generation.toString().padStart(2, "0")}`;
      await mkdir(join(dir, next));
      await writeFile(join(dir, next, "tls.crt"), pair.cert, { mode: 0o644 });
      await writeFile(join(dir, next, "tls.key"), pair.key, { mode: 0o600 });
      await symlink(next, join(dir, "..data_tmp"));
      await rename(join(dir, "..data_tmp"), join(dir, "..data"));
      if (current === null) {
        await symlink(join("..data", "tls.crt"), join(dir, "tls.crt"));
        await symlink(join("..data", "tls.key"), join(dir, "tls.key"));
      } else {
        await rm(join(dir, current), { recursive: true });
      }
      current = next;
    },
  };
}

/** An operator or script replacing each file with `mv` of a complete temporary file. */
function createRenamedFilesLayout(dir: string): TlsLayout {
  const certFile = join(dir, "tls.crt");
  const keyFile = join(dir, "tls.key");
  return {
    certFile,
    keyFile,
    async install(pair: PemPair): Promise<void> {
      await writeFile(`${keyFile}.new`, pair.key, { mode: 0o600 });
      await writeFile(`${certFile}.new`, pair.cert);
      await rename(`${keyFile}.new`, keyFile);
      await rename(`${certFile}.new`, certFile);
    },
  };
}
