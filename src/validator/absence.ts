// Findings whose truth depends on what the view holds: each says that some object is not there (a reference to an
// object that does not exist, a namespace not known to be in the mesh). Against the cluster's state they are facts;
// against the objects of one change alone (the offline commands without --cluster-state or --kubeconfig) they only
// say that the object is not in that change, and the offline report calls them unverified.
export const ABSENCE_RULES: ReadonlySet<string> = new Set([
  'egress-match-missing',
  'gtp-cluster-key-unverified',
  'gtp-governs-nothing',
  'ingress-source-unmonitored',
  'pluginchain-plugin-missing',
  'pluginconfig-plugin-missing',
  'pluginconfig-plugin-unmounted',
  'pluginconfig-service-missing',
  'serviceexport-service-missing',
  'trafficsplit-apex-missing',
  'trafficsplit-backend-missing',
  'trafficsplit-match-missing',
  'traffictarget-route-missing',
  'upstream-host-unmatched',
]);
