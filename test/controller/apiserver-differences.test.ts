// The fake API server (test/helpers) answers the requests recorded in
// test/fixtures/apiserver-differences/ as kube-apiserver 1.26 did: status, reason, message and
// details.causes. Each fixture is a case where the fake used to answer otherwise; the fake is
// kept for faults a real API server cannot produce on demand, and must not drift from it there.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { startFake } from "./harness.js";

interface Fixture {
  readonly kubernetesVersion: string;
  readonly request: {
    readonly method: string;
    readonly path: string;
    readonly contentType: string;
    readonly body: unknown;
  };
  readonly response: { readonly status: number; readonly body: Record<string, unknown> };
}

const DIR = path.resolve(import.meta.dirname, "../fixtures/apiserver-differences");
// The controller's cases; the admission policies' (`policy-*.json`) are replayed by the e2e suite.
const files = readdirSync(DIR).filter(
  (file) => file.startsWith("controller-") && file.endsWith(".json"),
);
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|uid-[\w/-]+-\d+/g;

/** What must agree: the uids and times of one server are not the other's. */
function comparable(body: Record<string, unknown>): unknown {
  const details = (body["details"] ?? {}) as { causes?: unknown[] };
  return {
    kind: body["kind"],
    reason: body["reason"],
    message: typeof body["message"] === "string" ? body["message"].replace(UUID, "<uid>") : null,
    causes: (details.causes ?? []).map((cause) => {
      const { reason, field } = cause as { reason: string; field: string };
      return { reason, field };
    }),
  };
}

/** What the object under `path` must be before the request (the API server had it so). */
function setUp(fake: Awaited<ReturnType<typeof startFake>>, name: string): void {
  const service = (serviceName: string): Record<string, unknown> => ({
    metadata: { name: serviceName, namespace: "differences" },
    spec: {
      type: "LoadBalancer",
      externalTrafficPolicy: "Local",
      selector: { "statefulset.kubernetes.io/pod-name": serviceName },
      ports: [{ name: "kafka", protocol: "TCP", port: 9092, targetPort: "kafka" }],
    },
  });
  if (name === "apply-conflict") {
    const created = service("kafka-1");
    (created["metadata"] as Record<string, unknown>)["managedFields"] = [
      {
        manager: "kubectl-edit",
        operation: "Update",
        apiVersion: "v1",
        time: "2026-01-01T00:00:00Z",
        fieldsType: "FieldsV1",
        fieldsV1: { "f:spec": { "f:externalTrafficPolicy": {} } },
      },
    ];
    (created["spec"] as Record<string, unknown>)["externalTrafficPolicy"] = "Cluster";
    fake.apply("services", created);
  } else if (
    name !== "apply-with-uid-of-absent-object" &&
    name !== "create-records-an-update-entry"
  ) {
    fake.apply("services", service("kafka-1"));
  }
}

describe("the fake API server answers as kube-apiserver 1.26 did (test/fixtures/apiserver-differences)", () => {
  it("has the recorded cases", () => {
    expect(files.sort()).toEqual([
      "controller-apply-conflict.json",
      "controller-apply-with-uid-of-absent-object.json",
      "controller-apply-with-uid-of-another-object.json",
      "controller-create-records-an-update-entry.json",
      "controller-delete-with-uid-precondition-of-another-object.json",
      "controller-json-patch-test-failure.json",
    ]);
  });

  for (const file of files) {
    const fixture = JSON.parse(readFileSync(path.join(DIR, file), "utf8")) as Fixture;
    it(`${file.replace(/\.json$/, "")} (${fixture.kubernetesVersion})`, async () => {
      const fake = await startFake();
      setUp(fake, file.replace(/^controller-|\.json$/g, ""));
      const { method, path: url, contentType, body } = fixture.request;
      const response = await fetch(`${fake.url}${url}`, {
        method,
        headers: { "Content-Type": contentType },
        body: JSON.stringify(body),
      });
      const answer = (await response.json()) as Record<string, unknown>;
      expect(response.status).toBe(fixture.response.status);
      if (fixture.response.status >= 400) {
        expect(comparable(answer)).toEqual(comparable(fixture.response.body));
        return;
      }
      // A create: the manager's Update entry, as the API server records it.
      const managedFields = (answer["metadata"] as { managedFields?: unknown[] }).managedFields;
      const recorded = (fixture.response.body["metadata"] as { managedFields: unknown[] })
        .managedFields;
      const shape = (entries: unknown[] | undefined): unknown =>
        (entries ?? []).map((entry) => {
          const { manager, operation } = entry as { manager: string; operation: string };
          return { manager, operation };
        });
      expect(shape(managedFields)).toEqual(shape(recorded));
    });
  }
});
