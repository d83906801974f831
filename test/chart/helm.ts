import { execFileSync, spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

/** Runs the real helm (3.17, unpacked from node_modules by scripts/install-tool.mjs). */

export const CHART_DIR = fileURLToPath(new URL("../../charts/stsguard", import.meta.url));
const INSTALLER = fileURLToPath(new URL("../../scripts/install-tool.mjs", import.meta.url));

export const RELEASE = "guard";
export const NAMESPACE = "stsguard-system";
/** `<release>-<chart>`: what every resource of the default render is named. */
export const FULLNAME = `${RELEASE}-stsguard`;

export interface ObjectMeta {
  readonly name: string;
  readonly namespace?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** One rendered document; tests narrow it with a kubernetes-models type guard. */
export interface Manifest {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: ObjectMeta;
  readonly [field: string]: unknown;
}

export type Values = Readonly<Record<string, unknown>>;

export interface RenderOptions {
  readonly values?: Values;
  /** Another copy of the chart (tests that must add a template); CHART_DIR by default. */
  readonly chartDir?: string;
  /** More `helm template` flags, e.g. `--dry-run=server --kubeconfig F` to make lookup work. */
  readonly extraArgs?: readonly string[];
  readonly namespace?: string;
  readonly release?: string;
}

export type RenderResult =
  | { readonly ok: true; readonly text: string; readonly objects: readonly Manifest[] }
  | { readonly ok: false; readonly error: string };

let helmBinary: string | undefined;

export function resolveHelm(): string {
  if (helmBinary === undefined) {
    const result = spawnSync(process.execPath, [INSTALLER, "helm"], { encoding: "utf8" });
    if (result.status !== 0) {
      throw new Error(
        `scripts/install-tool.mjs failed (${String(result.status)}): ${result.stderr}`,
      );
    }
    helmBinary = result.stdout.trim();
  }
  return helmBinary;
}

type HelmRun =
  { readonly ok: true; readonly stdout: string } | { readonly ok: false; readonly error: string };

/** helm with values as JSON on stdin (`-f -`); JSON is YAML, and nothing is written to disk. */
function runHelm(args: readonly string[], values: Values): HelmRun {
  try {
    const stdout = execFileSync(resolveHelm(), [...args, "-f", "-"], {
      input: JSON.stringify(values),
      encoding: "utf8",
      stdio: ["pipe", "pipe", "pipe"],
    });
    return { ok: true, stdout };
  } catch (error: unknown) {
    if (error instanceof Error && "stderr" in error && "stdout" in error) {
      return { ok: false, error: `${String(error.stdout)}${String(error.stderr)}` };
    }
    throw error;
  }
}

function templateArgs(options: RenderOptions): string[] {
  return [
    "template",
    options.release ?? RELEASE,
    options.chartDir ?? CHART_DIR,
    "--namespace",
    options.namespace ?? NAMESPACE,
    ...(options.extraArgs ?? []),
  ];
}

function toRenderResult(run: HelmRun): RenderResult {
  return run.ok ? { ok: true, text: run.stdout, objects: parseManifests(run.stdout) } : run;
}

export function tryRenderChart(options: RenderOptions = {}): RenderResult {
  return toRenderResult(runHelm(templateArgs(options), options.values ?? {}));
}

/**
 * Like tryRenderChart, but without blocking the event loop: for tests that serve helm an API
 * (lookup) from this same process.
 */
export async function tryRenderChartAsync(options: RenderOptions = {}): Promise<RenderResult> {
  const args = [...templateArgs(options), "-f", "-"];
  const child = spawn(resolveHelm(), args, { stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  child.stdin.end(JSON.stringify(options.values ?? {}));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", resolve);
  });
  return toRenderResult(code === 0 ? { ok: true, stdout } : { ok: false, error: stdout + stderr });
}

/** `helm template` parsed into objects; throws with helm's message when rendering fails. */
export function renderChart(options: RenderOptions = {}): readonly Manifest[] {
  const result = tryRenderChart(options);
  if (!result.ok) throw new Error(`helm template failed: ${result.error}`);
  return result.objects;
}

export function lintChart(values: Values = {}): { readonly ok: boolean; readonly output: string } {
  const result = runHelm(["lint", "--strict", CHART_DIR, "--namespace", NAMESPACE], values);
  return result.ok ? { ok: true, output: result.stdout } : { ok: false, output: result.error };
}

export function parseManifests(text: string): Manifest[] {
  return parseAllDocuments(text).flatMap((doc) => {
    if (doc.errors.length > 0)
      throw new Error(`rendered YAML does not parse: ${doc.errors[0]?.message ?? ""}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) return [];
    if (!isManifest(value))
      throw new Error(`rendered document is not an object: ${JSON.stringify(value)}`);
    return [value];
  });
}

function isManifest(value: unknown): value is Manifest {
  if (typeof value !== "object" || value === null) return false;
  const { apiVersion, kind, metadata } = value as Record<string, unknown>;
  return (
    typeof apiVersion === "string" &&
    typeof kind === "string" &&
    typeof metadata === "object" &&
    metadata !== null &&
    typeof (metadata as Record<string, unknown>)["name"] === "string"
  );
}

/** A kubernetes-models `is` guard, e.g. `Deployment.is`. */
export type KindGuard<T> = (value: unknown) => value is T;

export function findObjects<T>(objects: readonly Manifest[], is: KindGuard<T>): T[] {
  return objects.filter((object): object is Manifest & T => is(object));
}

/** The one object of a kind; throws when there is none or more than one. */
export function findObject<T>(objects: readonly Manifest[], is: KindGuard<T>): T {
  const found = findObjects(objects, is);
  if (found.length !== 1) {
    const kinds = objects.map((o) => o.kind).join(", ");
    throw new Error(`expected exactly one matching object, found ${found.length} among ${kinds}`);
  }
  return found[0] as T;
}

export function findByKind(objects: readonly Manifest[], kind: string): Manifest[] {
  return objects.filter((object) => object.kind === kind);
}
