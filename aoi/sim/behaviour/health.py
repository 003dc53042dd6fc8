"""What the apps' traffic experiences right now, derived from state: the health epoch.

For every operation of the workload (a call tree from the app YAML) each call is evaluated the way it
would really go: the caller resolves the callee's address from the config its process loaded, then
DNS → Service → Endpoints → a listening process (``network.reach``), then MongoDB TLS/auth/roles,
then the callee's own behaviour (feature flags, CPU throttling) and its own calls. The result —
per-operation trees with failure probabilities and latencies, per-service rates, per-edge failures
and per-pod resource use — is what logs, metrics and traces are rendered from. It never looks at
which fault was applied; it cannot tell.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aoi.sim.apps import AppSpec, CallNode, ServiceSpec
from aoi.sim.behaviour.flags import active_effects, served_flags
from aoi.sim.behaviour.mongo import mongo_issue
from aoi.sim.behaviour.network import Address, Reach, dependency_address, reach
from aoi.sim.behaviour.tls import handshake_failure
from aoi.sim.kube.controllers import pod_ready
from aoi.sim.kube.quantity import cpu_millicores
from aoi.sim.world import ContainerRun, State

TIMEOUT_S = {"thrift": 10.0, "grpc": 3.0, "http": 5.0}
FAST_FAIL_MS = 1.0
WRONG_PROGRAM = {
    "thrift": "TApplicationException: Invalid method name: '{op}'",
    "grpc": "rpc error: code = Unimplemented desc = unknown service {svc}",
    "http": "404 Not Found",
}


@dataclass
class EdgeEval:
    """A caller → callee connection: fraction that gets through and, for the rest, why not."""

    caller: str
    callee: str
    ok: float
    kind: str | None = None
    host: str = ""
    port: int = 0
    ip: str = ""
    delay_ms: float = 0.0
    detail: str = ""  # x509: "is after <notAfter>" / "is before <notBefore>", as Go words it


@dataclass
class NodeEval:
    svc: str
    op: str
    critical: bool
    edge: EdgeEval
    own_fail: float = 0.0
    own_error: str | None = None
    fail: float = 0.0
    codes: dict[str, float] = field(default_factory=dict)
    lat_ms: float = 1.0
    timeout_frac: float = 0.0
    children: list[NodeEval] = field(default_factory=list)


@dataclass
class CallStats:
    attempts: float = 0.0
    conn_fail: float = 0.0
    kind: str | None = None
    upstream_fail: float = 0.0
    target: str = ""
    detail: str = ""


@dataclass
class ServiceStats:
    rps_in: float = 0.0
    errors: dict[str, float] = field(default_factory=dict)
    lat_ms: float = 0.0
    timeout_frac: float = 0.0
    timeout_s: float = 3.0
    calls: dict[str, CallStats] = field(default_factory=dict)
    own_errors: dict[str, float] = field(default_factory=dict)
    effects: list[str] = field(default_factory=list)
    cpu_cores: float = 0.0
    mem_bytes: float = 0.0
    throttle: float = 1.0
    lag: float = 0.0


@dataclass
class PodSample:
    service: str
    container: str
    node: str
    ready: bool
    phase: str
    running: bool
    restarts: int
    crash: tuple[float, float] | None
    fatal: tuple[str, ...]
    waiting: str | None
    cpu_cores: float
    mem_bytes: float
    throttle: float


@dataclass
class AppHealth:
    ops: list[tuple[str, float, NodeEval]] = field(default_factory=list)
    services: dict[str, ServiceStats] = field(default_factory=dict)
    pods: dict[str, PodSample] = field(default_factory=dict)
    deployments: dict[str, tuple[int, int]] = field(default_factory=dict)


@dataclass
class Epoch:
    t: float
    apps: dict[str, AppHealth]


class _AppEvaluator:
    def __init__(self, state: State, app: AppSpec) -> None:
        self.state, self.app = state, app
        self.ns = app.namespace
        self.timeout_s = TIMEOUT_S[app.protocol]
        self.effects = active_effects(app, served_flags(state, app))
        self.backends: dict[str, list[tuple[str, ContainerRun]]] = {}
        self.edges: dict[tuple[str, str], EdgeEval] = {}
        for spec in app.services:
            self.backends[spec.name] = self._backends(spec)

    def _backends(self, spec: ServiceSpec) -> list[tuple[str, ContainerRun]]:
        if spec.port is not None:
            return reach(self.state, self.ns, Address(spec.name, spec.port)).backends
        out = []
        for pod in self.state.store.items("Pod", self.ns):
            if (pod["metadata"].get("labels") or {}).get(self.app.label_key) != spec.name:
                continue
            run = self.state.pods.get(pod["metadata"]["uid"])
            for c in run.containers.values() if run else []:
                if c.state == "running":
                    out.append((pod["metadata"]["name"], c))
        return out

    def effect(self, svc: str, kind: str) -> list[tuple[object, float]]:
        return [(spec, s) for spec, s in self.effects if spec.service == svc and spec.effect == kind]

    def program(self, svc: str) -> tuple[ServiceSpec, ContainerRun] | None:
        backends = self.backends.get(svc) or []
        if not backends:
            return None
        c = backends[0][1]
        return self.app.service(c.persona or svc), c

    def root_edge(self, node: CallNode) -> EdgeEval:
        spec = self.app.service(node.svc)
        if self.app.client is not None and node.svc == self.app.client.target:
            client = self.program(self.app.client.service)
            if client is None:
                return EdgeEval("", node.svc, 0.0, "down")
            return self.edge(self.app.client.service, node.svc)
        if spec.port is None:
            ok = 1.0 if self.backends.get(node.svc) else 0.0
            return EdgeEval("", node.svc, ok, None if ok else "down")
        r = reach(self.state, self.ns, Address(node.svc, spec.port))
        return self._verify_tls(
            EdgeEval("", node.svc, r.ok, r.error, node.svc, spec.port, r.ip, r.delay_ms), r
        )

    def _verify_tls(self, result: EdgeEval, r: Reach) -> EdgeEval:
        """Connections that got through fail the TLS handshake where the certificate is not valid now."""
        if r.ok > 0:
            rejected, why = handshake_failure(r.backends, self.state.now)
            if rejected > 0:
                result.ok *= 1.0 - rejected
                result.kind, result.detail = "x509", why
        return result

    def edge(self, caller: str, callee: str) -> EdgeEval:
        key = (caller, callee)
        if key in self.edges:
            return self.edges[key]
        found = self.program(caller)
        if found is None:
            result = EdgeEval(caller, callee, 0.0, "down")
        else:
            program, container = found
            overrides = dict(next((r.overrides for r in self.app.registry if r.image == container.image), {}))
            for spec, _ in self.effect(caller, "address"):
                if getattr(spec, "dep", None) == callee:
                    overrides[callee] = str(getattr(spec, "address", ""))
            addr = dependency_address(self.app, program, callee, container.snapshot, overrides)
            if addr is None:
                result = EdgeEval(caller, callee, 0.0, "noconfig")
            else:
                r = reach(self.state, self.ns, addr)
                result = EdgeEval(caller, callee, r.ok, r.error, addr.host, addr.port, r.ip, r.delay_ms)
                callee_spec = self.app.service(callee)
                if callee_spec.kind != "mongodb":
                    self._verify_tls(result, r)
                elif r.ok > 0:
                    issue = mongo_issue(
                        self.state, self.ns, container.snapshot, r, callee_spec.database or ""
                    )
                    if issue:
                        result.ok, result.kind = 0.0, issue
        self.edges[key] = result
        return result

    def service_factors(self, svc: str) -> tuple[float, float, float, float]:
        """(latency factor, cpu cores per pod, memory bytes per pod, throttle ratio) of ``svc``."""
        found = self.program(svc)
        spec = found[0] if found else self.app.service(svc)
        lat, cpu, mem = 1.0, spec.cpu_m / 1000.0, spec.mem_mi * 2**20
        for kind in ("cpu", "gc", "lag", "flood", "leak"):
            for eff, _ in self.effect(svc, kind):
                lat *= getattr(eff, "latency_factor", 1.0)
                cpu *= getattr(eff, "cpu_factor", 1.0)
                mem *= getattr(eff, "memory_factor", 1.0)
        throttle = 1.0
        pods = max(1, len(self.backends.get(svc) or []))
        cpu /= pods
        limit = self._cpu_limit(svc)
        if limit is not None and cpu > limit:
            throttle = cpu / limit
            cpu = limit
            lat *= throttle
        return lat, cpu, mem, throttle

    def _cpu_limit(self, svc: str) -> float | None:
        for pod in self.state.store.items("Pod", self.ns):
            if (pod["metadata"].get("labels") or {}).get(self.app.label_key) == svc and pod_ready(
                self.state, pod
            ):
                limits = (pod["spec"]["containers"][0].get("resources") or {}).get("limits") or {}
                mc = cpu_millicores(limits.get("cpu"))
                return None if mc is None else mc / 1000.0
        return None

    def node(
        self, call: CallNode, edge: EdgeEval, factors: dict[str, tuple[float, float, float, float]]
    ) -> NodeEval:
        found = self.program(call.svc)
        base = (found[0].latency_ms if found else self.app.service(call.svc).latency_ms) * factors[call.svc][
            0
        ]
        n = NodeEval(call.svc, call.op, call.critical, edge, lat_ms=base)
        for eff, strength in self.effect(call.svc, "fail"):
            if getattr(eff, "op", None) == call.op:
                n.own_fail = (
                    strength if getattr(eff, "rate_from_variant", False) else float(getattr(eff, "rate", 1.0))
                )
                n.own_error = getattr(eff, "error", None)
        for eff, strength in self.effect(call.svc, "latency"):
            if getattr(eff, "op", None) == call.op:
                n.lat_ms += strength if getattr(eff, "delay_ms_from_variant", False) else 1000.0
        if found is not None and found[0].name != call.svc:  # another program answers on this port
            n.own_fail, n.own_error = 1.0, WRONG_PROGRAM[self.app.protocol].format(op=call.op, svc=call.svc)
        survive, q_ok = 1.0 - n.own_fail, 1.0
        if n.own_fail:
            n.codes["500"] = n.own_fail
        for child_call in call.calls:
            e = self.edge(call.svc, child_call.svc)
            child = self.node(child_call, e, factors)
            n.children.append(child)
            conn_fail = 1.0 - e.ok
            slow = (child.lat_ms + e.delay_ms) / 1000.0 >= self.timeout_s
            timeout_part = conn_fail * (e.kind == "timeout") + (e.ok if slow else e.ok * child.timeout_frac)
            n.lat_ms += e.ok * (child.lat_ms + e.delay_ms) * (0.0 if slow else 1.0) + conn_fail * FAST_FAIL_MS
            q_ok *= 1.0 - timeout_part
            if not child.critical:
                continue
            steps = [(timeout_part, "504"), (conn_fail * (e.kind != "timeout"), "503")]
            resp_fail = 0.0 if slow else e.ok * child.fail
            steps.append((resp_fail, "500"))
            for p, code in steps:
                if p > 0:
                    n.codes[code] = n.codes.get(code, 0.0) + survive * min(p, 1.0)
                    survive *= max(0.0, 1.0 - p)
        n.fail = min(1.0, max(0.0, 1.0 - survive))
        n.timeout_frac = 1.0 - q_ok
        return n

    def accumulate(self, n: NodeEval, arriving: float, stats: dict[str, ServiceStats]) -> None:
        st = stats[n.svc]
        st.rps_in += arriving
        st.lat_ms += arriving * n.lat_ms
        st.timeout_frac += arriving * n.timeout_frac
        for code, p in n.codes.items():
            st.errors[code] = st.errors.get(code, 0.0) + arriving * p
        if n.own_error and n.own_fail:
            st.own_errors[n.own_error] = st.own_errors.get(n.own_error, 0.0) + arriving * n.own_fail
        for child in n.children:
            cs = st.calls.setdefault(
                child.svc,
                CallStats(
                    kind=child.edge.kind,
                    target=f"{child.edge.host}:{child.edge.port}",
                    detail=child.edge.detail,
                ),
            )
            cs.attempts += arriving
            cs.conn_fail += arriving * (1.0 - child.edge.ok)
            cs.upstream_fail += arriving * child.edge.ok * child.fail
            self.accumulate(child, arriving * child.edge.ok, stats)

    def evaluate(self) -> AppHealth:
        health = AppHealth()
        factors = {s.name: self.service_factors(s.name) for s in self.app.services}
        stats = {s.name: ServiceStats(timeout_s=self.timeout_s) for s in self.app.services}
        total = sum(op.weight for op in self.app.operations)
        for op in self.app.operations:
            rate = self.app.rps * op.weight / total
            for eff, _ in self.effects:
                if eff.effect == "flood" and eff.op_weight == op.name:
                    rate *= eff.rps_factor
            root = self.node(op.root, self.root_edge(op.root), factors)
            health.ops.append((op.name, rate, root))
            self.accumulate(root, rate * root.edge.ok, stats)
        if self.app.client is not None:
            target = self.app.client.target
            cs = stats[self.app.client.service].calls.setdefault(target, CallStats(target=f"{target}:8080"))
            for _, rate, root in health.ops:
                if root.svc == target:
                    cs.attempts += rate
                    cs.conn_fail += rate * (1.0 - root.edge.ok)
                    cs.upstream_fail += rate * root.edge.ok * root.fail
                    cs.kind = root.edge.kind or cs.kind
                    cs.detail = root.edge.detail or cs.detail
        for name, st in stats.items():
            if st.rps_in > 0:
                st.lat_ms /= st.rps_in
                st.timeout_frac /= st.rps_in
            else:
                st.lat_ms = factors[name][0] * self.app.service(name).latency_ms
            _, st.cpu_cores, st.mem_bytes, st.throttle = factors[name]
            st.effects = [eff.effect for eff, _ in self.effects if eff.service == name]
            if "lag" in st.effects:
                st.lag = 100.0
        health.services = stats
        self._pods(health, factors)
        return health

    def _pods(self, health: AppHealth, factors: dict[str, tuple[float, float, float, float]]) -> None:
        for kind in ("Deployment", "StatefulSet"):
            for obj in self.state.store.items(kind, self.ns):
                status = obj.get("status") or {}
                health.deployments[obj["metadata"]["name"]] = (
                    int(obj["spec"].get("replicas", 1)),
                    int(status.get("availableReplicas", 0)),
                )
        for pod in self.state.store.items("Pod", self.ns):
            svc = (pod["metadata"].get("labels") or {}).get(self.app.label_key, "")
            run = self.state.pods.get(pod["metadata"]["uid"])
            container = pod["spec"]["containers"][0]["name"]
            c = run.containers.get(container) if run else None
            running = c is not None and c.state == "running"
            _, cpu, mem, throttle = factors.get(svc, (1.0, 0.0, 0.0, 1.0))
            crash = (
                (c.crash_origin, c.run_s)
                if c is not None and c.state == "crashloop" and c.crash_origin
                else None
            )
            health.pods[pod["metadata"]["name"]] = PodSample(
                service=svc,
                container=container,
                node=run.node if run else "",
                ready=pod_ready(self.state, pod),
                phase="Running" if run and c is not None and c.state != "waiting" else "Pending",
                running=running,
                restarts=c.restarts if c else 0,
                crash=crash,
                fatal=tuple(c.fatal) if c else (),
                waiting=(c.reason or "ContainerCreating")
                if c is not None and c.state == "waiting"
                else ("ContainerCreating" if c is None else None),
                cpu_cores=cpu if running else 0.0,
                mem_bytes=mem if running else 0.0,
                throttle=throttle if running else 1.0,
            )


def compute_epoch(state: State) -> Epoch:
    """The health of every deployed app at ``state.now``."""
    return Epoch(state.now, {ns: _AppEvaluator(state, app).evaluate() for ns, app in state.apps.items()})
