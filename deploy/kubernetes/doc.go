// Package kubernetes holds the manifests that run `kmigrate run` on Kubernetes:
// a Deployment of one replica, the ConfigMap with the configuration file, a
// Service for /metrics and the dashboard, and a PodDisruptionBudget. It has no
// Go code; its tests decode every manifest strictly with the Kubernetes API
// types and check it against kmigrate itself: the configuration loader, the
// command line and the port the server listens on.
package kubernetes
