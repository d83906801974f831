import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Just enough of a kube-apiserver for Helm's `lookup` of core/v1 Secrets: the discovery of
 * /api/v1 and GET of one Secret. Lets `helm template --dry-run=server` see "the cluster".
 */
export interface FakeApiServer {
  readonly kubeconfig: string;
  /** Paths helm requested, in order. */
  readonly requests: readonly string[];
  close(): Promise<void>;
}

export type StoredObjects = ReadonlyMap<string, unknown>;

const API_V1_RESOURCES = {
  kind: "APIResourceList",
  apiVersion: "v1",
  groupVersion: "v1",
  resources: [
    { name: "secrets", singularName: "secret", namespaced: true, kind: "Secret", verbs: ["get"] },
  ],
};

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { "content-type": "application/json" });
  response.end(JSON.stringify(body));
}

/** `objects` maps an API path (e.g. /api/v1/namespaces/ns/secrets/name) to the object there. */
export async function startFakeApiServer(objects: StoredObjects): Promise<FakeApiServer> {
  const requests: string[] = [];
  const server = createServer((request, response) => {
    const path = (request.url ?? "").split("?")[0] ?? "";
    requests.push(`${request.method ?? ""} ${path}`);
    if (request.method === "GET" && path === "/api/v1") {
      sendJson(response, 200, API_V1_RESOURCES);
    } else if (request.method === "GET" && objects.has(path)) {
      sendJson(response, 200, objects.get(path));
    } else {
      sendJson(response, 404, {
        kind: "Status",
        apiVersion: "v1",
        status: "Failure",
        reason: "NotFound",
        code: 404,
        message: `${path} not found`,
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const dir = mkdtempSync(join(tmpdir(), "stsguard-fake-api-"));
  const kubeconfig = join(dir, "kubeconfig");
  writeFileSync(
    kubeconfig,
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      "  - name: fake",
      `    cluster: { server: "http://127.0.0.1:${String(port)}" }`,
      "users:",
      "  - name: fake",
      "    user: { token: fake }",
      "contexts:",
      "  - name: fake",
      "    context: { cluster: fake, user: fake }",
      "current-context: fake",
      "",
    ].join("\n"),
  );
  return {
    kubeconfig,
    requests,
    close: async () => {
      rmSync(dir, { recursive: true, force: true });
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => {
        server.close((error) => {
          if (error) reject(error);
          else resolve();
        });
      });
    },
  };
}
