// A kube-apiserver stand-in for the cluster benchmarks, in its own process: plain HTTP on
// 127.0.0.1 speaking the real list and watch protocol (limit/continue pages, list items without
// apiVersion/kind, watch streams of JSON lines with bookmarks, 404 Status for a missing object),
// like test/helpers/fake-apiserver.ts but standalone so bench/ runs on dist/ alone.
//
// It holds `count` StatefulSets and one per-pod Service for each (100 namespaces), plus demo/web
// (2 replicas) and its per-pod Services web-0 and web-1, as API server output looks: uid,
// resourceVersion, creationTimestamp, managedFields and status included, so list pages weigh
// what real ones do. Namespaced GETs (the webhook's live reads) answer after `readDelayMs`.
//
// Usage (forked by bench/cluster.mjs): node bench/fake-apiserver.mjs <count> <readDelayMs>
import { createServer } from "node:http";
import { reportReady, serveParentRequests } from "./admission.mjs";

const count = Number(process.argv[2] ?? "10000");
const readDelayMs = Number(process.argv[3] ?? "0");
const NAMESPACES = 100;
const RESOURCE_VERSION = "5000000";
const BOOKMARK_INTERVAL_MS = 10_000;

const TYPE = {
  statefulsets: { apiVersion: "apps/v1", kind: "StatefulSet", list: "StatefulSetList" },
  services: { apiVersion: "v1", kind: "Service", list: "ServiceList" },
  namespaces: { apiVersion: "v1", kind: "Namespace", list: "NamespaceList" },
  horizontalpodautoscalers: {
    apiVersion: "autoscaling/v2",
    kind: "HorizontalPodAutoscaler",
    list: "HorizontalPodAutoscalerList",
  },
};

function metadata(namespace, name, n, labels) {
  return {
    name,
    namespace,
    uid: `6f1c${String(n).padStart(8, "0")}-8d2e-4b7a-9c61-0a3f5e7d9b21`,
    resourceVersion: String(4_000_000 + Number(n)),
    generation: 1,
    creationTimestamp: "2026-11-30T09:12:44Z",
    labels,
    managedFields: [
      {
        manager: "helm",
        operation: "Update",
        apiVersion: "apps/v1",
        time: "2026-11-30T09:12:44Z",
        fieldsType: "FieldsV1",
        fieldsV1: {
          "f:metadata": { "f:labels": { ".": {}, "f:app.kubernetes.io/name": {}, "f:team": {} } },
          "f:spec": { "f:replicas": {}, "f:selector": {}, "f:serviceName": {}, "f:template": {} },
        },
      },
    ],
  };
}

function statefulSet(namespace, name, replicas, n) {
  return {
    metadata: metadata(namespace, name, n, { "app.kubernetes.io/name": name, team: namespace }),
    spec: {
      replicas,
      serviceName: name,
      podManagementPolicy: "OrderedReady",
      revisionHistoryLimit: 10,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            {
              name: "main",
              image: `registry.example.com/${name}:1.0.0`,
              ports: [{ containerPort: 8080, protocol: "TCP" }],
              resources: { requests: { cpu: "100m", memory: "128Mi" } },
              terminationMessagePath: "/dev/termination-log",
              terminationMessagePolicy: "File",
              imagePullPolicy: "IfNotPresent",
            },
          ],
          restartPolicy: "Always",
          terminationGracePeriodSeconds: 30,
          dnsPolicy: "ClusterFirst",
          securityContext: {},
          schedulerName: "default-scheduler",
        },
      },
      updateStrategy: { type: "RollingUpdate", rollingUpdate: { partition: 0 } },
      persistentVolumeClaimRetentionPolicy: { whenDeleted: "Retain", whenScaled: "Retain" },
    },
    status: {
      observedGeneration: 1,
      replicas,
      readyReplicas: replicas,
      currentReplicas: replicas,
      updatedReplicas: replicas,
      availableReplicas: replicas,
      currentRevision: `${name}-7d9f8b6c5`,
      updateRevision: `${name}-7d9f8b6c5`,
      collisionCount: 0,
    },
  };
}

function perPodService(namespace, statefulSetName, ordinal, n) {
  const pod = `${statefulSetName}-${ordinal}`;
  return {
    metadata: metadata(namespace, pod, n, {
      "stsguard.io/statefulset": statefulSetName,
      "stsguard.io/ordinal": String(ordinal),
    }),
    spec: {
      type: "LoadBalancer",
      externalTrafficPolicy: "Local",
      selector: { "statefulset.kubernetes.io/pod-name": pod },
      ports: [{ name: "http", protocol: "TCP", port: 80, targetPort: 8080, nodePort: 31000 }],
      clusterIP: "10.96.12.34",
      clusterIPs: ["10.96.12.34"],
      ipFamilies: ["IPv4"],
      ipFamilyPolicy: "SingleStack",
      sessionAffinity: "None",
      allocateLoadBalancerNodePorts: true,
      internalTrafficPolicy: "Cluster",
      healthCheckNodePort: 32000,
    },
    status: { loadBalancer: { ingress: [{ ip: "203.0.113.10" }] } },
  };
}

function namespaceObject(name) {
  return {
    metadata: {
      name,
      uid: `uid-namespace-${name}`,
      resourceVersion: RESOURCE_VERSION,
      creationTimestamp: "2026-01-01T00:00:00Z",
      labels: { "kubernetes.io/metadata.name": name },
    },
    spec: { finalizers: ["kubernetes"] },
    status: { phase: "Active" },
  };
}

/** Items per resource, sorted by namespace/name, each kept as its JSON text. */
function buildObjects() {
  const objects = { statefulsets: [], services: [], namespaces: [] };
  for (let n = 0; n < count; n += 1) {
    const namespace = `team-${String(n % NAMESPACES).padStart(3, "0")}`;
    const name = `app-${String(n).padStart(5, "0")}`;
    objects.statefulsets.push(statefulSet(namespace, name, 1 + (n % 5), n));
    objects.services.push(perPodService(namespace, name, 0, n));
  }
  // The namespace cache lists these too (labels only), as on a real cluster.
  for (const name of new Set(objects.statefulsets.map((o) => o.metadata.namespace)).add("demo")) {
    objects.namespaces.push(namespaceObject(name));
  }
  objects.statefulsets.push(statefulSet("demo", "web", 2, count));
  objects.services.push(perPodService("demo", "web", 0, count));
  objects.services.push(perPodService("demo", "web", 1, count + 1));
  const byKey = {};
  for (const [resource, items] of Object.entries(objects)) {
    items.sort((a, b) =>
      `${a.metadata.namespace ?? ""}/${a.metadata.name}`.localeCompare(
        `${b.metadata.namespace ?? ""}/${b.metadata.name}`,
      ),
    );
    byKey[resource] = new Map(
      items.map((item) => [`${item.metadata.namespace ?? ""}/${item.metadata.name}`, item]),
    );
  }
  return byKey;
}

const objects = buildObjects();
const lists = {
  statefulsets: [...objects.statefulsets.values()].map((o) => JSON.stringify(o)),
  services: [...objects.services.values()].map((o) => JSON.stringify(o)),
  namespaces: [...objects.namespaces.values()].map((o) => JSON.stringify(o)),
  // stsguard caches the HPAs of StatefulSets; this cluster has none.
  horizontalpodautoscalers: [],
};
const stats = { lists: 0, watches: 0, gets: 0 };

function sendJson(res, status, text) {
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

function notFound(res, resource, name) {
  const group = resource === "statefulsets" ? "apps" : "";
  sendJson(
    res,
    404,
    JSON.stringify({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: `${resource}${group ? `.${group}` : ""} "${name}" not found`,
      reason: "NotFound",
      details: { name, group, kind: resource },
      code: 404,
    }),
  );
}

function sendList(res, resource, query) {
  stats.lists += 1;
  const items = lists[resource];
  const offset = query.get("continue") ? Number(query.get("continue")) : 0;
  const limit = query.get("limit") ? Number(query.get("limit")) : items.length;
  const end = Math.min(items.length, offset + Number(limit));
  const meta = { resourceVersion: RESOURCE_VERSION };
  if (end < items.length) meta.continue = String(end);
  const { apiVersion, list } = TYPE[resource];
  const head = JSON.stringify({ kind: list, apiVersion, metadata: meta }).slice(0, -1);
  sendJson(res, 200, `${head},"items":[${items.slice(offset, end).join(",")}]}`);
}

function startWatch(req, res, resource, query) {
  stats.watches += 1;
  res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
  const { apiVersion, kind } = TYPE[resource];
  const bookmark = () => {
    const object = { apiVersion, kind, metadata: { resourceVersion: RESOURCE_VERSION } };
    res.write(`${JSON.stringify({ type: "BOOKMARK", object })}\n`);
  };
  if (query.get("allowWatchBookmarks") === "true") bookmark();
  const bookmarks = setInterval(bookmark, BOOKMARK_INTERVAL_MS);
  const timeout = setTimeout(() => res.end(), Number(query.get("timeoutSeconds") ?? 300) * 1000);
  res.on("close", () => {
    clearInterval(bookmarks);
    clearTimeout(timeout);
  });
}

const COLLECTION =
  /^\/(?:apis\/apps\/v1|api\/v1|apis\/autoscaling\/v2)\/(statefulsets|services|namespaces|horizontalpodautoscalers)$/;
// A live read of one namespace's HPAs (beside the StatefulSet's GET, before a denial).
const NAMESPACED_HPAS = /^\/apis\/autoscaling\/v2\/namespaces\/[^/]+\/horizontalpodautoscalers$/;
const OBJECT =
  /^\/(?:apis\/apps\/v1|api\/v1)\/namespaces\/([^/]+)\/(statefulsets|services)\/([^/]+)$/;
const NAMESPACE_OBJECT = /^\/api\/v1\/namespaces\/([^/]+)$/;

const server = createServer((req, res) => {
  const url = new URL(req.url ?? "/", "http://localhost");
  const collection = COLLECTION.exec(url.pathname);
  if (collection) {
    const resource = collection[1];
    if (url.searchParams.get("watch") === "true") startWatch(req, res, resource, url.searchParams);
    else sendList(res, resource, url.searchParams);
    return;
  }
  const answer = () => {
    const namespaceName = NAMESPACE_OBJECT.exec(url.pathname)?.[1];
    const object = namespaceName
      ? [url.pathname, "", "namespaces", namespaceName]
      : OBJECT.exec(url.pathname);
    if (NAMESPACED_HPAS.test(url.pathname)) {
      stats.gets += 1;
      sendList(res, "horizontalpodautoscalers", url.searchParams);
    } else if (url.pathname === "/version") {
      sendJson(res, 200, JSON.stringify({ major: "1", minor: "30", gitVersion: "v1.30.2" }));
    } else if (object) {
      stats.gets += 1;
      const [, namespace, resource, name] = object;
      const found = objects[resource].get(`${namespace}/${name}`);
      if (!found) notFound(res, resource, name);
      else
        sendJson(
          res,
          200,
          JSON.stringify({
            apiVersion: TYPE[resource].apiVersion,
            kind: TYPE[resource].kind,
            ...found,
          }),
        );
    } else {
      sendJson(res, 404, JSON.stringify({ kind: "Status", code: 404, reason: "NotFound" }));
    }
  };
  if (readDelayMs > 0) setTimeout(answer, readDelayMs);
  else answer();
});
server.keepAliveTimeout = 120_000;

server.listen(0, "127.0.0.1", () => {
  reportReady(server.address().port);
});
process.on("message", (message) => {
  if (message === "requests") process.send({ type: "requests", ...stats });
});
serveParentRequests(
  () =>
    new Promise((resolve) => {
      server.close(() => {
        resolve();
      });
      server.closeAllConnections();
    }),
);
