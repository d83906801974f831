import { describe, expect, it } from "vitest";
import { checkApproval, signApproval } from "../../src/controller/approval.js";

const KEY = Buffer.from("k".repeat(48));
const EXPOSE = { "stsguard.io/expose": "LoadBalancer", "stsguard.io/expose-ports": "kafka" };

function sts(
  name: string,
  annotations: Record<string, string>,
  namespace = "streaming",
): Record<string, unknown> {
  return { apiVersion: "apps/v1", kind: "StatefulSet", metadata: { name, namespace, annotations } };
}

describe("approvals of expose annotations", () => {
  const approval = signApproval(KEY, "streaming", "kafka", "olivia", EXPOSE);

  it("checks out for the StatefulSet, user and annotations it was signed for", () => {
    expect(approval).toMatch(/^v1:[\w-]{43}:olivia$/);
    expect(
      checkApproval(
        KEY,
        sts("kafka", { ...EXPOSE, "stsguard.io/approved-exposure": approval }),
        "stsguard.io",
      ),
    ).toEqual({ status: "approved", by: "olivia" });
  });

  it.each([
    [
      "another StatefulSet",
      sts("postgres", { ...EXPOSE, "stsguard.io/approved-exposure": approval }),
    ],
    [
      "another namespace",
      sts("kafka", { ...EXPOSE, "stsguard.io/approved-exposure": approval }, "other"),
    ],
    [
      "changed annotations",
      sts("kafka", {
        ...EXPOSE,
        "stsguard.io/expose-ports": "ssh",
        "stsguard.io/approved-exposure": approval,
      }),
    ],
    [
      "an added annotation",
      sts("kafka", {
        ...EXPOSE,
        "stsguard.io/expose-service-annotations": "a: b",
        "stsguard.io/approved-exposure": approval,
      }),
    ],
    [
      "another user named",
      sts("kafka", {
        ...EXPOSE,
        "stsguard.io/approved-exposure": approval.replace(/olivia$/, "admin"),
      }),
    ],
    ["garbage", sts("kafka", { ...EXPOSE, "stsguard.io/approved-exposure": "yes" })],
  ])("is invalid on %s", (_name, object) => {
    expect(checkApproval(KEY, object, "stsguard.io")).toEqual({ status: "invalid" });
  });

  it("is invalid under another key and missing without the annotation", () => {
    const other = Buffer.from("x".repeat(48));
    expect(
      checkApproval(
        other,
        sts("kafka", { ...EXPOSE, "stsguard.io/approved-exposure": approval }),
        "stsguard.io",
      ),
    ).toEqual({ status: "invalid" });
    expect(checkApproval(KEY, sts("kafka", EXPOSE), "stsguard.io")).toEqual({ status: "missing" });
  });
});
