/**
 * Writes `audit`'s policy reports: for each namespace judged, create or update (in place, with
 * the stored resourceVersion) the report named `stsguard`, and delete stsguard's report where
 * a namespace has no results left. Before any write it checks that the API server serves the
 * report resource at all (the CRD is installed), so a missing CRD writes nothing.
 */
import { ConfigError, LookupError } from "../errors.js";
import { describeApiFailure, readListPage } from "../kube/api-objects.js";
import {
  describeRequestFailure,
  type KubeJsonResponse,
  type KubeWriteBody,
  type KubeTransport,
} from "../kube/client.js";
import { isJsonMap, readMap, readString } from "../policy/raw-object.js";
import {
  MANAGED_BY_LABEL,
  REPORT_NAME,
  type PolicyReportBody,
  type ReportResource,
} from "./build.js";

export interface WriteReportsOptions {
  readonly resource: ReportResource;
  /** The namespaces audit judged; empty: all. Reports elsewhere are left alone. */
  readonly namespaces: readonly string[];
  readonly timeoutMs?: number;
}

export interface WriteSummary {
  readonly created: readonly string[];
  readonly updated: readonly string[];
  readonly deleted: readonly string[];
  /** Namespaces whose write failed, with why; the others were written. */
  readonly failed: readonly { readonly namespace: string; readonly reason: string }[];
}

const DEFAULT_TIMEOUT_MS = 30_000;
// An update that meets a concurrent change re-reads and tries again, a few times.
const CONFLICT_RETRIES = 3;

/**
 * Throws ConfigError when the report resource is not served (the CRD is not installed) and
 * LookupError when the API server cannot be asked; nothing is written then.
 */
export async function writeReports(
  transport: KubeTransport,
  reports: readonly PolicyReportBody[],
  options: WriteReportsOptions,
): Promise<WriteSummary> {
  const { resource } = options;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const call = async (
    what: string,
    send: () => Promise<KubeJsonResponse>,
  ): Promise<KubeJsonResponse> => {
    try {
      return await send();
    } catch (error: unknown) {
      throw new LookupError(`${what}: ${describeRequestFailure(error)}`, { cause: error });
    }
  };
  await checkReportsServed(transport, resource, timeoutMs);
  const existing = await listOwnReports(transport, options, timeoutMs, call);

  const base = `/apis/${resource.group}/${resource.version}`;
  const objectPath = (namespace: string): string =>
    `${base}/namespaces/${encodeURIComponent(namespace)}/${resource.plural}/${REPORT_NAME}`;
  const created: string[] = [];
  const updated: string[] = [];
  const deleted: string[] = [];
  const failed: { namespace: string; reason: string }[] = [];

  for (const report of reports) {
    const namespace = report.metadata.namespace;
    try {
      const outcome = await putReport(report, existing.get(namespace), {
        create: (body) =>
          call(`create ${namespace}/${REPORT_NAME}`, () =>
            transport.sendJson(
              "POST",
              `${base}/namespaces/${encodeURIComponent(namespace)}/${resource.plural}`,
              {},
              asJson(body),
              { timeoutMs },
            ),
          ),
        replace: (body) =>
          call(`update ${namespace}/${REPORT_NAME}`, () =>
            transport.sendJson("PUT", objectPath(namespace), {}, asJson(body), { timeoutMs }),
          ),
        read: () =>
          call(`read ${namespace}/${REPORT_NAME}`, () =>
            transport.getJson(objectPath(namespace), {}, { timeoutMs }),
          ),
      });
      (outcome === "created" ? created : updated).push(namespace);
    } catch (error: unknown) {
      failed.push({ namespace, reason: error instanceof Error ? error.message : String(error) });
    }
  }
  const keep = new Set(reports.map((r) => r.metadata.namespace));
  for (const namespace of [...existing.keys()].sort()) {
    if (keep.has(namespace)) continue;
    try {
      const answer = await call(`delete ${namespace}/${REPORT_NAME}`, () =>
        transport.sendJson("DELETE", objectPath(namespace), {}, null, { timeoutMs }),
      );
      // 404: deleted meanwhile, which is what was wanted.
      if (answer.status !== 200 && answer.status !== 202 && answer.status !== 404) {
        throw new LookupError(describeApiFailure(answer.status, answer.body));
      }
      deleted.push(namespace);
    } catch (error: unknown) {
      failed.push({ namespace, reason: error instanceof Error ? error.message : String(error) });
    }
  }
  return { created, updated, deleted, failed };
}

/**
 * Whether the API server serves the report resource (its CRD is installed). Throws ConfigError
 * when it does not, LookupError when it cannot tell. `audit` asks before it reads anything.
 */
export async function checkReportsServed(
  transport: KubeTransport,
  resource: ReportResource,
  timeoutMs = DEFAULT_TIMEOUT_MS,
): Promise<void> {
  const path = `/apis/${resource.group}/${resource.version}`;
  let answer: KubeJsonResponse;
  try {
    answer = await transport.getJson(path, {}, { timeoutMs });
  } catch (error: unknown) {
    throw new LookupError(`discovery ${path}: ${describeRequestFailure(error)}`, { cause: error });
  }
  const served =
    answer.status === 200 &&
    isJsonMap(answer.body) &&
    Array.isArray(answer.body["resources"]) &&
    answer.body["resources"].some(
      (r: unknown) =>
        readString(r, "name") === resource.plural && readString(r, "kind") === resource.kind,
    );
  if (served) return;
  if (answer.status === 200 || answer.status === 404) {
    throw new ConfigError(
      `${resource.kind} (${resource.plural}.${resource.group}/${resource.version}) is not served by ` +
        `the API server: install its CRD first; no report was written`,
    );
  }
  throw new LookupError(
    `cannot ask the API server whether it serves ${path}: ${describeApiFailure(answer.status, answer.body)}; no report was written`,
  );
}

/** stsguard's reports (by label and name) per namespace, with their resourceVersion. */
async function listOwnReports(
  transport: KubeTransport,
  options: WriteReportsOptions,
  timeoutMs: number,
  call: (what: string, send: () => Promise<KubeJsonResponse>) => Promise<KubeJsonResponse>,
): Promise<Map<string, string>> {
  const { resource } = options;
  const base = `/apis/${resource.group}/${resource.version}`;
  const scopes =
    options.namespaces.length > 0
      ? options.namespaces.map(
          (ns) => `${base}/namespaces/${encodeURIComponent(ns)}/${resource.plural}`,
        )
      : [`${base}/${resource.plural}`];
  const found = new Map<string, string>();
  for (const path of scopes) {
    let continueToken: string | undefined;
    do {
      const query = {
        // The name too: RBAC can then limit this list to `resourceNames: [stsguard]` (the API
        // server authorizes a list that selects one metadata.name as a request for that name),
        // so the audit ServiceAccount need not read other tools' reports.
        fieldSelector: `metadata.name=${REPORT_NAME}`,
        labelSelector: `${MANAGED_BY_LABEL}=stsguard`,
        limit: "500",
        continue: continueToken,
      };
      const answer = await call(`list ${path}`, () =>
        transport.getJson(path, query, { timeoutMs }),
      );
      const page = answer.status === 200 ? readListPage(answer.body) : null;
      if (!page) {
        throw new LookupError(
          `cannot list ${path}: the API server answered ${describeApiFailure(answer.status, answer.body)}; no report was written`,
        );
      }
      for (const item of page.items) {
        const metadata = readMap(item, "metadata");
        const namespace = readString(metadata, "namespace");
        const resourceVersion = readString(metadata, "resourceVersion");
        if (readString(metadata, "name") === REPORT_NAME && namespace && resourceVersion) {
          found.set(namespace, resourceVersion);
        }
      }
      continueToken = page.continueToken;
    } while (continueToken);
  }
  return found;
}

interface ReportCalls {
  create(body: unknown): Promise<KubeJsonResponse>;
  replace(body: unknown): Promise<KubeJsonResponse>;
  read(): Promise<KubeJsonResponse>;
}

/** Create, or replace in place; a 409 (changed or created meanwhile) re-reads and retries. */
async function putReport(
  report: PolicyReportBody,
  resourceVersion: string | undefined,
  calls: ReportCalls,
): Promise<"created" | "updated"> {
  let current = resourceVersion;
  for (let attempt = 0; attempt <= CONFLICT_RETRIES; attempt++) {
    if (current === undefined) {
      const answer = await calls.create(report);
      if (answer.status === 201 || answer.status === 200) return "created";
      if (answer.status !== 409)
        throw new LookupError(describeApiFailure(answer.status, answer.body));
    } else {
      const body = { ...report, metadata: { ...report.metadata, resourceVersion: current } };
      const answer = await calls.replace(body);
      if (answer.status === 200) return "updated";
      if (answer.status !== 409 && answer.status !== 404) {
        throw new LookupError(describeApiFailure(answer.status, answer.body));
      }
    }
    const stored = await calls.read();
    const metadata = stored.status === 200 ? readMap(stored.body, "metadata") : undefined;
    // A report of that name that stsguard did not label is another producer's: never replace it.
    if (metadata !== undefined && readMap(metadata, "labels")?.[MANAGED_BY_LABEL] !== "stsguard") {
      throw new LookupError(
        `${report.metadata.namespace}/${REPORT_NAME} exists but is not stsguard's ` +
          `(no label ${MANAGED_BY_LABEL}=stsguard); left alone`,
      );
    }
    current = metadata === undefined ? undefined : readString(metadata, "resourceVersion");
  }
  throw new LookupError(
    `${report.metadata.namespace}/${REPORT_NAME} kept changing under us (${CONFLICT_RETRIES + 1} conflicts)`,
  );
}

function asJson(value: unknown): KubeWriteBody {
  return { contentType: "application/json", value };
}
