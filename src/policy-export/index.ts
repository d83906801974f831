/**
 * The rules that need no other object, as ValidatingAdmissionPolicy and MutatingAdmissionPolicy
 * CEL for the API server itself: a safety net while the webhook is down. Pure: configuration in,
 * objects (or chart text) out.
 */
export {
  mutatingApiVersion,
  validatingApiVersion,
  isDenyOnlyValidating,
  isOnByDefault,
  type AdmissionApiVersion,
} from "./api-versions.js";
export { SELF_CONTAINED_RULES, type SelfContainedRule } from "./cel.js";
export { buildPolicyDocuments, type PolicyDocument, type Presence } from "./documents.js";
export {
  exportAdmissionPolicies,
  PolicyExportError,
  type ExportOptions,
  type PolicyExport,
} from "./export.js";
