"""The simulator's network face: Kubernetes-, Prometheus- and Jaeger-compatible HTTP APIs.

``aoi sim serve`` mounts all three on one port (see ``server.build_app`` for the path table) so that
the real ``kubectl``, the official ``kubernetes`` Python client, Grafana-style Prometheus clients and
Jaeger clients can investigate and repair a ``SimCluster`` exactly as they would a real cluster.

This ``__init__`` deliberately imports nothing: ``aoi.sim.promql`` uses the PromQL parser from this
package on the in-process fast path, which must not pay for starlette or uvicorn.
"""
