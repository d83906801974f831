/**
 * Checks rendered objects against the Kubernetes API types of one Kubernetes version, as the API
 * server's strict decoding does: an unknown field anywhere, or a value of the wrong type, is an
 * error. The types come from the `kubernetes-types` package, one devDependency alias per version
 * (`kubernetes-types-1.26`, ...): each object becomes a typed object literal in a program that
 * the TypeScript compiler checks, and its excess-property check is the unknown-field check.
 * kubernetes-models cannot do this: it ships one version, and its schemas allow unknown fields.
 */
import path from "node:path";
import ts from "typescript";
import type { Manifest } from "./helm.js";

export interface TypedObject {
  /** Names the object in the errors, e.g. `1.26: ValidatingWebhookConfiguration guard-stsguard`. */
  readonly label: string;
  /** The package alias holding the version's types, e.g. `kubernetes-types-1.26`. */
  readonly typesPackage: string;
  readonly object: Manifest;
}

/** `apps/v1` → `apps/v1`, `v1` → `core/v1`, `rbac.authorization.k8s.io/v1` → `rbac/v1`. */
function typesModule(apiVersion: string): string {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  return `${group === "" ? "core" : ((group ?? "").split(".")[0] ?? "")}/${version ?? ""}`;
}

/**
 * kubernetes-types leaves out the fields that Go inlines from an embedded struct: its
 * RuleWithOperations has `operations`, `apiGroups` and `apiVersions` but not `resources` and
 * `scope`, which come from the embedded `Rule` (`Rule \`json:",inline"\`` in
 * k8s.io/api/admissionregistration/v1). Put them back, as the API server decodes them.
 */
function inlineRuleFields(typesPackage: string): string {
  const module = JSON.stringify(`${typesPackage}/admissionregistration/v1`);
  return (
    `declare module ${module} {\n` +
    `  interface RuleWithOperations { resources?: Array<string>; scope?: string }\n` +
    `}\n`
  );
}

/** Every compiler error, as `<label>: <message>`; empty when every object fits its types. */
export function checkAgainstKubernetesTypes(objects: readonly TypedObject[]): string[] {
  // Inside the repository, so that the packages resolve from its node_modules.
  const fileName = path.resolve(import.meta.dirname, "__rendered-objects__.ts");
  const starts: { offset: number; label: string }[] = [];
  let source = [...new Set(objects.map((o) => o.typesPackage))].map(inlineRuleFields).join("");
  objects.forEach(({ label, typesPackage, object }, index) => {
    const typeName = `T${index}`;
    const from = `${typesPackage}/${typesModule(object.apiVersion)}`;
    starts.push({ offset: source.length, label });
    source += `import type { ${object.kind} as ${typeName} } from ${JSON.stringify(from)};\n`;
    source += `export const o${index}: ${typeName} = ${JSON.stringify(object, null, 1)};\n`;
  });

  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ["lib.es2022.d.ts"],
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, languageVersion, ...rest) =>
    name === fileName
      ? ts.createSourceFile(name, source, languageVersion)
      : getSourceFile(name, languageVersion, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === fileName || fileExists(name);

  const program = ts.createProgram({ rootNames: [fileName], options, host });
  return ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, " ");
    const at = diagnostic.start ?? 0;
    const label = starts.findLast((start) => start.offset <= at)?.label ?? "(imports)";
    return `${label}: ${message}`;
  });
}
