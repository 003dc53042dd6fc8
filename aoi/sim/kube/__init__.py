"""The simulated Kubernetes control plane: object store, selectors, patches, controllers, kubelet."""
