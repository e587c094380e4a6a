// Package deploy holds what runs kmigrate elsewhere than on a shell: the
// Kubernetes manifests (deploy/kubernetes), Prometheus alerting rules and a
// Grafana dashboard. It has no Go code; its tests build the binary with
// tools/build-static, the script the container image (the Dockerfile at the
// repository root) builds it with, and check what comes out.
package deploy
