"""A read-only connection to a Kubernetes API server.

lightkube supplies the hard parts: kubeconfig contexts, TLS, client
certificates, bearer tokens, and the HTTP client. why5xx adds what an
on-call tool needs on top: kubectl's kubeconfig lookup (`--kubeconfig`,
every file of `KUBECONFIG`, `~/.kube/config`, then the in-cluster service
account), exec credential plugins of every API version with a bounded
run time, raw JSON decoded with orjson (manifests exactly as the server
sent them), the server's clock, and a log of every call.

The only verb is GET. Errors that make a diagnosis impossible (no
kubeconfig, unreachable server, rejected credentials, timeouts) raise
`ClusterError`, one line for the user; an answer such as 403 or 404 is data
for the caller.
"""

from __future__ import annotations

import binascii
import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx2
import orjson
from lightkube.config import client_adapter
from lightkube.config.kubeconfig import KubeConfig, SingleConfig
from lightkube.config.models import User, UserExec
from lightkube.core.exceptions import ConfigError

from why5xx.kube import parse_time
from why5xx.sources import kubeyaml
from why5xx.version import __version__

DEFAULT_KUBECONFIG = Path("~/.kube/config")
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
DEFAULT_TIMEOUT = 10.0  # one call
DEFAULT_DEADLINE = 30.0  # a whole live run
# Objects per list page. kubectl pages by 500; a diagnosis reads each list
# once and whole, so bigger pages save round trips (a namespace's Events in
# one call) while still bounding what one answer holds.
PAGE_SIZE = 5000
EXEC_API_VERSIONS = (
    "client.authentication.k8s.io/v1",
    "client.authentication.k8s.io/v1beta1",
    "client.authentication.k8s.io/v1alpha1",
)
# kubeconfig fields holding file paths, resolved against the file that names them.
_PATH_FIELDS = {
    "cluster": ("certificate-authority",),
    "user": ("client-certificate", "client-key", "tokenFile"),
}


class ClusterError(Exception):
    """The cluster cannot be asked at all: one line for the user, exit 2."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiCall:
    """One request, for `--verbose` and the benchmark."""

    path: str  # with its query string
    status: int  # 0 when no answer came
    items: int | None  # objects in a list answer
    seconds: float
    method: str = "GET"

    def __str__(self) -> str:
        count = f", {self.items} items" if self.items is not None else ""
        answer = str(self.status) if self.status else "no answer"
        return f"{self.method} {self.path} -> {answer}{count} in {self.seconds * 1000:.1f} ms"


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """What the server said: an object or the items of a list (200), or the
    reason it refused (a `Status` message)."""

    status: int
    body: Mapping[str, Any]
    items: tuple[dict[str, Any], ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def message(self) -> str:
        return str(self.body.get("message") or f"HTTP {self.status}")


def _resolve_paths(config: dict[str, Any], directory: Path) -> None:
    """Make relative file paths absolute, as kubectl resolves them against
    the kubeconfig file that names them (before merging several files)."""
    for section, fields in _PATH_FIELDS.items():
        for entry in config.get(section + "s") or ():
            body = entry.get(section)
            for name in fields if isinstance(body, dict) else ():
                if isinstance(body.get(name), str) and not Path(body[name]).is_absolute():
                    body[name] = str(directory / body[name])
    for entry in config.get("users") or ():
        user = entry.get("user")
        spec = user.get("exec") if isinstance(user, dict) else None
        if not isinstance(spec, dict):
            continue
        command = spec.get("command")
        if isinstance(command, str) and os.sep in command and not Path(command).is_absolute():
            spec["command"] = str(directory / command)


def _merge(paths: Sequence[Path]) -> dict[str, Any]:
    """kubectl's merge of several kubeconfig files: the first file to name a
    cluster, user or context wins, and so does the first current-context."""
    merged: dict[str, Any] = {"clusters": [], "users": [], "contexts": []}
    seen: dict[str, set[str]] = {key: set() for key in ("clusters", "users", "contexts")}
    for path in paths:
        try:
            loaded = kubeyaml.load(path.read_text()) or {}
        except (OSError, ValueError) as exc:
            raise ClusterError(f"cannot read kubeconfig {path}: {_one_line(exc)}") from exc
        if not isinstance(loaded, dict):
            raise ClusterError(f"cannot read kubeconfig {path}: not a kubeconfig")
        for key in ("clusters", "users", "contexts"):
            entries = loaded.get(key) or []
            if not isinstance(entries, list) or not all(
                isinstance(e, dict) and isinstance(e.get("name"), str) for e in entries
            ):
                raise ClusterError(
                    f"cannot read kubeconfig {path}: {key} is not a list of entries with names"
                )
        _resolve_paths(loaded, path.parent)
        for key in ("clusters", "users", "contexts"):
            for entry in loaded.get(key) or ():
                if entry.get("name") not in seen[key]:
                    seen[key].add(entry.get("name"))
                    merged[key].append(entry)
        if not merged.get("current-context") and loaded.get("current-context"):
            merged["current-context"] = loaded["current-context"]
    return merged


def load_config(
    kubeconfig: str | None = None,
    context: str | None = None,
    *,
    service_account: Path = SERVICE_ACCOUNT,
) -> SingleConfig:
    """The context to talk to, found as kubectl finds it: `--kubeconfig`,
    else every file in `KUBECONFIG`, else `~/.kube/config`, else (inside a
    pod) the service account."""
    if kubeconfig:
        paths = [Path(kubeconfig).expanduser()]
    elif os.environ.get("KUBECONFIG"):
        paths = [Path(p).expanduser() for p in os.environ["KUBECONFIG"].split(os.pathsep) if p]
    else:
        paths = [DEFAULT_KUBECONFIG.expanduser()]
    existing = [p for p in paths if p.is_file()]
    if not existing:
        if kubeconfig or not os.environ.get("KUBERNETES_SERVICE_HOST"):
            where = ", ".join(str(p) for p in paths)
            raise ClusterError(
                f"no kubeconfig at {where} and not running in a cluster: "
                "pass --kubeconfig, set KUBECONFIG, or use --bundle for offline input"
            )
        return _in_cluster(service_account)
    merged = _merge(existing)
    if not merged["contexts"]:
        raise ClusterError(f"kubeconfig {existing[0]} has no contexts")
    try:
        config = KubeConfig.from_dict(merged, fname=existing[0]).get(context_name=context)
    except (ConfigError, KeyError, TypeError, ValueError, AttributeError) as exc:
        names = ", ".join(str(c.get("name")) for c in merged["contexts"])
        wanted = context or merged.get("current-context") or "(none set)"
        raise ClusterError(
            f"context {wanted} is not usable in {existing[0]} ({_one_line(exc)}); "
            f"contexts there: {names} — pick one with --context"
        ) from exc
    assert config is not None
    return config


def _in_cluster(service_account: Path) -> SingleConfig:
    try:
        config = KubeConfig.from_service_account(service_account=service_account).get()
    except (ConfigError, KeyError, OSError) as exc:
        raise ClusterError(f"cannot use the in-cluster service account: {exc}") from exc
    assert config is not None
    return config


class Deadline:
    """One time budget for everything a live run asks of the cluster: each
    API call and each run of a credential plugin gets what is left of it,
    at most `per_call` seconds."""

    def __init__(self, total: float, per_call: float) -> None:
        self.total = total
        self.per_call = per_call
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def budget(self) -> float:
        """Seconds the next step may take; 0 when the deadline has passed."""
        return max(0.0, min(self.per_call, self.total - self.elapsed()))


class ExecCredentialAuth(httpx2.Auth):
    """An exec credential plugin (`aws eks get-token`, `gke-gcloud-auth-plugin`,
    `kubelogin`...): run it, send its token, run it again when the token
    expires or the server answers 401. The plugin gets the
    `KUBERNETES_EXEC_INFO` it expects (non-interactive: why5xx never
    prompts) and what is left of the deadline (at most the request
    timeout); when it does not answer in time, it is killed with every
    process it started. A failure is remembered: the plugin is not run
    again by every waiting request."""

    def __init__(self, spec: UserExec, deadline: Deadline) -> None:
        self.spec = spec
        self.deadline = deadline
        self._lock = threading.Lock()
        self._bearer: str | None = None
        self._expires: datetime | None = None
        self._failure: ClusterError | None = None

    def sync_auth_flow(
        self, request: httpx2.Request
    ) -> Generator[httpx2.Request, httpx2.Response, None]:
        request.headers["Authorization"] = self._token(stale=None)
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = self._token(stale=request.headers["Authorization"])
            yield request

    def _token(self, stale: str | None) -> str:
        """The current bearer, running the plugin when there is none, it
        expired, or it is the one the server just refused (`stale`); one
        thread runs the plugin while the others wait for its token."""
        with self._lock:
            if self._failure is not None:
                raise self._failure
            expired = self._expires is not None and self._expires <= datetime.now(UTC)
            if self._bearer is None or expired or self._bearer == stale:
                try:
                    self._bearer, self._expires = self._run()
                except ClusterError as exc:
                    self._failure = exc
                    raise
            return self._bearer

    def _run(self) -> tuple[str, datetime | None]:
        spec = self.spec
        if spec.apiVersion not in EXEC_API_VERSIONS:
            raise ClusterError(f"credential plugin {spec.command}: unknown API {spec.apiVersion}")
        info = {
            "apiVersion": spec.apiVersion,
            "kind": "ExecCredential",
            "spec": {"interactive": False},
        }
        env = dict(os.environ)
        env.update((var.name, var.value) for var in spec.env or ())
        env["KUBERNETES_EXEC_INFO"] = orjson.dumps(info).decode()
        command = [spec.command, *(spec.args or ())]
        budget = self.deadline.budget()
        started = time.monotonic()
        try:
            process = subprocess.Popen(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # its own process group, to end it whole
            )
        except FileNotFoundError as exc:
            hint = f": {spec.installHint.strip()}" if spec.installHint else ""
            raise ClusterError(f"credential plugin {spec.command} is not installed{hint}") from exc
        except OSError as exc:
            raise ClusterError(f"cannot run credential plugin {spec.command}: {exc}") from exc
        try:
            stdout, stderr = process.communicate(timeout=budget or None)
        except subprocess.TimeoutExpired as exc:
            _kill_group(process)
            raise ClusterError(
                f"credential plugin {spec.command} did not answer within "
                f"{time.monotonic() - started:.1f} s (--request-timeout/--timeout); "
                "it was stopped"
            ) from exc
        finally:
            _kill_group(process)  # what it left running in the background
        if process.returncode != 0:
            detail = _one_line(stderr.decode(errors="replace")) or "no message"
            raise ClusterError(
                f"credential plugin {spec.command} failed (exit {process.returncode}): {detail}"
            )
        try:
            status = orjson.loads(stdout)["status"]
            token = str(status["token"])
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise ClusterError(
                f"credential plugin {spec.command} printed no ExecCredential token"
            ) from exc
        return f"Bearer {token}", parse_time(status.get("expirationTimestamp"))


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """End a plugin and every process in its group (a shell script's
    children too), then reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.communicate(timeout=1)


class KubeApi:
    """GET requests to one API server, thread-safe, each one logged."""

    def __init__(
        self,
        config: SingleConfig,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        deadline: float = DEFAULT_DEADLINE,
    ) -> None:
        self.context = config.context_name
        self.server = config.cluster.server
        self.namespace = config.namespace
        self.timeout = timeout
        self.deadline = Deadline(deadline, timeout)
        user = config.user or User()
        _check_files(config, user)
        try:
            params = client_adapter.ConnectionParams(timeout=httpx2.Timeout(timeout)).httpx_params(
                config._replace(user=user)
            )
            if user.exec is not None:
                params["auth"] = ExecCredentialAuth(user.exec, self.deadline)
            params["headers"] = {
                "Accept": "application/json",
                "User-Agent": f"why5xx/{__version__}",
            }
            self._client = httpx2.Client(**params)
        except (OSError, ValueError, ConfigError, httpx2.InvalidURL) as exc:
            raise ClusterError(_unusable(config.context_name, exc)) from exc
        self._lock = threading.Lock()
        self._calls: list[ApiCall] = []
        self._server_time: datetime | None = None
        # The first time the server could not be reached: later calls fail
        # at once with it instead of waiting out their own timeouts.
        self._unreachable: ClusterError | None = None

    def close(self) -> None:
        self._client.close()

    @property
    def calls(self) -> tuple[ApiCall, ...]:
        with self._lock:
            return tuple(self._calls)

    @property
    def server_time(self) -> datetime | None:
        """The API server's clock, from the `Date` of its latest answer."""
        with self._lock:
            return self._server_time

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Answer:
        """One object (or one page of a list)."""
        response, seconds = self._send(path, params or {})
        status = response.status_code
        body = _decode(response)
        if status == 200 and "kind" not in body and "message" in body:
            # Not whole JSON (a dropped connection, a proxy cutting it short):
            # the read failed, it did not find nothing.
            status, body = 502, {"message": f"the answer was not whole JSON: {body['message']}"}
        items = body.get("items") if status == 200 else None
        self._log(path, params, status, len(items) if isinstance(items, list) else None, seconds)
        if status == 401:
            raise ClusterError(
                f"the API server {self.server} rejected the credentials of context "
                f"{self.context} (401 Unauthorized): log in again or refresh the token"
            )
        return Answer(status=status, body=body)

    def list(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        kind: str,
        api_version: str,
    ) -> Answer:
        """Every item of a collection, page by page, each with the `kind` and
        `apiVersion` that list items leave out."""
        query = dict(params or {})
        query["limit"] = str(PAGE_SIZE)
        items: list[dict[str, Any]] = []
        while True:
            answer = self.get(path, query)
            if not answer.ok:
                return answer
            for item in answer.body.get("items") or ():
                item.setdefault("kind", kind)
                item.setdefault("apiVersion", api_version)
                items.append(item)
            token = (answer.body.get("metadata") or {}).get("continue")
            if not token:
                return Answer(status=200, body=answer.body, items=tuple(items))
            query["continue"] = token

    def write(self, method: str, path: str, body: Mapping[str, Any]) -> Answer:
        """POST or PUT one object. Only `why5xx watch` writes, and only what
        its user opted into: its leader-election Lease and, with `--events`,
        Events about the Services it diagnosed. Nothing else ever writes."""
        started = time.perf_counter()
        try:
            response = self._client.request(method, path, content=orjson.dumps(body))
        except httpx2.HTTPError as exc:
            raise ClusterError(
                f"cannot reach the API server {self.server} (context {self.context}): "
                f"{_one_line(exc)}"
            ) from exc
        self._log(
            f"{method} {path}", None, response.status_code, None, time.perf_counter() - started
        )
        return Answer(status=response.status_code, body=_decode(response))

    def watch(self, path: str, params: Mapping[str, str], *, seconds: int) -> Iterator[Any]:
        """The events of one watch of a collection (`?watch=1`), as decoded
        JSON, until the server ends it after about `seconds`. A dropped or
        silent connection is a `ClusterError`, like a failed GET."""
        query = {**params, "watch": "1", "timeoutSeconds": str(seconds)}
        # The server may stay silent between events for as long as the watch lasts.
        timeout = httpx2.Timeout(self.timeout, read=seconds + self.timeout)
        started = time.perf_counter()
        try:
            with self._client.stream("GET", path, params=query, timeout=timeout) as response:
                self._log(path, query, response.status_code, None, time.perf_counter() - started)
                if response.status_code != 200:
                    response.read()
                    yield {"type": "ERROR", "object": _decode(response)}
                    return
                for line in response.iter_lines():
                    if line.strip():
                        yield orjson.loads(line)
        except (httpx2.HTTPError, orjson.JSONDecodeError) as exc:
            raise ClusterError(
                f"the watch of {path} on {self.server} (context {self.context}) broke: "
                f"{_one_line(exc)}"
            ) from exc

    def _send(self, path: str, params: Mapping[str, str]) -> tuple[httpx2.Response, float]:
        with self._lock:
            unreachable = self._unreachable
        if unreachable is not None:
            raise unreachable
        budget = self.deadline.budget()
        if budget <= 0:
            raise self._give_up(
                ClusterError(
                    f"gave up on the API server {self.server} (context {self.context}) after "
                    f"{self.deadline.elapsed():.1f} s, the overall --timeout"
                )
            )
        started = time.perf_counter()
        try:
            response = self._client.get(path, params=params, timeout=httpx2.Timeout(budget))
        except httpx2.TimeoutException as exc:
            waited = time.perf_counter() - started
            self._log(path, params, 0, None, waited)
            limit = "--request-timeout" if budget >= self.timeout else "the overall --timeout"
            raise self._give_up(
                ClusterError(
                    f"the API server {self.server} (context {self.context}) did not answer "
                    f"within {waited:.1f} s ({limit})"
                )
            ) from exc
        except httpx2.HTTPError as exc:
            self._log(path, params, 0, None, time.perf_counter() - started)
            raise self._give_up(
                ClusterError(
                    f"cannot reach the API server {self.server} (context {self.context}): "
                    f"{_one_line(exc)}"
                )
            ) from exc
        except (OSError, ValueError) as exc:  # TLS material that fails only when used
            self._log(path, params, 0, None, time.perf_counter() - started)
            raise self._give_up(ClusterError(_unusable(self.context, exc))) from exc
        date = response.headers.get("Date")
        if date:
            try:
                moment = parsedate_to_datetime(date).astimezone(UTC)
            except (TypeError, ValueError):
                moment = None
            if moment is not None:
                with self._lock:
                    if self._server_time is None or moment > self._server_time:
                        self._server_time = moment
        return response, time.perf_counter() - started

    def _give_up(self, error: ClusterError) -> ClusterError:
        with self._lock:
            if self._unreachable is None:
                self._unreachable = error
            return self._unreachable

    def _log(
        self,
        path: str,
        params: Mapping[str, str] | None,
        status: int,
        items: int | None,
        seconds: float,
        *,
        method: str = "GET",
    ) -> None:
        shown_params = {k: "..." if k == "continue" else v for k, v in (params or {}).items()}
        shown = path + (f"?{urlencode(shown_params, safe='=,()!')}" if shown_params else "")
        with self._lock:
            self._calls.append(
                ApiCall(path=shown, status=status, items=items, seconds=seconds, method=method)
            )


def _decode(response: httpx2.Response) -> dict[str, Any]:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return {"message": _one_line(response.text) or f"HTTP {response.status_code}"}
    return body if isinstance(body, dict) else {"message": "not a JSON object"}


def _check_files(config: SingleConfig, user: User) -> None:
    """The files a context names must exist: TLS says only "No such file"."""
    named = (
        ("certificate-authority", config.cluster.certificate_auth),
        ("client-certificate", user.client_cert),
        ("client-key", user.client_key),
    )
    for field, name in named:
        if name and not Path(config.abs_file(name)).is_file():
            raise ClusterError(
                f"the kubeconfig of context {config.context_name} names {field} "
                f"{config.abs_file(name)}, which does not exist: "
                "fix the cluster or user entry, or pass --context"
            )


def _unusable(context: str, exc: BaseException) -> str:
    """Why the TLS or server settings of a context cannot be used."""
    if isinstance(exc, OSError) and exc.filename:
        what = f"names {exc.filename}, which cannot be read: {exc.strerror or exc}"
    elif isinstance(exc, binascii.Error):
        what = f"holds *-data that is not valid base64 ({_one_line(exc)})"
    else:
        what = f"cannot be used: {_one_line(exc) or type(exc).__name__}"
    return (
        f"the kubeconfig of context {context} {what}: "
        "fix the cluster or user entry, or pass --context"
    )


def _one_line(value: object) -> str:
    text = " ".join(str(value).split())
    return text[:300]
