"""Bring the local development stack up and down: a real PostgreSQL cluster, a real
Apache Kafka broker (KRaft, single node) and the schema registry's HTTP server (the built-in
registry served over Confluent's REST API, `sagactl registry serve`) and Jaeger v2 (the trace
backend: OTLP in, UI and query API out, traces in memory), all owned by this checkout.

    python .devstack/stack.py up      # idempotent; reuses servers that already answer
    python .devstack/stack.py down    # stops only what `up` started (pid files)
    python .devstack/stack.py status
    python .devstack/stack.py restart postgres|kafka   # chaos runs

Servers named by SAGA_DATABASE_URL / SAGA_KAFKA_BOOTSTRAP / SAGA_SCHEMA_REGISTRY_URL /
SAGA_JAEGER_URL are used as they are when they answer.
Everything this script creates lives under .devstack/run/ (git-ignored).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from confluent_kafka.admin import AdminClient

HERE = Path(__file__).resolve().parent
RUN = HERE / "run"

DEFAULT_DATABASE_URL = "postgresql://saga:saga@127.0.0.1:5433/saga"
DEFAULT_OWNER_DATABASE_URL = "postgresql://saga_owner:saga_owner@127.0.0.1:5433/saga"
DEFAULT_SUPERUSER_DATABASE_URL = "postgresql://postgres:postgres@127.0.0.1:5433/postgres"
DEFAULT_KAFKA_BOOTSTRAP = "127.0.0.1:9092"
KAFKA_CONTROLLER_PORT = 9093

# The broker needs well under this on a 2-core box; a bound keeps the demo and CI predictable.
KAFKA_JVM_OPTS = ["-Xms256m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:MaxMetaspaceSize=256m"]
# A cold JVM on a loaded 2-core machine can take half a minute before the broker registers.
KAFKA_READY_TIMEOUT_S = 120.0
DEFAULT_SCHEMA_REGISTRY_URL = "http://127.0.0.1:8081"
# A Python process that imports the codec: a couple of seconds even on a loaded machine.
REGISTRY_READY_TIMEOUT_S = 30.0


class StackError(Exception):
    """A failure the user must act on; printed as one line plus context, exit status 1."""


def log(message: str) -> None:
    print(f"[stack] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Settings:
    database_url: str
    owner_database_url: str
    superuser_database_url: str
    kafka_bootstrap: str
    database_url_is_default: bool
    kafka_bootstrap_is_default: bool
    schema_registry_url: str = DEFAULT_SCHEMA_REGISTRY_URL
    schema_registry_url_is_default: bool = True

    @classmethod
    def from_env(cls) -> Settings:
        db = os.environ.get("SAGA_DATABASE_URL") or DEFAULT_DATABASE_URL
        kafka = os.environ.get("SAGA_KAFKA_BOOTSTRAP") or DEFAULT_KAFKA_BOOTSTRAP
        registry = os.environ.get("SAGA_SCHEMA_REGISTRY_URL") or DEFAULT_SCHEMA_REGISTRY_URL
        return cls(
            database_url=db,
            owner_database_url=os.environ.get("SAGA_OWNER_DATABASE_URL")
            or DEFAULT_OWNER_DATABASE_URL,
            superuser_database_url=os.environ.get("SAGA_SUPERUSER_DATABASE_URL")
            or DEFAULT_SUPERUSER_DATABASE_URL,
            kafka_bootstrap=kafka,
            database_url_is_default=db == DEFAULT_DATABASE_URL,
            kafka_bootstrap_is_default=kafka == DEFAULT_KAFKA_BOOTSTRAP,
            schema_registry_url=registry.rstrip("/"),
            schema_registry_url_is_default=registry.rstrip("/") == DEFAULT_SCHEMA_REGISTRY_URL,
        )


# --------------------------------------------------------------------------- helpers


@contextlib.contextmanager
def stack_lock() -> Iterator[None]:
    """Serialise concurrent `up`/`down` calls (parallel test runs, helpers, make -j)."""
    RUN.mkdir(parents=True, exist_ok=True)
    with (RUN / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def port_is_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    return pid if pid_alive(pid) else None


def tail(path: Path, lines: int = 30) -> str:
    try:
        content = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(content[-lines:])


def who_listens(port: int) -> str:
    """Best effort: the process holding a TCP port, for the error message."""
    ss = shutil.which("ss")
    if ss is None:
        return "unknown process"
    out = subprocess.run(
        [ss, "-ltnpH", f"sport = :{port}"], capture_output=True, text=True, check=False
    )
    return out.stdout.strip() or "unknown process"


def is_root() -> bool:
    return os.geteuid() == 0


def run(cmd: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    if cmd and cmd[0] == "runuser":
        kwargs.setdefault("cwd", "/")  # the postgres user may not be able to enter ours
    return subprocess.run(list(cmd), check=True, text=True, **kwargs)  # type: ignore[call-overload, no-any-return]


# --------------------------------------------------------------------------- PostgreSQL


def postgres_answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def pg_bin_dir() -> Path | None:
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return candidates[-1].parent if candidates else None


def ensure_postgres_installed() -> Path:
    bin_dir = pg_bin_dir()
    if bin_dir is not None:
        return bin_dir
    if not is_root():
        raise StackError(
            "PostgreSQL server binaries are missing; install Debian's `postgresql` package "
            "(sudo apt-get install postgresql) or set SAGA_DATABASE_URL to a running server"
        )
    log("installing Debian's postgresql package (first run only)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-q"], env=env, stdout=subprocess.DEVNULL)
    run(["apt-get", "install", "-y", "-q", "postgresql"], env=env, stdout=subprocess.DEVNULL)
    bin_dir = pg_bin_dir()
    if bin_dir is None:
        raise StackError("apt-get installed postgresql but no pg_ctl was found under /usr/lib")
    return bin_dir


def as_postgres_user(cmd: Sequence[str]) -> list[str]:
    # initdb and the server refuse to run as root; on a developer's own account they run as is.
    return ["runuser", "-u", "postgres", "--", *cmd] if is_root() else list(cmd)


def postgres_home() -> Path:
    """Where the cluster's files live: .devstack/run/postgres, or, when the postgres OS user
    cannot traverse this checkout's path (a clone under a 0700 mktemp dir, say), a directory
    under /var/lib keyed by the checkout's path with .devstack/run/postgres linking to it."""
    link = RUN / "postgres"
    if link.is_symlink() or not is_root():
        link.mkdir(parents=True, exist_ok=True)
        return link.resolve()
    link.mkdir(parents=True, exist_ok=True)
    reachable = subprocess.run(
        ["runuser", "-u", "postgres", "--", "test", "-x", str(link)], check=False
    )
    if reachable.returncode == 0:
        return link
    key = uuid.uuid5(uuid.NAMESPACE_URL, str(HERE)).hex[:12]
    home = Path("/var/lib/saga-orchestrator") / key
    home.mkdir(parents=True, exist_ok=True)
    link.rmdir()
    link.symlink_to(home, target_is_directory=True)
    log(f"checkout not reachable by the postgres user; cluster files in {home}")
    return home


def postgres_up(settings: Settings) -> str:
    if postgres_answers(settings.database_url):
        return f"PostgreSQL answering at {redact(settings.database_url)} (reused)"
    if not settings.database_url_is_default:
        raise StackError(
            f"SAGA_DATABASE_URL={redact(settings.database_url)} does not answer; start that "
            "server, or unset SAGA_DATABASE_URL to let `make up` run a local cluster"
        )
    parts = urlsplit(DEFAULT_DATABASE_URL)
    port = parts.port or 5433
    if port_is_open("127.0.0.1", port):
        raise StackError(
            f"port {port} is in use by something that does not accept the project's "
            f"credentials ({who_listens(port)}); free it or set SAGA_DATABASE_URL"
        )
    bin_dir = ensure_postgres_installed()
    home = postgres_home()
    data = home / "data"
    if is_root():
        shutil.chown(home, user="postgres", group="postgres")
    if not (data / "PG_VERSION").exists():
        log(f"initialising a PostgreSQL cluster in {data}")
        pwfile = home / "superuser.pw"
        pwfile.write_text("postgres\n")
        if is_root():
            shutil.chown(pwfile, user="postgres", group="postgres")
        init_postgres_cluster(bin_dir, data, pwfile)
        pwfile.unlink()
    log_file = home / "postgres.log"
    options = (
        f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c max_connections=200 "
        "-c shared_buffers=256MB -c wal_buffers=16MB -c max_wal_size=2GB"
    )
    start_postgres_cluster(bin_dir, data, log_file, options)
    create_roles(settings)
    if not postgres_answers(settings.database_url):
        raise StackError(f"PostgreSQL started but {redact(settings.database_url)} is refused")
    return f"PostgreSQL started on 127.0.0.1:{port} (data in {data})"


def init_postgres_cluster(bin_dir: Path, data: Path, pwfile: Path) -> None:
    """initdb with the superuser postgres, whose password is in `pwfile`."""
    run(
        as_postgres_user(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "--username=postgres",
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ]
        ),
        stdout=subprocess.DEVNULL,
    )


def start_postgres_cluster(bin_dir: Path, data: Path, log_file: Path, options: str) -> None:
    try:
        run(
            as_postgres_user(
                [
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(log_file),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            ),
            stdout=subprocess.DEVNULL,
        )
    except subprocess.CalledProcessError as exc:
        raise StackError(f"PostgreSQL did not start:\n{tail(log_file)}") from exc


def create_roles(settings: Settings) -> None:
    owner = urlsplit(settings.owner_database_url)
    app = urlsplit(settings.database_url)
    database = app.path.lstrip("/")
    with psycopg.connect(settings.superuser_database_url, autocommit=True) as conn:
        for parts in (owner, app):
            exists = conn.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", (parts.username,)
            ).fetchone()
            if exists is None:
                conn.execute(
                    psycopg.sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                        psycopg.sql.Identifier(parts.username or ""),
                        psycopg.sql.Literal(parts.password),
                    )
                )
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
            return
        conn.execute(
            psycopg.sql.SQL("CREATE DATABASE {} OWNER {}").format(
                psycopg.sql.Identifier(database), psycopg.sql.Identifier(owner.username or "")
            )
        )


def postgres_down() -> str:
    # Resolved: when .devstack/run/postgres links to /var/lib (a checkout the postgres user
    # cannot traverse), pg_ctl must be given the real path.
    home = (RUN / "postgres").resolve()
    data = home / "data"
    pid = read_pid(data / "postmaster.pid")
    if pid is None:
        return "PostgreSQL: not started by this checkout"
    bin_dir = pg_bin_dir()
    if bin_dir is None:
        os.kill(pid, signal.SIGINT)  # the server's own "fast shutdown" signal
    else:
        run(
            as_postgres_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
            stdout=subprocess.DEVNULL,
        )
    return f"PostgreSQL stopped (pid {pid})"


def launch_tls_postgres(home: Path, port: int, cert: Path, key: Path) -> str:
    """Start a PostgreSQL cluster of its own under `home` (which the postgres user must be able
    to enter), on 127.0.0.1:`port`, that accepts only TLS connections (hostssl) with the
    server certificate `cert`/`key`. Returns its superuser URL (postgres/postgres); stop it
    with `stop_postgres_cluster(home)`. Tests use it rather than reconfigure the shared one."""
    bin_dir = ensure_postgres_installed()
    data = home / "data"
    pwfile = home / "superuser.pw"
    pwfile.write_text("postgres\n")
    if is_root():
        shutil.chown(home, user="postgres", group="postgres")
        shutil.chown(pwfile, user="postgres", group="postgres")
    init_postgres_cluster(bin_dir, data, pwfile)
    (data / "pg_hba.conf").write_text(
        "local all all scram-sha-256\n"
        "hostssl all all 127.0.0.1/32 scram-sha-256\n"
        "hostnossl all all 0.0.0.0/0 reject\n"
    )
    for source, name in ((cert, "server.crt"), (key, "server.key")):
        target = data / name
        shutil.copyfile(source, target)
        target.chmod(0o600)  # the server refuses a key others can read
        if is_root():
            shutil.chown(target, user="postgres", group="postgres")
    options = (
        f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c ssl=on "
        "-c max_connections=40 -c shared_buffers=32MB"
    )
    log_file = home / "postgres.log"
    start_postgres_cluster(bin_dir, data, log_file, options)
    return f"postgresql://postgres:postgres@127.0.0.1:{port}/postgres"


def stop_postgres_cluster(home: Path) -> None:
    bin_dir = ensure_postgres_installed()
    run(
        as_postgres_user([str(bin_dir / "pg_ctl"), "-D", str(home / "data"), "-m", "fast", "stop"]),
        stdout=subprocess.DEVNULL,
    )


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


# --------------------------------------------------------------------------- Kafka


def kafka_answers(
    bootstrap: str, timeout: float = 5.0, client_config: Mapping[str, str] | None = None
) -> bool:
    """`client_config`: more librdkafka properties, such as a secured listener's."""
    admin = AdminClient(
        {
            "bootstrap.servers": bootstrap,
            "socket.connection.setup.timeout.ms": 3000,
            "log_level": 0,
            **(client_config or {}),
        }
    )
    try:
        metadata = admin.list_topics(timeout=timeout)
    except Exception:  # noqa: BLE001 - any failure here just means "not a broker (yet)"
        return False
    return bool(metadata.brokers)


def ensure_kafka_jars(libs: Path) -> None:
    marker = libs / ".complete"
    if marker.exists():
        return
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError("Maven (mvn) is needed once to fetch the Kafka broker jars")
    log("fetching Apache Kafka broker jars from Maven Central (first run only)")
    libs.mkdir(parents=True, exist_ok=True)
    try:
        run(
            [
                mvn,
                "-B",
                "-q",
                "-f",
                str(HERE / "pom.xml"),
                f"-DoutputDirectory={libs}",
                "-DincludeScope=runtime",
                "org.apache.maven.plugins:maven-dependency-plugin:3.7.1:copy-dependencies",
            ],
            capture_output=True,
        )
    except subprocess.CalledProcessError as exc:
        raise StackError(
            f"mvn could not fetch the Kafka jars:\n{exc.stdout}\n{exc.stderr}"
        ) from exc
    marker.touch()


def kafka_cluster_id() -> str:
    # Kafka's Uuid text form: URL-safe base64 of 16 random bytes, without padding.
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


def launch_kafka(
    home: Path, port: int, controller_port: int, libs: Path
) -> subprocess.Popen[bytes]:
    """Start a single-node KRaft broker whose files all live under `home` (properties, data,
    logs), formatting its storage first if it has never run. Returns at once: the caller waits
    (`wait_for_kafka`) and owns the process (its own session, so it survives `make`). Tests
    call this to get a broker that has never run, on ports of their own."""
    java = kafka_java(libs)
    data = home / "data"
    home.mkdir(parents=True, exist_ok=True)
    properties = home / "server.properties"
    template = (HERE / "server.properties.in").read_text()
    properties.write_text(
        template.replace("@PORT@", str(port))
        .replace("@CONTROLLER_PORT@", str(controller_port))
        .replace("@DATA_DIR@", str(data))
    )
    format_kafka_storage(java, libs, properties, data)
    return start_kafka_process(java, libs, properties, home)


def kafka_java(libs: Path) -> str:
    """The java binary, once the broker's jars are in `libs`."""
    java = shutil.which("java")
    if java is None:
        raise StackError("a Java 17+ runtime (java) is needed to run the Kafka broker")
    ensure_kafka_jars(libs)
    return java


def format_kafka_storage(
    java: str, libs: Path, properties: Path, data: Path, extra: Sequence[str] = ()
) -> None:
    """Format a broker's storage with a fresh cluster id unless it has run before; `extra`
    are more arguments of the storage tool (`--add-scram ...`)."""
    if (data / "meta.properties").exists():
        return
    run(
        [
            java,
            "-cp",
            f"{libs}/*",
            "kafka.tools.StorageTool",
            "format",
            "-g",
            "-t",
            kafka_cluster_id(),
            "-c",
            str(properties),
            *extra,
        ],
        capture_output=True,
    )


def start_kafka_process(
    java: str, libs: Path, properties: Path, home: Path
) -> subprocess.Popen[bytes]:
    with (home / "stdout.log").open("ab") as out:
        return subprocess.Popen(
            [
                java,
                *KAFKA_JVM_OPTS,
                f"-Dlog4j2.configurationFile={HERE / 'log4j2.properties'}",
                f"-Dkafka.logs.dir={home}",
                "-cp",
                f"{libs}/*",
                "kafka.Kafka",
                str(properties),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives `make` and the shell that ran it
        )


@dataclass(frozen=True)
class SecureBroker:
    """What `launch_secure_kafka` needs: PEM files (the key store holds the broker's
    unencrypted PKCS#8 key and its certificate), the SCRAM users to create, whether to
    authorise with ACLs."""

    keystore: Path
    truststore: Path
    admin_password: str
    users: Mapping[str, str]  # name -> password, each for SCRAM-SHA-256 and SCRAM-SHA-512
    authorizer: bool = True


def launch_secure_kafka(
    home: Path, port: int, controller_port: int, libs: Path, secure: SecureBroker
) -> subprocess.Popen[bytes]:
    """Like `launch_kafka`, but its one client listener is SASL_SSL (SCRAM, client
    certificates required), the broker talks to itself there as the super user `admin`, and,
    with `secure.authorizer`, KRaft's StandardAuthorizer denies what no ACL allows. The
    controller listener stays PLAINTEXT on 127.0.0.1: in KRaft the broker reaches its
    controller as User:ANONYMOUS, which is therefore a super user too."""
    java = kafka_java(libs)
    data = home / "data"
    home.mkdir(parents=True, exist_ok=True)
    base = (HERE / "server.properties.in").read_text()
    base = base.replace("@CONTROLLER_PORT@", str(controller_port)).replace("@DATA_DIR@", str(data))
    scram_login = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="admin" password="{secure.admin_password}";'
    )
    overrides = {
        "listeners": f"SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"SASL_SSL://127.0.0.1:{port}",
        "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "SASL_SSL",
        "sasl.enabled.mechanisms": "SCRAM-SHA-256,SCRAM-SHA-512",
        "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-256",
        # Each enabled mechanism needs a login entry, though only one is used inter-broker.
        "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config": scram_login,
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": scram_login,
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(secure.keystore),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(secure.truststore),
        # On a SASL_SSL listener only the listener-prefixed form applies (KIP-684).
        "listener.name.sasl_ssl.ssl.client.auth": "required",
        # With ACLs, topics come from the orchestrator's admin client or not at all.
        "auto.create.topics.enable": "false" if secure.authorizer else "true",
    }
    if secure.authorizer:
        overrides["authorizer.class.name"] = (
            "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
        )
        overrides["super.users"] = "User:admin;User:ANONYMOUS"
    kept = [
        line
        for line in base.splitlines()
        if line.partition("=")[0].strip() not in overrides
        and not line.startswith(("listeners=", "advertised.listeners="))
    ]
    properties = home / "server.properties"
    properties.write_text("\n".join([*kept, *(f"{k}={v}" for k, v in overrides.items())]) + "\n")
    properties.chmod(0o600)  # it holds the admin's password
    scram = [
        argument
        for name, password in {"admin": secure.admin_password, **secure.users}.items()
        for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-512")
        for argument in ("--add-scram", f"{mechanism}=[name={name},password={password}]")
    ]
    format_kafka_storage(java, libs, properties, data, scram)
    return start_kafka_process(java, libs, properties, home)


def kafka_up(settings: Settings) -> str:
    home = RUN / "kafka"
    pid_file = home / "kafka.pid"
    own_pid = read_pid(pid_file)
    if own_pid is None and kafka_answers(settings.kafka_bootstrap):
        return f"Kafka answering at {settings.kafka_bootstrap} (reused)"
    if own_pid is not None:
        wait_for_kafka(settings.kafka_bootstrap, own_pid, home / "server.log")
        return f"Kafka answering at {settings.kafka_bootstrap} (pid {own_pid}, reused)"
    if not settings.kafka_bootstrap_is_default:
        raise StackError(
            f"SAGA_KAFKA_BOOTSTRAP={settings.kafka_bootstrap} does not answer; start that broker, "
            "or unset SAGA_KAFKA_BOOTSTRAP to let `make up` run a local one"
        )
    host, _, port_text = settings.kafka_bootstrap.rpartition(":")
    port = int(port_text)
    for taken in (port, KAFKA_CONTROLLER_PORT):
        if port_is_open(host, taken):
            raise StackError(
                f"port {taken} is in use by something that is not a Kafka broker "
                f"({who_listens(taken)}); stop it or set SAGA_KAFKA_BOOTSTRAP"
            )
    process = launch_kafka(home, port, KAFKA_CONTROLLER_PORT, RUN / "kafka-libs")
    pid_file.write_text(f"{process.pid}\n")
    wait_for_kafka(settings.kafka_bootstrap, process.pid, home / "server.log")
    return f"Kafka 4.1 started on {settings.kafka_bootstrap} (pid {process.pid}, logs in {home})"


def wait_for_kafka(
    bootstrap: str, pid: int, log_file: Path, client_config: Mapping[str, str] | None = None
) -> None:
    deadline = time.monotonic() + KAFKA_READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            raise StackError(
                f"the Kafka broker (pid {pid}) exited during start-up:\n{tail(log_file)}"
            )
        if kafka_answers(bootstrap, timeout=3.0, client_config=client_config):
            return
        time.sleep(0.5)
    os.killpg(pid, signal.SIGKILL)
    raise StackError(
        f"the Kafka broker did not answer within {KAFKA_READY_TIMEOUT_S:.0f}s; killed it:\n"
        f"{tail(log_file)}"
    )


def kafka_down() -> str:
    pid_file = RUN / "kafka" / "kafka.pid"
    pid = read_pid(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return "Kafka: not started by this checkout"
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    return f"Kafka stopped (pid {pid})"


# --------------------------------------------------------------------------- schema registry


def registry_answers(url: str, timeout: float = 3.0) -> bool:
    """True when `url` speaks Confluent's registry API (any answer with its content type: the
    tables may not be migrated yet, and an authenticating registry answers 401)."""
    if urlsplit(url).scheme not in ("http", "https"):
        return False
    try:
        with urllib.request.urlopen(f"{url}/config", timeout=timeout) as reply:  # noqa: S310
            content_type = reply.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        content_type = exc.headers.get("Content-Type", "")
    except (OSError, ValueError):
        return False
    return str(content_type).startswith("application/vnd.schemaregistry")


def launch_registry(home: Path, host: str, port: int, database_url: str) -> subprocess.Popen[bytes]:
    """Start `sagactl registry serve` on host:port over `database_url`'s built-in registry, its
    log under `home`. Returns at once: the caller waits (`wait_for_registry`) and owns the
    process (its own session, so it survives `make`)."""
    home.mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, "SAGA_DATABASE_URL": database_url}
    environment.pop("SAGA_SCHEMA_REGISTRY_URL", None)  # the server is the registry, not a client
    with (home / "registry.log").open("ab") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "orchestrator.cli",
                "registry",
                "serve",
                "--host",
                host,
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=environment,
            cwd=HERE.parent,
            start_new_session=True,
        )


def registry_up(settings: Settings) -> str:
    home = RUN / "registry"
    pid_file = home / "registry.pid"
    url = settings.schema_registry_url
    own_pid = read_pid(pid_file)
    if own_pid is None and registry_answers(url):
        return f"schema registry answering at {url} (reused)"
    if own_pid is not None:
        wait_for_registry(url, own_pid, home / "registry.log")
        return f"schema registry answering at {url} (pid {own_pid}, reused)"
    if not settings.schema_registry_url_is_default:
        raise StackError(
            f"SAGA_SCHEMA_REGISTRY_URL={url} does not answer; start that registry, or unset "
            "SAGA_SCHEMA_REGISTRY_URL to let `make up` run a local one"
        )
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 8081
    if port_is_open(host, port):
        raise StackError(
            f"port {port} is in use by something that is not a schema registry "
            f"({who_listens(port)}); stop it or set SAGA_SCHEMA_REGISTRY_URL"
        )
    process = launch_registry(home, host, port, settings.database_url)
    pid_file.write_text(f"{process.pid}\n")
    wait_for_registry(url, process.pid, home / "registry.log")
    return f"schema registry started on {url} (pid {process.pid}, log in {home})"


def wait_for_registry(url: str, pid: int, log_file: Path) -> None:
    deadline = time.monotonic() + REGISTRY_READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            raise StackError(
                f"the schema registry (pid {pid}) exited during start-up:\n{tail(log_file)}"
            )
        if registry_answers(url, timeout=1.0):
            return
        time.sleep(0.2)
    os.killpg(pid, signal.SIGKILL)
    raise StackError(
        f"the schema registry did not answer within {REGISTRY_READY_TIMEOUT_S:.0f}s; killed it:"
        f"\n{tail(log_file)}"
    )


def registry_down() -> str:
    return stop_by_pid_file(RUN / "registry" / "registry.pid", "schema registry")


def stop_by_pid_file(pid_file: Path, name: str, grace_s: float = 10.0) -> str:
    """SIGTERM the process `pid_file` names (SIGKILL after `grace_s`), if it still runs."""
    pid = read_pid(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return f"{name}: not started by this checkout"
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    return f"{name} stopped (pid {pid})"


# --------------------------------------------------------------------------- Jaeger

DEFAULT_JAEGER_URL = "http://127.0.0.1:16686"
# The binary `make` builds from the Go module proxy (.devstack/jaeger/go.mod pins the version).
JAEGER_BINARY = RUN / "bin" / "jaeger"
# Idle it holds ~65 MB; the Go runtime collects harder as it nears this, and the collector's
# memory_limiter (jaeger.yaml) refuses spans before the heap passes its own limit.
JAEGER_GOMEMLIMIT = "320MiB"
# A Go binary, no JIT: a second or two even on a loaded machine.
JAEGER_READY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class JaegerPorts:
    """Where one Jaeger instance listens, all on 127.0.0.1 (see .devstack/jaeger.yaml)."""

    query: int = 16686
    query_grpc: int = 16685
    otlp_grpc: int = 4317
    otlp_http: int = 4318

    @property
    def query_url(self) -> str:
        return f"http://127.0.0.1:{self.query}"

    @property
    def otlp_endpoint(self) -> str:
        """The value for OTEL_EXPORTER_OTLP_ENDPOINT (OTLP over HTTP/protobuf)."""
        return f"http://127.0.0.1:{self.otlp_http}"

    def environment(self) -> dict[str, str]:
        return {
            "JAEGER_QUERY_PORT": str(self.query),
            "JAEGER_QUERY_GRPC_PORT": str(self.query_grpc),
            "JAEGER_OTLP_GRPC_PORT": str(self.otlp_grpc),
            "JAEGER_OTLP_HTTP_PORT": str(self.otlp_http),
        }


def jaeger_url_from_env() -> tuple[str, bool]:
    """The query URL to use and whether it is the default (ours to start)."""
    url = (os.environ.get("SAGA_JAEGER_URL") or DEFAULT_JAEGER_URL).rstrip("/")
    return url, url == DEFAULT_JAEGER_URL


def jaeger_answers(url: str, timeout: float = 3.0) -> bool:
    """True when `url` serves Jaeger's query API (GET /api/services answers JSON with data)."""
    try:
        with urllib.request.urlopen(f"{url}/api/services", timeout=timeout) as reply:  # noqa: S310
            body = json.loads(reply.read())
    except (OSError, ValueError):
        return False
    return isinstance(body, dict) and "data" in body


def launch_jaeger(
    home: Path, ports: JaegerPorts, binary: Path = JAEGER_BINARY
) -> subprocess.Popen[bytes]:
    """Start Jaeger with .devstack/jaeger.yaml on `ports`, its log under `home`. Returns at
    once: the caller waits (`wait_for_jaeger`) and owns the process (its own session, so it
    survives `make`). Tests call this to run an instance of their own on free ports."""
    if not binary.exists():
        raise StackError(
            f"Jaeger is not built ({binary} is missing); `make up` builds it with Go "
            "from the module proxy (.devstack/jaeger/go.mod)"
        )
    home.mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, **ports.environment(), "GOMEMLIMIT": JAEGER_GOMEMLIMIT}
    with (home / "jaeger.log").open("ab") as out:
        return subprocess.Popen(
            [str(binary), f"--config={HERE / 'jaeger.yaml'}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=environment,
            cwd=home,
            start_new_session=True,
        )


def wait_for_jaeger(ports: JaegerPorts, pid: int, log_file: Path) -> None:
    deadline = time.monotonic() + JAEGER_READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            raise StackError(f"Jaeger (pid {pid}) exited during start-up:\n{tail(log_file)}")
        # The query API answers last; the OTLP receiver must take spans before anyone sends.
        if jaeger_answers(ports.query_url, timeout=1.0) and port_is_open(
            "127.0.0.1", ports.otlp_http
        ):
            return
        time.sleep(0.2)
    os.killpg(pid, signal.SIGKILL)
    raise StackError(
        f"Jaeger did not answer within {JAEGER_READY_TIMEOUT_S:.0f}s; killed it:\n{tail(log_file)}"
    )


def jaeger_up() -> str:
    home = RUN / "jaeger"
    pid_file = home / "jaeger.pid"
    url, is_default = jaeger_url_from_env()
    ports = JaegerPorts()
    own_pid = read_pid(pid_file)
    if own_pid is None and jaeger_answers(url):
        return f"Jaeger answering at {url} (reused)"
    if own_pid is not None:
        wait_for_jaeger(ports, own_pid, home / "jaeger.log")
        return f"Jaeger answering at {url} (pid {own_pid}, reused)"
    if not is_default:
        raise StackError(
            f"SAGA_JAEGER_URL={url} does not answer; start that Jaeger, or unset "
            "SAGA_JAEGER_URL to let `make up` run a local one"
        )
    for taken in (ports.query, ports.query_grpc, ports.otlp_grpc, ports.otlp_http):
        if port_is_open("127.0.0.1", taken):
            raise StackError(
                f"port {taken} is in use by something that is not Jaeger "
                f"({who_listens(taken)}); stop it or set SAGA_JAEGER_URL"
            )
    process = launch_jaeger(home, ports)
    pid_file.write_text(f"{process.pid}\n")
    wait_for_jaeger(ports, process.pid, home / "jaeger.log")
    return (
        f"Jaeger started: UI {ports.query_url}, OTLP {ports.otlp_endpoint} "
        f"(pid {process.pid}, log in {home})"
    )


def jaeger_down() -> str:
    return stop_by_pid_file(RUN / "jaeger" / "jaeger.pid", "Jaeger")


def jaeger_status() -> str:
    url, _ = jaeger_url_from_env()
    return f"jaeger\t{'up' if jaeger_answers(url) else 'down'}\t{url}"


# --------------------------------------------------------------------------- entry point


def main(argv: Sequence[str]) -> int:
    command = argv[0] if argv else "up"
    settings = Settings.from_env()
    try:
        with stack_lock():
            if command == "up":
                started = time.monotonic()
                for line in (
                    postgres_up(settings),
                    kafka_up(settings),
                    registry_up(settings),
                    jaeger_up(),
                ):
                    log(line)
                log(f"stack ready in {time.monotonic() - started:.1f}s")
            elif command == "down":
                for line in (jaeger_down(), registry_down(), kafka_down(), postgres_down()):
                    log(line)
            elif command == "restart":
                # Chaos runs: stop and start one of our own servers (never a reused one).
                target = argv[1] if len(argv) > 1 else ""
                if target == "postgres":
                    log(postgres_down())
                    log(postgres_up(settings))
                elif target == "kafka":
                    log(kafka_down())
                    log(kafka_up(settings))
                else:
                    log("restart what? postgres or kafka")
                    return 2
            elif command == "status":
                pg = "up" if postgres_answers(settings.database_url) else "down"
                kafka = "up" if kafka_answers(settings.kafka_bootstrap) else "down"
                print(f"postgres\t{pg}\t{redact(settings.database_url)}")
                print(f"kafka\t{kafka}\t{settings.kafka_bootstrap}")
                registry = "up" if registry_answers(settings.schema_registry_url) else "down"
                print(f"registry\t{registry}\t{settings.schema_registry_url}")
                print(jaeger_status())
            else:
                log(f"unknown command {command!r}; use up, down, status or restart")
                return 2
    except StackError as exc:
        log(f"error: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
