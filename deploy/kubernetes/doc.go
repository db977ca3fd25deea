// Package kubernetes holds the manifests that run the example server
// (examples/httpserver) as a Deployment whose patch directory is a
// ConfigMap; docs/fleet.md explains them. It has no Go code but this
// test, which validates the manifests without a cluster: each YAML
// document is decoded strictly (an unknown or duplicated field is an
// error) into the Kubernetes API type its apiVersion and kind name, and
// the manifests are checked against each other, against the example's
// flags and routes, and against the samples they copy.
package kubernetes
