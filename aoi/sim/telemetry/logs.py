"""Container logs, rendered from the health history in each program's own style.

A container's log is its current incarnation: start-up lines, then one tick every ``TICK_S`` with
what the program would print at that moment — sampled request lines, the errors its failing calls
produce (worded by its client library, naming the peer's host and port), its own errors, periodic
chatter — or, for a crash-looping container, the start-up and the fatal lines of its latest attempt.
``previous=True`` gives the incarnation before. Lines are deterministic per seed and pod.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass

from aoi.sim.apps import AppSpec, ServiceSpec
from aoi.sim.behaviour.health import CallStats, Epoch, ServiceStats
from aoi.sim.behaviour.network import dependency_address
from aoi.sim.errors import NotFound, SimError
from aoi.sim.kube.builder import stable_int
from aoi.sim.telemetry.logstyle import render, style, timestamp, vocabulary
from aoi.sim.telemetry.server_logs import MONGO_ISSUES, mongo_server_lines
from aoi.sim.world import ContainerRun, State, crash_cycles

TICK_S = 10.0
WINDOW_S = 2 * 3600.0
_WORDS = ("telescope", "binoculars", "travel", "accessories", "assembly", "optics")


@dataclass(frozen=True)
class Window:
    start: float
    end: float
    crashed: bool
    fatal: tuple[str, ...]


class LogRenderer:
    def __init__(self, state: State, history: list[Epoch], noise: dict[str, dict[str, list[str]]]) -> None:
        self.state, self.history, self.noise = state, history, noise
        self.times = [e.t for e in history]
        self._principals: dict[tuple[str, str], str | None] = {}

    def principal(self, app: AppSpec, service: str) -> str | None:
        """The MongoDB user ``service``'s processes log in as (``MONGO_USER`` of a current pod)."""
        key = (app.namespace, service)
        if key not in self._principals:
            user = None
            for pod in self.state.store.items("Pod", app.namespace):
                run = self.state.pods.get(pod["metadata"]["uid"])
                if run and (pod["metadata"].get("labels") or {}).get(app.label_key) == service:
                    user = next(
                        (
                            c.snapshot.env["MONGO_USER"]
                            for c in run.containers.values()
                            if "MONGO_USER" in c.snapshot.env
                        ),
                        user,
                    )
            self._principals[key] = user
        return self._principals[key]

    # -- incarnations ---------------------------------------------------------------------------------
    def window(self, c: ContainerRun, pod: str, previous: bool) -> Window:
        now = self.state.now
        if c.state == "crashloop" and c.crash_origin is not None:
            n, start, end = crash_cycles(c.crash_origin, c.run_s, now)
            if not previous:
                return Window(start, min(end, now), now >= end, tuple(c.fatal))
            if n >= 1:
                _, pstart, pend = crash_cycles(c.crash_origin, c.run_s, start - 1e-6)
                return Window(pstart, pend, True, tuple(c.fatal))
        elif not previous:
            if c.state == "waiting":
                why = {
                    "ImagePullBackOff": "trying and failing to pull image",
                    "ErrImagePull": "trying and failing to pull image",
                }.get(c.reason, c.reason or "ContainerCreating")
                raise SimError(f'container "{c.name}" in pod "{pod}" is waiting to start: {why}')
            return Window(c.started_at, now, False, ())
        if c.last_term is None:
            raise SimError(f'previous terminated container "{c.name}" in pod "{pod}" not found')
        start, end, _, _ = c.last_term
        return Window(start, end, bool(c.last_fatal), tuple(c.last_fatal))

    # -- entry point ----------------------------------------------------------------------------------
    def pod_logs(
        self, namespace: str, pod: str, container: str | None, previous: bool
    ) -> list[tuple[float, str]]:
        obj = self.state.store.get("Pod", namespace, pod)
        if obj is None:
            raise NotFound(f'pods "{pod}" not found in namespace "{namespace}"')
        names = [c["name"] for c in obj["spec"]["containers"]]
        name = container or names[0]
        if name not in names:
            raise SimError(f"container {name} is not valid for pod {pod}; containers: {', '.join(names)}")
        run = self.state.pods.get(obj["metadata"]["uid"])
        c = run.containers.get(name) if run else None
        if run is None or c is None:
            raise SimError(f'container "{name}" in pod "{pod}" is waiting to start: ContainerCreating')
        app = self.state.app_of(namespace)
        if app is None:
            return []
        svc = (obj["metadata"].get("labels") or {}).get(app.label_key, "")
        program = app.service(c.persona) if c.persona else None
        win = self.window(c, pod, previous)
        lines = self._lines(app, svc, program, pod, run.ip, win, c)
        for i, text in enumerate(self.noise.get(namespace, {}).get(svc, [])):
            t = self.state.now - 600 + (i + 1) * 600 / (len(self.noise[namespace][svc]) + 1)
            if win.start <= t <= win.end:
                lines.append((t, text))
        lines.sort(key=lambda x: x[0])
        return lines

    def _lines(
        self,
        app: AppSpec,
        svc: str,
        program: ServiceSpec | None,
        pod: str,
        ip: str,
        win: Window,
        c: ContainerRun,
    ) -> list[tuple[float, str]]:
        if program is None:
            return []  # the process never started (exec failure): no output
        st_name = program.log_style
        overrides = dict(next((r.overrides for r in app.registry if r.image == c.image), {}))
        db = program.init_deps[0] if program.init_deps else None
        addr = dependency_address(app, program, db, c.snapshot, overrides) if db else None
        ctx = {
            "svc": program.name,
            "Svc": "".join(p.capitalize() for p in program.name.split("-")),
            "port": str(c.listen_port or program.container_port or ""),
            "pod": pod,
            "pod_ip": ip,
            "db_host": f"{addr.host}:{addr.port}" if addr else "",
            "uid": f"{stable_int(pod) % 10**8:08x}",
        }
        out: list[tuple[float, str]] = []
        start = max(win.start, self.state.now - WINDOW_S)
        sty = style(st_name)
        if start == win.start:
            for i, item in enumerate(sty.startup):
                if item == ["db_ok"]:
                    if win.fatal:
                        break
                    continue
                ts = win.start + 0.01 * (i + 1)
                out.append((ts, self._fmt(st_name, ts, item, ctx)))
        if win.crashed:
            out.extend(self._fatal(app, st_name, program, win, ctx))
            return out
        if win.fatal:
            return out
        offset = stable_int(pod) % int(TICK_S)
        t = (start // TICK_S) * TICK_S + offset + TICK_S
        while t <= win.end:
            out.extend(self._tick(app, svc, program, st_name, pod, t, ctx))
            t += TICK_S
        return out

    def _fmt(self, st_name: str, t: float, item: list[object], ctx: dict[str, str]) -> str:
        if style(st_name).format == "json-mongo":
            sev, comp, ident, thread, msg = (str(x) for x in item)
            return render(st_name, t, "info", f"{sev}|{comp}|{ident}|{thread}", msg, ctx["pod"], ctx["svc"])
        level, src, msg = (str(x) for x in item)
        return render(st_name, t, level, _fill(src, ctx), _fill(msg, ctx), ctx["pod"], ctx["svc"])

    def _fatal(
        self, app: AppSpec, st_name: str, program: ServiceSpec, win: Window, ctx: dict[str, str]
    ) -> list[tuple[float, str]]:
        family = style(st_name).family
        out = []
        t = win.end - 0.05
        for fact in win.fatal:
            kind, *rest = fact.split("|")
            if kind == "mongo":
                dep, issue, db = rest
                text = _db_error(
                    family, issue, {"db": db, "collection": dep.split("-")[-1], "host": dep, "hport": "27017"}
                )
            elif kind == "unreachable":
                dep, addr, _ = rest
                host, _, port = addr.partition(":")
                key = "unreachable" if app.service(dep).kind == "mongodb" else "cache"
                text = _db_error(family, key, {"host": host, "hport": port, "db": "", "collection": ""})
            else:
                text = f"missing address for {rest[0]} in the service configuration"
            src = f"cmd/{program.name}/db.go:29" if st_name == "hotel-go" else "main"
            out.append((t, render(st_name, t, "error", src, text, ctx["pod"], ctx["svc"])))
            out.append((t + 0.001, f"panic: {text}"))
            out.append((t + 0.002, ""))
            out.append((t + 0.003, "goroutine 1 [running]:"))
            out.append(
                (t + 0.004, f"main.initializeDatabase({{0xc0000b6000, 0x{stable_int(dep) % 4096:x}}})")
            )
        return out

    def _epoch(self, t: float) -> Epoch:
        return self.history[max(0, bisect.bisect_right(self.times, t) - 1)]

    def _tick(
        self,
        app: AppSpec,
        svc: str,
        program: ServiceSpec,
        st_name: str,
        pod: str,
        t: float,
        ctx: dict[str, str],
    ) -> list[tuple[float, str]]:
        epoch = self._epoch(t)
        health = epoch.apps.get(app.namespace)
        sample = health.pods.get(pod) if health else None
        if health is None or sample is None or not sample.running:
            return []
        st = health.services.get(svc, ServiceStats())
        ready = max(1, sum(1 for p in health.pods.values() if p.service == svc and p.ready))
        share = 1.0 / ready
        rng = random.Random(stable_int(self.state.seed, pod, int(t)))
        sty = style(st_name)
        family = sty.family
        out: list[tuple[float, str]] = []
        errors = sum(st.errors.values())
        ok_rate = max(0.0, st.rps_in - errors) * share if sample.ready else 0.0
        ts = t + rng.random() * 0.9
        if sty.access and st.rps_in * share > 0 and sample.ready:
            code = "200"
            if errors and rng.random() < errors / st.rps_in:
                code = rng.choices(list(st.errors), weights=list(st.errors.values()))[0]
                code = {"503": "502"}.get(code, code) if st_name != "envoy" else code
            path = rng.choice(
                [op.root.op.split(" ")[-1] for op in app.operations if op.root.svc == svc] or ["/"]
            )
            secs = st.lat_ms / 1000 if code in ("200", "500") else (st.timeout_s if code == "504" else 0.002)
            values = {
                **ctx,
                "client": f"10.244.{rng.randint(1, 3)}.{rng.randint(2, 200)}",
                "method": "GET" if "GET" in path or "read" in path else "POST",
                "path": path.replace("{productId}", "OLJCESPC7Z").replace("{file}", "telescope.jpg"),
                "code": code,
                "bytes": str(rng.randint(300, 9000)),
                "secs": f"{secs:.3f}",
                "msecs": str(int(secs * 1000)),
                "flags": "-" if code == "200" else "UF",
                "upstream": f"10.244.{rng.randint(1, 3)}.{rng.randint(2, 200)}:8080",
                "ts:clf": timestamp(ts, "clf"),
                "ts:iso_ms": timestamp(ts, "iso_ms"),
            }
            out.append((ts, _fill(sty.access, values)))
        elif ok_rate > 0 and sty.ok and rng.random() < min(1.0, ok_rate * TICK_S / 8):
            item = rng.choice(sty.ok)
            op = rng.choice([n for n in _ops_of(app, svc)] or ["request"])
            out.append(
                (
                    ts,
                    self._fmt(
                        st_name,
                        ts,
                        item,
                        {
                            **ctx,
                            "op": op,
                            "ms": f"{st.lat_ms * rng.uniform(0.6, 1.5):.2f}",
                            "n": str(rng.randint(40, 400)),
                            "word": rng.choice(_WORDS),
                        },
                    ),
                )
            )
        for peer, cs in sorted(st.calls.items()):
            fail = (cs.conn_fail + cs.upstream_fail) * share
            if fail <= 0 or rng.random() >= min(1.0, fail * TICK_S / 3):
                continue
            upstream = rng.random() < cs.upstream_fail / (cs.conn_fail + cs.upstream_fail)
            te = t + rng.random() * 0.9
            text = self._call_error(app, family, peer, cs, upstream, epoch, te)
            out.append(
                (te, render(st_name, te, "error", _src(st_name, program.name, rng), text, pod, ctx["svc"]))
            )
        for message, rate in sorted(st.own_errors.items()):
            if rng.random() < min(1.0, rate * share * TICK_S / 2):
                te = t + rng.random() * 0.9
                out.append(
                    (
                        te,
                        render(
                            st_name, te, "error", _src(st_name, program.name, rng), message, pod, ctx["svc"]
                        ),
                    )
                )
        if program.kind == "mongodb":
            out.extend(
                mongo_server_lines(
                    app, svc, health, t, rng, ctx["pod"], lambda caller: self.principal(app, caller)
                )
            )
        if sty.noise and rng.random() < 1 / 12:
            item = rng.choice(sty.noise)
            peer_svc = rng.choice([s.name for s in app.services if s.kind == "app"])
            out.append(
                (
                    ts + 0.5,
                    self._fmt(
                        st_name,
                        ts + 0.5,
                        item,
                        {
                            **ctx,
                            "n": str(rng.randint(40, 400)),
                            "ratio": f"{rng.uniform(0.8, 0.97):.2f}",
                            "peer_svc": peer_svc,
                        },
                    ),
                )
            )
        return out

    def _call_error(
        self,
        app: AppSpec,
        family: str,
        peer: str,
        cs: CallStats,
        upstream: bool,
        epoch: Epoch,
        t: float,
    ) -> str:
        kind = cs.kind
        host, _, port = cs.target.rpartition(":")
        spec = app.service(peer)
        svc_obj = self.state.store.get("Service", app.namespace, host.split(".")[0])
        ip = svc_obj["spec"].get("clusterIP", "10.96.0.1") if svc_obj else "10.96.0.1"
        values = {
            "host": host,
            "hport": port,
            "ip": ip,
            "peer": peer,
            "db": spec.database or "",
            "collection": (spec.database or peer).split("-")[0],
            "error": "Internal error",
            "now": timestamp(t, "iso"),
            "validity": cs.detail,
        }
        if upstream:
            peer_stats = epoch.apps[app.namespace].services.get(peer)
            if peer_stats and peer_stats.own_errors:
                values["error"] = max(peer_stats.own_errors.items(), key=lambda kv: kv[1])[0]
            return _fill(
                vocabulary().client_errors.get(family, vocabulary().client_errors["grpc-go"])["upstream"],
                values,
            )
        if spec.kind == "mongodb":
            return _db_error(family, kind if kind in MONGO_ISSUES else "unreachable", values)
        if spec.kind in ("memcached",):
            return _db_error(family, "cache", values)
        table = vocabulary().client_errors.get(family, vocabulary().client_errors["grpc-go"])
        key = {"noconfig": "dns", "down": "refused"}.get(kind or "refused", kind or "refused")
        return _fill(table.get(key, table["refused"]), values)


def _fill(template: str, values: dict[str, str]) -> str:
    out = template
    for key, value in values.items():
        out = out.replace("{" + key + "}", value)
    return out.replace("{{", "{").replace("}}", "}")


def _src(st_name: str, svc: str, rng: random.Random) -> str:
    if st_name == "hotel-go":
        return f"services/{svc}/server.go:{rng.randint(60, 240)}"
    if st_name == "dsb-cpp":
        name = "".join(p.capitalize() for p in svc.split("-")).replace("Service", "")
        return f"{name}Handler.h:{rng.randint(80, 400)}:{name}"
    return svc


def _ops_of(app: AppSpec, svc: str) -> list[str]:
    ops: list[str] = []
    for op in app.operations:
        stack = [op.root]
        while stack:
            node = stack.pop()
            if node.svc == svc and node.op not in ops:
                ops.append(node.op)
            stack.extend(node.calls)
    return ops


def _db_error(family: str, key: str, values: dict[str, str]) -> str:
    table = vocabulary().db_errors.get(family, vocabulary().db_errors["grpc-go"])
    return _fill(table.get(key, table["unreachable"]), values)
