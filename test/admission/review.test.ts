import { describe, expect, it } from "vitest";
import { parseReview, toReviewResponse } from "../../src/admission/review.js";
import type { AdmissionResult } from "../../src/admission/types.js";
import { BadReviewError } from "../../src/errors.js";
import { loadFixture } from "../helpers/objects.js";
import { aReview } from "./admission-inputs.js";

function withRequest(change: (request: Record<string, unknown>) => void): unknown {
  const review = aReview();
  change(review["request"] as Record<string, unknown>);
  return review;
}

describe("parseReview", () => {
  const rows = [
    {
      name: "a JSON array",
      body: [],
      message: /expected an AdmissionReview JSON object, got an array/,
    },
    {
      name: "a JSON string",
      body: "hi",
      message: /expected an AdmissionReview JSON object, got "hi"/,
    },
    { name: "null", body: null, message: /got null/ },
    {
      name: "another kind",
      body: { apiVersion: "v1", kind: "Service" },
      message: /expected kind AdmissionReview, got "Service"/,
    },
    {
      name: "an AdmissionReview v1beta1",
      body: { ...aReview(), apiVersion: "admission.k8s.io/v1beta1" },
      message:
        /apiVersion "admission.k8s.io\/v1beta1" is not supported.*admissionReviewVersions: \["v1"\]/,
    },
    {
      name: "no request",
      body: { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview" },
      message: /has no request object/,
    },
    {
      name: "no request.uid",
      body: withRequest((r) => delete r["uid"]),
      message: /request.uid must be a non-empty string, got nothing/,
    },
    {
      name: "an empty request.uid",
      body: withRequest((r) => (r["uid"] = "")),
      message: /request.uid/,
    },
    { name: "a numeric request.uid", body: withRequest((r) => (r["uid"] = 7)), message: /got 7/ },
    {
      name: "no request.kind",
      body: withRequest((r) => delete r["kind"]),
      message: /request.kind must be \{group, version, kind\}/,
    },
    {
      name: "an unknown operation",
      body: withRequest((r) => (r["operation"] = "PATCH")),
      message: /request.operation must be one of CREATE, UPDATE, DELETE, CONNECT, got "PATCH"/,
    },
    {
      name: "a namespace that is not a string",
      body: withRequest((r) => (r["namespace"] = { a: 1 })),
      message: /request.namespace must be a string, got an object/,
    },
  ];

  it.each(rows)("refuses $name with a clear message", ({ body, message }) => {
    expect(() => parseReview(body)).toThrow(BadReviewError);
    expect(() => parseReview(body)).toThrow(message);
  });

  it("reads the fields stsguard uses from a recorded scale review", () => {
    const request = parseReview(loadFixture("statefulset-scale-update.at-validating"));
    expect(request).toMatchObject({
      uid: "93f5f3e0-4061-4967-aea9-3af59d713d34",
      kind: { group: "autoscaling", version: "v1", kind: "Scale" },
      resource: { group: "apps", version: "v1", resource: "statefulsets" },
      subResource: "scale",
      name: "web",
      namespace: "demo",
      operation: "UPDATE",
      dryRun: false,
    });
    expect(request.userInfo.username).not.toBe("");
  });

  it("reads a DELETE, whose object is null", () => {
    const request = parseReview(loadFixture("service-delete.at-validating"));
    expect(request.object).toBeNull();
    expect(request.oldObject).toMatchObject({ kind: "Service" });
    expect(request.subResource).toBeNull();
  });
});

describe("toReviewResponse", () => {
  const base: AdmissionResult = {
    allowed: true,
    status: null,
    patch: [],
    warnings: [],
    findings: [],
    subject: "service",
    lookupFailure: null,
    guardMode: "enforce",
    exemptions: [],
    monitored: null,
  };
  const patch = [{ op: "add" as const, path: "/metadata/labels/stsguard.io~1ordinal", value: "0" }];

  it("echoes the uid and sends a base64 JSONPatch from /mutate", () => {
    const review = toReviewResponse("uid-1", { ...base, patch }, "mutate");
    expect(review).toEqual({
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      response: {
        uid: "uid-1",
        allowed: true,
        patchType: "JSONPatch",
        patch: Buffer.from(JSON.stringify(patch)).toString("base64"),
      },
    });
    expect(JSON.parse(Buffer.from(review.response.patch ?? "", "base64").toString())).toEqual(
      patch,
    );
  });

  it("omits patch and patchType when nothing changes", () => {
    expect(toReviewResponse("uid-2", base, "mutate").response).toEqual({
      uid: "uid-2",
      allowed: true,
    });
  });

  it("never sends a patch from /validate", () => {
    expect(toReviewResponse("uid-3", { ...base, patch }, "validate").response).toEqual({
      uid: "uid-3",
      allowed: true,
    });
  });

  it("sends the status and warnings of a denial", () => {
    const status = { code: 403, reason: "Forbidden", message: "ordinal-out-of-range: x" };
    const review = toReviewResponse(
      "uid-4",
      { ...base, allowed: false, status, warnings: ["statefulset-not-found: y"] },
      "validate",
    );
    expect(review.response).toEqual({
      uid: "uid-4",
      allowed: false,
      status,
      warnings: ["statefulset-not-found: y"],
    });
  });
});
