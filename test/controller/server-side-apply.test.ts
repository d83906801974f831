/** The fake's server-side apply (test/helpers/server-side-apply.ts) behaves as the API server's. */
import { describe, expect, it } from "vitest";
import { startFake } from "./harness.js";

type JsonObject = Record<string, unknown>;

const BASE = "/api/v1/namespaces/demo/services";

async function send(
  url: string,
  method: string,
  contentType: string,
  body: unknown,
): Promise<{ status: number; body: JsonObject }> {
  const response = await fetch(url, {
    method,
    headers: { "Content-Type": contentType },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as JsonObject };
}

function applied(spec: JsonObject, labels: JsonObject = { app: "web" }): JsonObject {
  return { apiVersion: "v1", kind: "Service", metadata: { name: "web-0", labels }, spec };
}

describe("server-side apply in the fake API server", () => {
  it("creates, records the manager, leaves others' fields, and removes fields no longer applied", async () => {
    const fake = await startFake();
    const url = `${fake.url}${BASE}/web-0`;
    const apply = (body: unknown, manager = "ctl") =>
      send(`${url}?fieldManager=${manager}`, "PATCH", "application/apply-patch+yaml", body);
    const first = await apply(
      applied({ type: "LoadBalancer", ports: [{ name: "http", port: 80, targetPort: 8080 }] }),
    );
    expect(first.status).toBe(201);
    const managed = (first.body["metadata"] as JsonObject)["managedFields"];
    expect(managed).toEqual([
      {
        manager: "ctl",
        operation: "Apply",
        apiVersion: "v1",
        time: expect.stringMatching(/Z$/) as unknown,
        fieldsType: "FieldsV1",
        fieldsV1: {
          "f:metadata": { "f:labels": { "f:app": {} } },
          "f:spec": {
            "f:type": {},
            "f:ports": {
              'k:{"port":80,"protocol":"TCP"}': {
                ".": {},
                "f:name": {},
                "f:port": {},
                "f:targetPort": {},
              },
            },
          },
        },
      },
    ]);
    const edit = await send(`${url}?fieldManager=alice`, "PATCH", "application/merge-patch+json", {
      metadata: { labels: { owner: "alice" } },
    });
    expect(edit.status).toBe(200);
    // The second apply drops the port and the label it no longer names; alice's label stays.
    const second = await apply(applied({ type: "LoadBalancer" }, {}));
    expect(second.status).toBe(200);
    expect((second.body["metadata"] as JsonObject)["labels"]).toEqual({ owner: "alice" });
    expect(second.body["spec"]).toEqual({ type: "LoadBalancer" });
    // Applying the same again writes nothing.
    const version = (second.body["metadata"] as JsonObject)["resourceVersion"];
    const third = await apply(applied({ type: "LoadBalancer" }, {}));
    expect((third.body["metadata"] as JsonObject)["resourceVersion"]).toBe(version);
  });

  it("answers a conflict with the API server's 409, and force takes the field over", async () => {
    const fake = await startFake();
    const url = `${fake.url}${BASE}/web-0`;
    await send(
      `${url}?fieldManager=ctl`,
      "PATCH",
      "application/apply-patch+yaml",
      applied({ type: "LoadBalancer" }),
    );
    await send(`${url}?fieldManager=kubectl-edit`, "PATCH", "application/merge-patch+json", {
      spec: { type: "NodePort" },
    });
    const conflict = await send(
      `${url}?fieldManager=ctl`,
      "PATCH",
      "application/apply-patch+yaml",
      applied({ type: "LoadBalancer" }),
    );
    expect(conflict.status).toBe(409);
    expect(conflict.body).toMatchObject({ kind: "Status", reason: "Conflict", code: 409 });
    expect(conflict.body["message"]).toMatch(
      /^Apply failed with 1 conflict: conflict with "kubectl-edit" using v1 at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ: \.spec\.type$/,
    );
    // Another apply manager: no "using".
    await send(
      `${url}?fieldManager=other&force=true`,
      "PATCH",
      "application/apply-patch+yaml",
      applied({ type: "ClusterIP" }, {}),
    );
    const again = await send(
      `${url}?fieldManager=ctl`,
      "PATCH",
      "application/apply-patch+yaml",
      applied({ type: "LoadBalancer" }),
    );
    expect(again.body["message"]).toBe(
      'Apply failed with 1 conflict: conflict with "other": .spec.type',
    );
    const forced = await send(
      `${url}?fieldManager=ctl&force=true`,
      "PATCH",
      "application/apply-patch+yaml",
      applied({ type: "LoadBalancer" }),
    );
    expect(forced.status).toBe(200);
    expect((forced.body["spec"] as JsonObject)["type"]).toBe("LoadBalancer");
  });

  it("refuses to apply onto another object than the uid it names, and gives a created object its own", async () => {
    const fake = await startFake();
    const url = `${fake.url}${BASE}/web-0?fieldManager=ctl`;
    const body = (uid: string) => ({
      ...applied({ type: "NodePort" }),
      metadata: { name: "web-0", uid },
    });
    const created = await send(
      url,
      "PATCH",
      "application/apply-patch+yaml",
      body("00000000-0000-0000-0000-000000000000"),
    );
    expect(created.status).toBe(201);
    const uid = (created.body["metadata"] as JsonObject)["uid"];
    expect(uid).not.toBe("00000000-0000-0000-0000-000000000000");
    const refused = await send(
      url,
      "PATCH",
      "application/apply-patch+yaml",
      body("00000000-0000-0000-0000-000000000000"),
    );
    expect(refused.status).toBe(422);
    expect(refused.body["message"]).toBe(
      'Service "web-0" is invalid: metadata.uid: Invalid value: "00000000-0000-0000-0000-000000000000": field is immutable',
    );
    expect(
      (await send(url, "PATCH", "application/apply-patch+yaml", body(String(uid)))).status,
    ).toBe(200);
  });

  it("deletes only the object a uid precondition names", async () => {
    const fake = await startFake();
    fake.apply("services", { metadata: { name: "web-0", namespace: "demo" }, spec: {} });
    const url = `${fake.url}${BASE}/web-0`;
    const stale = await send(url, "DELETE", "application/json", { preconditions: { uid: "gone" } });
    expect(stale.status).toBe(409);
    expect(stale.body["message"]).toMatch(
      /Precondition failed: UID in precondition: gone, UID in object meta: /,
    );
    const uid = (fake.get("services", "demo", "web-0")?.["metadata"] as JsonObject)["uid"];
    expect((await send(url, "DELETE", "application/json", { preconditions: { uid } })).status).toBe(
      200,
    );
  });
});
