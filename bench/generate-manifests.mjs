// Writes the manifests `stsguard check` is benchmarked on: by default 100 files holding 5,000
// StatefulSets and 5,000 per-pod Services, spread over 10 namespaces. Deterministic: the same
// arguments always write the same bytes, so runs compare.
//
//   node bench/generate-manifests.mjs <dir> [--files 100] [--statefulsets 5000] [--services 5000]
//
// Most Services are correct; a fixed share breaks one rule each (ordinal out of range, no
// externalTrafficPolicy, missing labels, a malformed pod name, an unknown StatefulSet), so the
// check does all of its work, including placing findings. Each Service sits in a different
// file from its StatefulSet, so resolving them across files is measured too.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const NAMESPACES = 10;

/** @param {string} dir @param {{files?: number, statefulSets?: number, services?: number}} options */
export async function generateManifests(dir, options = {}) {
  const fileCount = options.files ?? 100;
  const statefulSetCount = options.statefulSets ?? 5_000;
  const serviceCount = options.services ?? 5_000;
  const files = Array.from({ length: fileCount }, (_, i) => [
    `# Source: bench/templates/part-${String(i).padStart(3, "0")}.yaml`,
  ]);
  for (let i = 0; i < statefulSetCount; i += 1) {
    files[i % fileCount].push(renderStatefulSet(i));
  }
  for (let i = 0; i < serviceCount; i += 1) {
    // Offset by half the files: a Service never shares a file with its StatefulSet.
    files[(i + Math.floor(fileCount / 2)) % fileCount].push(renderService(i, statefulSetCount));
  }
  await mkdir(dir, { recursive: true });
  await Promise.all(
    files.map((docs, i) =>
      writeFile(join(dir, `part-${String(i).padStart(3, "0")}.yaml`), `${docs.join("\n---\n")}\n`),
    ),
  );
  return { files: fileCount, statefulSets: statefulSetCount, services: serviceCount };
}

function toNamespace(i) {
  return `team-${i % NAMESPACES}`;
}

function renderStatefulSet(i) {
  const name = `db-${i}`;
  return `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: ${name}
  namespace: ${toNamespace(i)}
  labels:
    app.kubernetes.io/name: ${name}
    app.kubernetes.io/part-of: bench
spec:
  serviceName: ${name}
  replicas: ${1 + (i % 3)}
  selector:
    matchLabels:
      app.kubernetes.io/name: ${name}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: ${name}
    spec:
      containers:
        - name: db
          image: "registry.example/db:1.${i % 7}"
          ports:
            - name: client
              containerPort: 5432
          resources:
            requests: {cpu: 100m, memory: 256Mi}`;
}

function renderService(i, statefulSetCount) {
  const sts = i % statefulSetCount;
  const kind = i % 20;
  // 0: ordinal past the range; 1: no externalTrafficPolicy; 2: no labels; 3: malformed; 4: unknown.
  const stsName = kind === 4 ? `gone-${sts}` : `db-${sts}`;
  const ordinal = kind === 0 ? 3 : 0;
  const pod = kind === 3 ? `${stsName}-0${ordinal}` : `${stsName}-${ordinal}`;
  const labels =
    kind === 2
      ? ""
      : `
  labels:
    stsguard.io/statefulset: ${stsName}
    stsguard.io/ordinal: "${ordinal}"`;
  const policy = kind === 1 ? "" : "\n  externalTrafficPolicy: Local";
  return `apiVersion: v1
kind: Service
metadata:
  name: ${stsName}-${ordinal}-ext-${i}
  namespace: ${toNamespace(sts)}${labels}
spec:
  type: LoadBalancer${policy}
  selector:
    statefulset.kubernetes.io/pod-name: ${pod}
    app.kubernetes.io/name: ${stsName}
  ports:
    - name: client
      port: 5432
      targetPort: client`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      files: { type: "string" },
      statefulsets: { type: "string" },
      services: { type: "string" },
    },
  });
  const [dir] = positionals;
  if (!dir) {
    process.stderr.write(
      "usage: node bench/generate-manifests.mjs <dir> [--files N] [--statefulsets N] [--services N]\n",
    );
    process.exitCode = 2;
  } else {
    const written = await generateManifests(dir, {
      files: values.files === undefined ? undefined : Number(values.files),
      statefulSets: values.statefulsets === undefined ? undefined : Number(values.statefulsets),
      services: values.services === undefined ? undefined : Number(values.services),
    });
    process.stdout.write(`${JSON.stringify(written)}\n`);
  }
}
