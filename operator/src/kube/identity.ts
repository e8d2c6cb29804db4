// Who the operator is to the API server: a SelfSubjectReview (authentication.k8s.io/v1, open to
// every authenticated user, no RBAC needed) answers with the user name its requests carry, e.g.
// system:serviceaccount:<namespace>:<serviceaccount>. The gate recognises the operator's own
// deletes by it.
import { Resources, type KubeClient, type KubeObject } from './port.js';

interface SelfSubjectReview extends KubeObject {
  status?: { userInfo?: { username?: string } };
}

/** The user name of this client's requests; undefined when the server does not say. */
export async function whoAmI(kube: KubeClient): Promise<string | undefined> {
  const review = await kube.create<SelfSubjectReview>(Resources.selfsubjectreviews, {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'SelfSubjectReview',
    metadata: {},
  });
  return review.status?.userInfo?.username || undefined;
}
