/**
 * One webhook test file's world: a real 1.26 control plane, the chart's RBAC, `stsguard serve`
 * running as the chart's ServiceAccount, and the chart's two webhook configurations pointed at it.
 * Then kubectl as the users of the cluster would run it, with helpers that return what they saw.
 */
import { afterAll, beforeAll } from "vitest";
import type { Manifest, Values } from "../../chart/helm.js";
import { installRbac, installWebhooks, waitForWebhooks } from "./chart.js";
import { startCluster, type Cluster, type CommandResult, type KubectlOptions } from "./cluster.js";
import { errorsOf, warningsOf, type Json } from "./objects.js";
import { startServe, type ServeProcess } from "./stsguard.js";

export interface WebhookWorld {
  readonly api: Cluster;
  /** The kubeconfig of the chart's ServiceAccount, which serve runs with. */
  readonly kubeconfig: string;
  serve: ServeProcess;
  readonly configurations: readonly Manifest[];
  stop(): Promise<void>;
}

export interface WebhookWorldOptions {
  /** serve's configuration file (default: none, built-in defaults). */
  readonly config?: string | object;
  /** Chart values for the RBAC and webhook configurations. */
  readonly values?: Values;
  /** Namespaces to create first, with their labels; the first one probes the webhooks. */
  readonly namespaces: Readonly<Record<string, Readonly<Record<string, string>>>>;
  readonly controllerManager?: boolean;
}

/**
 * A test file's webhook world: started before its tests (then `setup` runs on it), stopped after
 * them. Returns the getter the tests read it through, which throws when it did not start.
 */
export function useWebhookWorld(
  options: WebhookWorldOptions,
  setup?: (world: WebhookWorld) => Promise<void>,
): () => WebhookWorld {
  let world: WebhookWorld | undefined;
  beforeAll(async () => {
    world = await startWebhookWorld(options);
    await setup?.(world);
  });
  afterAll(async () => {
    await world?.stop();
  });
  return () => {
    if (!world) throw new Error("the cluster did not start");
    return world;
  };
}

export async function startWebhookWorld(options: WebhookWorldOptions): Promise<WebhookWorld> {
  const api = await startCluster({ controllerManager: options.controllerManager ?? false });
  let serve: ServeProcess | undefined;
  try {
    const kubeconfig = await installRbac(api, options.values);
    serve = await startServe({
      kubeconfig,
      ...(options.config === undefined ? {} : { config: options.config }),
    });
    const configurations = await installWebhooks(api, serve, options.values);
    const names = Object.keys(options.namespaces);
    await api.apply(
      names.map((name) => ({
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name, labels: options.namespaces[name] },
      })),
    );
    const probe = names[0];
    if (probe === undefined) throw new Error("startWebhookWorld needs a namespace");
    await waitForWebhooks(api, probe);
    const started = serve;
    const world: WebhookWorld = {
      api,
      kubeconfig,
      serve: started,
      configurations,
      async stop() {
        await world.serve.stop();
        await api.stop();
      },
    };
    return world;
  } catch (error: unknown) {
    await serve?.stop();
    await api.stop();
    throw error;
  }
}

/** What kubectl answered: exit code, the warnings it printed, its error line, its output. */
export interface Outcome {
  readonly code: number | null;
  readonly warnings: readonly string[];
  /** Standard error without the warnings; "" on success. */
  readonly error: string;
  readonly stdout: string;
}

export function toOutcome(result: CommandResult): Outcome {
  return {
    code: result.code,
    warnings: warningsOf(result.stderr),
    error: errorsOf(result.stderr),
    stdout: result.stdout.trim(),
  };
}

/** kubectl with the object (JSON) on stdin; never throws on a non-zero exit. */
export async function kubectlWith(
  api: Cluster,
  args: readonly string[],
  object: Json | null,
  options: Omit<KubectlOptions, "input" | "allowFailure"> = {},
): Promise<Outcome> {
  return toOutcome(
    await api.kubectl(args, {
      ...options,
      ...(object === null ? {} : { input: JSON.stringify(object) }),
      allowFailure: true,
    }),
  );
}

/** The answer kubectl prints for a denial by stsguard's validating webhook. */
export function denied(message: string, verb: "creating" | "applying" | "none" = "none"): string {
  const prefix =
    verb === "none"
      ? "Error from server (Forbidden): "
      : `Error from server (Forbidden): error when ${verb} "STDIN": `;
  return `${prefix}admission webhook "validate.stsguard.io" denied the request: ${message}`;
}

/** The stored object with the fields a test compares: labels, and the spec as stored. */
export interface StoredService {
  readonly metadata: {
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
    readonly name: string;
  };
  readonly spec: {
    readonly type: string;
    readonly externalTrafficPolicy?: string;
    readonly selector: Readonly<Record<string, string>>;
    readonly ports: readonly Json[];
  };
}

/** Stands for what the API server allocates anew each time: cluster IPs and node ports. */
export const ASSIGNED = "<assigned>";

/**
 * A stored Service's spec with the allocated values replaced by ASSIGNED, so a test can compare
 * the whole spec, defaults included, with what it expects.
 */
export function comparableSpec(service: StoredService | null): Json | null {
  if (!service) return null;
  const spec: Json = { ...(service.spec as unknown as Json) };
  for (const key of ["clusterIP", "healthCheckNodePort"]) {
    if (key in spec) spec[key] = ASSIGNED;
  }
  if (Array.isArray(spec["clusterIPs"]))
    spec["clusterIPs"] = spec["clusterIPs"].map(() => ASSIGNED);
  if (Array.isArray(spec["ports"])) {
    spec["ports"] = (spec["ports"] as Json[]).map((port) =>
      "nodePort" in port ? { ...port, nodePort: ASSIGNED } : port,
    );
  }
  return spec;
}
