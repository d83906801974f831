import type { Logger } from "pino";
import { ConfigError } from "../errors.js";
import { forEachManifestDocument } from "../manifests/parse.js";
import { DuplicateTracker, forEachManifestText, type InputProblem } from "../manifests/read.js";
import { summarizeNamespace, type NamespaceSummary } from "../namespaces/source.js";
import {
  summarizeAutoscaler,
  summarizePerPodService,
  summarizeService,
  summarizeStatefulSet,
  type AutoscalerSummary,
  type PerPodServiceSummary,
  type ServiceSummary,
  type StatefulSetSummary,
} from "../policy/index.js";
import { createStaticSource, type StatefulSetSource } from "./source.js";

export interface ManifestSourceOptions {
  /** Relative paths are resolved against it, and files are named relative to it. */
  readonly cwd: string;
  readonly logger: Logger;
  /** Namespace of objects without one, as kubectl's current namespace. Default `default`. */
  readonly defaultNamespace?: string;
}

/** A fixed source that also says what it holds (the start banner's example uses it). */
export interface ManifestSource extends StatefulSetSource {
  readonly statefulSets: readonly StatefulSetSummary[];
  /** Namespace objects among the manifests: their labels select namespace rules and exemptions. */
  readonly namespaces: readonly NamespaceSummary[];
}

/**
 * `serve --manifests DIR`: the StatefulSets, per-pod Services and autoscalers (HPAs, KEDA
 * ScaledObjects) in a directory of manifests, read once at start. A file that does not parse fails startup (ConfigError naming file:line):
 * a webhook that silently ignored half its StatefulSets would deny valid Services.
 * Each YAML document is summarised as it is parsed and its tree dropped before the next: only
 * the summaries stay, so memory does not grow with the parse of the whole directory.
 */
export async function createManifestSource(
  dir: string,
  options: ManifestSourceOptions,
): Promise<ManifestSource> {
  const defaultNamespace = options.defaultNamespace ?? "default";
  const statefulSets: StatefulSetSummary[] = [];
  const services: PerPodServiceSummary[] = [];
  const allServices: ServiceSummary[] = [];
  const namespaces: NamespaceSummary[] = [];
  const autoscalers: AutoscalerSummary[] = [];
  const parseProblems: InputProblem[] = [];
  const duplicates = new DuplicateTracker();
  let files = 0;
  const pathProblems = await forEachManifestText([dir], { cwd: options.cwd }, (input) => {
    let objects = 0;
    const problems = forEachManifestDocument(input.text, input, defaultNamespace, (doc) => {
      objects += 1;
      duplicates.add(doc);
      const anyService = summarizeService(doc.object, defaultNamespace);
      if (anyService) allServices.push(anyService);
      const namespace = summarizeNamespace(doc.object);
      if (namespace) namespaces.push(namespace);
      const sts = summarizeStatefulSet(doc.object, defaultNamespace);
      if (sts) statefulSets.push(sts);
      const service = summarizePerPodService(doc.object, defaultNamespace);
      if (service) services.push(service);
      const autoscaler = summarizeAutoscaler(doc.object, defaultNamespace);
      if (autoscaler) autoscalers.push(autoscaler);
    });
    parseProblems.push(...problems);
    if (objects > 0) files += 1;
  });
  const problems = [...pathProblems, ...parseProblems, ...duplicates.problems];
  const errors = problems.filter((p) => p.severity === "error");
  if (errors.length > 0) {
    throw new ConfigError(`--manifests ${dir}: ${errors.map(formatProblem).join("; ")}`);
  }
  for (const problem of problems) {
    options.logger.warn({ file: problem.file, line: problem.line }, formatProblem(problem));
  }
  options.logger.info(
    {
      manifests: dir,
      files,
      statefulSets: statefulSets.map((s) => `${s.namespace}/${s.name}`),
      perPodServices: services.length,
      namespaces: namespaces.map((ns) => ns.name),
      autoscalers: autoscalers.map((a) => `${a.namespace}/${a.name}`),
    },
    "read StatefulSets from manifests",
  );
  if (statefulSets.length === 0) {
    options.logger.warn(
      { manifests: dir },
      "no StatefulSet in the manifests: every per-pod Service will get statefulset-not-found",
    );
  }
  const source = createStaticSource(statefulSets, services, allServices, autoscalers);
  return {
    ...source,
    // Joined with their autoscalers, as the source answers them (the start banner's example).
    statefulSets: statefulSets.map((sts) => {
      const found = source.lookupCached(sts.namespace, sts.name);
      return found?.status === "found" ? found.statefulSet : sts;
    }),
    namespaces,
  };
}

function formatProblem(problem: InputProblem): string {
  const where = [problem.file, problem.line, problem.column].filter((x) => x !== undefined);
  return `${where.join(":")}: ${problem.message}`;
}
