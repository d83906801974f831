// The README's controller example, run as written against the test API server: 3 → 5 → 3 brokers.
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { defaultConfig } from "../../src/config/config.js";
import { generatePerPodServices } from "../../src/manifests/per-pod-services.js";
import { waitFor } from "../helpers/wait-for.js";
import {
  eventsOf,
  metadataOf,
  specOf,
  startController,
  startFake,
  waitForServices,
} from "./harness.js";

type JsonObject = Record<string, unknown>;

const readme = readFileSync(path.resolve(import.meta.dirname, "../../README.md"), "utf8");
const section = readme.split("## Per-pod Service controller")[1]?.split("\n## ")[0] ?? "";
const manifest = parseYaml(section.split("```yaml\n")[1]?.split("```")[0] ?? "") as JsonObject;

describe("README: the per-pod Service controller example", () => {
  it("keeps kafka-0..2, then kafka-0..4, then kafka-0..2, with the Events the README shows", async () => {
    const fake = await startFake();
    fake.apply("statefulsets", manifest);
    const { controller } = startController(fake);
    await waitFor("the controller to lead", () => controller.isLeader());
    await waitForServices(fake, ["kafka-0", "kafka-1", "kafka-2"]);

    // What `stsguard generate --type LoadBalancer --port kafka` prints, plus the controller's own.
    const generated = generatePerPodServices(manifest, {
      type: "LoadBalancer",
      ports: ["kafka"],
      policy: defaultConfig.policy,
      defaultNamespace: "default",
    });
    for (const printed of generated ?? []) {
      const stored = fake.get("services", "streaming", String(metadataOf(printed)["name"]));
      expect(specOf(stored)).toEqual(specOf(printed));
      expect(metadataOf(stored)["labels"]).toEqual({
        ...(metadataOf(printed)["labels"] as JsonObject),
        "app.kubernetes.io/managed-by": "stsguard-controller",
      });
      expect(metadataOf(stored)["annotations"]).toEqual({
        "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
      });
    }

    const scale = (replicas: number): void => {
      fake.update("statefulsets", "streaming", "kafka", (sts) => {
        specOf(sts)["replicas"] = replicas;
      });
    };
    scale(5);
    await waitForServices(fake, ["kafka-0", "kafka-1", "kafka-2", "kafka-3", "kafka-4"]);
    scale(3);
    await waitForServices(fake, ["kafka-0", "kafka-1", "kafka-2"]);
    await waitFor("the Events", () => eventsOf(fake, "ServiceDeleted").length === 2);

    const shown = section
      .split("\n")
      .filter((line) => /^\s+Normal\s+Service/.test(line))
      .map((line) => line.trim().split(/\s{2,}/));
    expect(shown).toHaveLength(4);
    const messages = eventsOf(fake).map((e) => `${e.type} ${e.reason} ${e.message}`);
    for (const [type, reason, , message] of shown) {
      expect(messages).toContain(`${type ?? ""} ${reason ?? ""} ${message ?? ""}`);
    }
  });
});
