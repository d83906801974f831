/** A kubeconfig file's text for one API server (e.g. the fake one), with a bearer token. */
export function renderKubeconfig(server: string, token = "test-token"): string {
  return `apiVersion: v1
kind: Config
clusters:
  - name: fake
    cluster: {server: "${server}", insecure-skip-tls-verify: true}
users:
  - name: ci
    user: {token: ${token}}
contexts:
  - name: fake
    context: {cluster: fake, user: ci}
current-context: fake
`;
}
