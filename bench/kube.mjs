// The real Kubernetes API server of the cluster benchmarks: a 1.26 control plane started by the
// workspace's cluster.sh (STSGUARD_K8S_DIR, default ../shared/k8s beside the repository, as
// vitest.e2e.config.ts finds it), a small JSON client for it, and the parallel creates that fill
// it with StatefulSets and per-pod Services.
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { join, resolve } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Where cluster.sh and the binaries are, as vitest.e2e.config.ts finds them. */
export function k8sDir(root) {
  return process.env.STSGUARD_K8S_DIR || resolve(root, "../shared/k8s");
}

/**
 * Node ports for 10,000 LoadBalancer Services with externalTrafficPolicy Local (two each: the
 * service port and the health check port); the default range holds 2,768. Nothing listens on
 * them: this control plane has no kube-proxy.
 */
const NODE_PORT_RANGE = "20000-52767";

/** Starts etcd and kube-apiserver under `dir`; resolves with the API client and a stop(). */
export async function startKubeCluster(root, dir) {
  const script = join(k8sDir(root), "cluster.sh");
  if (!existsSync(script)) {
    throw new Error(
      `no Kubernetes control plane at ${k8sDir(root)}: set STSGUARD_K8S_DIR to the folder holding cluster.sh`,
    );
  }
  const stop = async () => {
    await run("bash", [script, "down", dir]).catch(() => undefined);
  };
  try {
    await run("bash", [
      script,
      "up",
      dir,
      "--apiserver-flags",
      `--service-node-port-range=${NODE_PORT_RANGE}`,
    ]);
  } catch (error) {
    await stop();
    throw new Error(`cluster.sh up failed: ${error.stderr ?? error.message}`);
  }
  const env = Object.fromEntries(
    readFileSync(join(dir, "cluster.env"), "utf8")
      .split("\n")
      .filter((line) => line.includes("="))
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
  );
  const api = createApiClient({
    url: env.APISERVER_URL,
    ca: readFileSync(env.CA_FILE),
    token: env.ADMIN_TOKEN,
  });
  return { api, dir, caFile: env.CA_FILE, stop };
}

/**
 * JSON over HTTPS with a bearer token and kept-alive connections (at most `maxSockets`).
 * `call` resolves with { status, body } for any status; `must` throws unless 2xx.
 */
export function createApiClient({ url, ca, token, maxSockets = 64 }) {
  const { hostname, port } = new URL(url);
  const agent = new Agent({ keepAlive: true, maxSockets, ca });
  const call = (method, path, body) =>
    new Promise((resolvePromise, reject) => {
      const text = body === undefined ? undefined : JSON.stringify(body);
      const req = request(
        {
          host: hostname,
          port,
          path,
          method,
          agent,
          headers: {
            authorization: `Bearer ${token}`,
            accept: "application/json",
            ...(text === undefined
              ? {}
              : { "content-type": "application/json", "content-length": Buffer.byteLength(text) }),
          },
        },
        (res) => {
          const chunks = [];
          res.on("data", (chunk) => chunks.push(chunk));
          res.on("end", () => {
            const raw = Buffer.concat(chunks).toString("utf8");
            let parsed = raw;
            try {
              parsed = raw === "" ? null : JSON.parse(raw);
            } catch {
              // Not JSON: keep the text for the error message.
            }
            resolvePromise({ status: res.statusCode, body: parsed });
          });
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(text);
    });
  const must = async (method, path, body) => {
    const answer = await call(method, path, body);
    if (answer.status < 200 || answer.status > 299) {
      const message = answer.body?.message ?? JSON.stringify(answer.body).slice(0, 500);
      throw new Error(`${method} ${path}: ${answer.status} ${message}`);
    }
    return answer.body;
  };
  /** Creates `object` in `collection`; one that already exists (a kept cluster) is left as is. */
  const create = async (collection, object) => {
    const answer = await call("POST", collection, object);
    if (answer.status === 409 && answer.body?.reason === "AlreadyExists") return;
    if (answer.status < 200 || answer.status > 299) {
      throw new Error(`POST ${collection}: ${answer.status} ${answer.body?.message ?? ""}`);
    }
  };
  const close = () => {
    agent.destroy();
  };
  return { url, token, ca, call, must, create, close };
}

/** Runs `task(i)` for i in [0, count) with at most `concurrency` at a time. */
export async function inParallel(count, concurrency, task) {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next;
      next += 1;
      await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

export function namespaceObject(name, labels = {}) {
  return { apiVersion: "v1", kind: "Namespace", metadata: { name, labels } };
}

/** A StatefulSet as a Helm chart writes one: a pod template with one container. */
export function statefulSetObject(namespace, name, replicas) {
  return {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: {
      name,
      namespace,
      labels: { "app.kubernetes.io/name": name, team: namespace },
    },
    spec: {
      replicas,
      serviceName: name,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            {
              name: "main",
              image: `registry.example.com/${name}:1.0.0`,
              ports: [{ containerPort: 8080 }],
              resources: { requests: { cpu: "100m", memory: "128Mi" } },
            },
          ],
        },
      },
    },
  };
}

/**
 * A per-pod Service that breaks no rule: LoadBalancer, externalTrafficPolicy Local, the labels
 * stsguard requires, selecting one pod by name.
 */
export function perPodServiceObject(namespace, statefulSet, ordinal) {
  const pod = `${statefulSet}-${ordinal}`;
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: pod,
      namespace,
      labels: { "stsguard.io/statefulset": statefulSet, "stsguard.io/ordinal": String(ordinal) },
    },
    spec: {
      type: "LoadBalancer",
      externalTrafficPolicy: "Local",
      selector: { "statefulset.kubernetes.io/pod-name": pod },
      ports: [{ name: "http", port: 80, targetPort: 8080 }],
    },
  };
}

export const collectionPath = {
  statefulsets: (namespace) => `/apis/apps/v1/namespaces/${namespace}/statefulsets`,
  services: (namespace) => `/api/v1/namespaces/${namespace}/services`,
};

/**
 * Fills the cluster: `count` StatefulSets over `namespaces` namespaces (team-000, ...), each
 * with a per-pod Service for ordinal 0, created in parallel through the API (`concurrency` at
 * a time). Returns how long it took.
 */
export async function fillCluster(api, { count, namespaces, concurrency = 48 }) {
  const started = process.hrtime.bigint();
  const names = Array.from({ length: namespaces }, (_, i) => `team-${String(i).padStart(3, "0")}`);
  await inParallel(names.length, concurrency, (i) =>
    api.create("/api/v1/namespaces", namespaceObject(names[i])),
  );
  await inParallel(count, concurrency, async (n) => {
    const namespace = names[n % namespaces];
    const name = `app-${String(n).padStart(5, "0")}`;
    await api.create(
      collectionPath.statefulsets(namespace),
      statefulSetObject(namespace, name, 1 + (n % 5)),
    );
    await api.create(collectionPath.services(namespace), perPodServiceObject(namespace, name, 0));
  });
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/** Where an object of `kind` is created: its collection's path. */
function collectionOf(object) {
  const namespace = object.metadata.namespace;
  switch (object.kind) {
    case "Namespace":
      return "/api/v1/namespaces";
    case "ServiceAccount":
      return `/api/v1/namespaces/${namespace}/serviceaccounts`;
    case "ClusterRole":
      return "/apis/rbac.authorization.k8s.io/v1/clusterroles";
    case "ClusterRoleBinding":
      return "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings";
    case "MutatingWebhookConfiguration":
      return "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations";
    case "ValidatingWebhookConfiguration":
      return "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations";
    case "StatefulSet":
      return collectionPath.statefulsets(namespace);
    case "Service":
      return collectionPath.services(namespace);
    default:
      throw new Error(`bench/kube.mjs does not create ${object.kind}`);
  }
}

/** Creates each object in order (an existing one is left as is). */
export async function createObjects(api, objects) {
  for (const object of objects) await api.create(collectionOf(object), object);
}

/** Deletes each object; one already gone is fine. */
export async function deleteObjects(api, objects) {
  for (const object of objects) {
    const answer = await api.call("DELETE", `${collectionOf(object)}/${object.metadata.name}`);
    if (answer.status !== 404 && (answer.status < 200 || answer.status > 299)) {
      throw new Error(`DELETE ${object.kind} ${object.metadata.name}: ${answer.status}`);
    }
  }
}

/** A token for a ServiceAccount (TokenRequest API), as the kubelet mounts one into a pod. */
export async function serviceAccountToken(api, namespace, name) {
  const answer = await api.must(
    "POST",
    `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`,
    {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenRequest",
      spec: { expirationSeconds: 7200 },
    },
  );
  return answer.status.token;
}

/** A kubeconfig for `token` against the API server, as in-cluster config would read it. */
export function kubeconfigText(api, caFile, token) {
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "bench", cluster: { server: api.url, "certificate-authority": caFile } }],
    users: [{ name: "bench", user: { token } }],
    contexts: [{ name: "bench", context: { cluster: "bench", user: "bench" } }],
    "current-context": "bench",
  });
}
