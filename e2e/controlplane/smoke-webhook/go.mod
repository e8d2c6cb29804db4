module capture-drain-operator/e2e/controlplane/smoke-webhook

go 1.26.0
