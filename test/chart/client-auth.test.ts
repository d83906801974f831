// webhook.clientAuth: the chart mounts the CA Secret and passes `serve --client-ca`, says in
// NOTES which kubeconfig entry the API server needs, and `helm test` then expects a call without
// a client certificate to be refused. Real `helm template`.
import { Deployment } from "kubernetes-models/apps/v1";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1";
import { Pod } from "kubernetes-models/v1";
import { describe, expect, it } from "vitest";
import {
  FULLNAME,
  NAMESPACE,
  findObject,
  renderChart,
  tryRenderChart,
  type Values,
} from "./helm.js";

const ON = { webhook: { clientAuth: { enabled: true, caSecret: "apiserver-webhook-ca" } } };

function container(values: Values) {
  const spec = findObject(renderChart({ values }), Deployment.is).spec?.template.spec;
  return { spec, container: spec?.containers[0] };
}

describe("webhook.clientAuth", () => {
  it("is off by default: no --client-ca, no extra volume", () => {
    const { spec, container: c } = container({});
    expect(c?.args).not.toContain("--client-ca");
    expect(spec?.volumes?.map((v) => v.name)).toEqual(["tls", "config", "tmp"]);
  });

  it("mounts the whole CA Secret (so a rotation reaches the server) and passes --client-ca", () => {
    const { spec, container: c } = container(ON);
    const args = c?.args ?? [];
    expect(args[args.indexOf("--client-ca") + 1]).toBe("/client-ca/ca.crt");
    expect(c?.volumeMounts).toContainEqual({
      name: "client-ca",
      mountPath: "/client-ca",
      readOnly: true,
    });
    expect(spec?.volumes).toContainEqual({
      name: "client-ca",
      secret: { secretName: "apiserver-webhook-ca" },
    });
    // The probes stay on the plain metrics port, which needs no client certificate.
    expect(c?.readinessProbe?.httpGet).toMatchObject({ port: "metrics", scheme: "HTTP" });
  });

  it("takes another key of the Secret", () => {
    const { container: c } = container({
      webhook: { clientAuth: { ...ON.webhook.clientAuth, caKey: "webhook-ca.pem" } },
    });
    expect(c?.args).toContain("/client-ca/webhook-ca.pem");
  });

  it("refuses to render without the CA Secret, saying what to give", () => {
    const result = tryRenderChart({ values: { webhook: { clientAuth: { enabled: true } } } });
    expect(result.ok).toBe(false);
    expect(result.ok ? "" : result.error).toContain(
      "webhook.clientAuth.enabled needs webhook.clientAuth.caSecret: name a Secret in the release namespace holding the PEM CA that signs the API server's webhook client certificate",
    );
  });

  it("makes helm test expect a refusal in the TLS handshake, not an answer", () => {
    const pod = findObject(renderChart({ values: ON }), Pod.is);
    const script = pod.spec?.containers[0]?.args?.[0] ?? "";
    expect(script).not.toContain("--fail");
    expect(script).toContain(`"https://${FULLNAME}.${NAMESPACE}.svc:443/validate"`);
    expect(script).toContain(
      '35|56) echo "stsguard refused a call without a client certificate (curl exit $code)" ;;',
    );
    expect(script).toContain('*) echo "expected the call without a client certificate');
  });
});

describe("the NetworkPolicy's webhook port", () => {
  it("admits only the given peers, e.g. the control plane's range", () => {
    const peers = [{ ipBlock: { cidr: "172.16.0.0/28" } }];
    const policy = findObject(
      renderChart({ values: { networkPolicy: { webhookFrom: peers } } }),
      NetworkPolicy.is,
    );
    expect(policy.spec?.ingress?.[0]).toEqual({
      ports: [{ port: 8443, protocol: "TCP" }],
      from: peers,
    });
  });
});
