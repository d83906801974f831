import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { appliedFieldsOf, convertToApply } from "../../src/controller/managed-fields.js";

type JsonObject = Record<string, unknown>;

// What kube-apiserver 1.26 recorded for the controller's POST of a Service.
const fixture = JSON.parse(
  readFileSync(
    path.resolve(
      import.meta.dirname,
      "../fixtures/apiserver-differences/controller-create-records-an-update-entry.json",
    ),
    "utf8",
  ),
) as {
  request: { body: JsonObject };
  response: { body: { metadata: { managedFields: JsonObject[] } } };
};
const configuration = fixture.request.body;
const created = fixture.response.body.metadata.managedFields;

describe("turning the create's Update entry into an Apply entry", () => {
  it("keeps exactly the fields the configuration sets, as the API server's own apply records them", () => {
    const [entry] = created;
    expect(appliedFieldsOf(entry?.["fieldsV1"] as JsonObject, configuration)).toEqual({
      "f:metadata": { "f:labels": { "f:app.kubernetes.io/managed-by": {} } },
      "f:spec": {
        "f:externalTrafficPolicy": {},
        "f:ports": {
          'k:{"port":9092,"protocol":"TCP"}': {
            ".": {},
            "f:name": {},
            "f:port": {},
            "f:protocol": {},
            "f:targetPort": {},
          },
        },
        "f:selector": {},
        "f:type": {},
      },
    });
  });

  it("makes the controller's entry an Apply entry and leaves other managers' entries alone", () => {
    const other = {
      manager: "kubectl-annotate",
      operation: "Update",
      apiVersion: "v1",
      fieldsType: "FieldsV1",
      fieldsV1: { "f:metadata": { "f:annotations": { "f:a": {} } } },
    };
    const converted = convertToApply([...created, other], configuration);
    expect(converted?.map((e) => `${String(e["manager"])}/${String(e["operation"])}`)).toEqual([
      "stsguard-controller/Apply",
      "kubectl-annotate/Update",
    ]);
    expect(converted?.[1]).toEqual(other);
    expect(convertToApply(converted, configuration)).toBeNull();
  });

  it("without a configuration keeps every field, merged into an Apply entry already there", () => {
    const apply = {
      manager: "stsguard-controller",
      operation: "Apply",
      apiVersion: "v1",
      fieldsType: "FieldsV1",
      fieldsV1: { "f:metadata": { "f:labels": { "f:team": {} } } },
    };
    const converted = convertToApply([apply, ...created], null);
    expect(converted).toHaveLength(1);
    const fields = converted?.[0]?.["fieldsV1"] as {
      "f:metadata": { "f:labels": JsonObject };
      "f:spec": JsonObject;
    };
    expect(Object.keys(fields["f:metadata"]["f:labels"]).sort()).toEqual([
      ".",
      "f:app.kubernetes.io/managed-by",
      "f:team",
    ]);
    expect(fields["f:spec"]).toHaveProperty("f:sessionAffinity");
  });
});
