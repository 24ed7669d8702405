#!/usr/bin/env python3
"""The embedded demo through the shipped SLURM profile, on a throwaway one-node SLURM (not in CI).

    sudo apt-get install -y slurm-wlm slurmdbd munge mariadb-server     # Debian 12: SLURM 22.05
    sudo /work/main/.venv/bin/python tools/slurm_cluster_check.py [--reference DIR] [--keep]

As root, on the machine itself (it is the login node and the compute node at once):

1. **local**: the demo run locally (`snakemake --cores N`) in a copy of the repository, the
   reference (or `--reference`: a finished demo run to compare with).
2. **accounting**: munged, MariaDB, slurmdbd, slurmctld and slurmd with their state, logs and
   sockets in a temporary folder (proctrack/linuxproc, task/none: no cgroups; a `main` partition,
   the default; an account `xlser`, root's default), then the demo in a fresh copy through
   `profiles/slurm-cpu` with only the documented edit (`max-threads:` = the node's CPUs). Checks:
   Snakemake exits 0; every job but the `localrules` ran through sbatch (sacct, by the plugin's
   `--comment rule_<rule>_wildcards_<...>`), COMPLETED, with the CPUs the job computes with
   (`torch_threads` for the model jobs, 1 or the capped `threads:` for the others), the
   memory and time limit Snakemake planned for it (`snakemake -n`), no GPU; the outputs equal the
   local run's (the tables' CSVs, and every other deterministic file: corpora, checkpoints,
   features, scores, predictions).
3. **no accounting**: slurmdbd and MariaDB stopped, slurmctld restarted with
   `AccountingStorageType=accounting_storage/none` (`sacct` fails): the `data` target through the
   same profile finishes (job states from squeue, `slurm-status-command: squeue`); the jobs'
   records come from `JobCompType=jobcomp/filetxt`. Then `sbatch --gpus=1` on this node without
   GPUs gives the error docs/troubleshooting.md names.

The config must be where SLURM looks by default (`/etc/slurm/slurm.conf`, `slurmdbd.conf`): the
jobstep plugin drops SLURM_CONF from the job's environment. Files already there are moved aside
and put back. Daemons are stopped by the PIDs they wrote; `--keep` leaves the temporary folder
(logs, both runs). The node declares 64 GB (`SlurmdParameters=config_overrides`, memory not
enforced without cgroups): a typical node, so the profile's memory requests fit as shipped; the
demo's jobs use under 3 GB. Prints a summary (times, job counts, the flags seen) and exits 1
when a check fails.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
COPY = ("Snakefile", "envs", "workflow", "config", "src", "profiles")
PROFILE = "slurm-cpu"
ETC = Path("/etc/slurm")
# SLURM's clients (sbatch, sacct, sacctmgr, the job steps) reach munged on its default socket
MUNGE_SOCKET = Path("/run/munge/munge.socket.2")
NODE_MEM_MB = 64000
# compute with torch_threads
MODEL_RULES = {"extract_features", "finetune", "finetune_stacked", "diarize", "probe_layers"}
RULE_THREADS = {"resample_corpus": 4}  # other rules: 1 (workflow/rules/*.smk)
# not deterministic by design: timings, job records, rendered figures and the HTML report
VOLATILE = ("results/benchmarks/", "results/report/", "results/tables/cost.", "results/figures/", "logs/")
VOLATILE_SUFFIXES = (".png", ".pdf", ".usage.json")
TEXT_SUFFIXES = (".csv", ".json", ".md", ".tex", ".txt", ".yaml")


def sh(*cmd: str, check: bool = True, env: dict | None = None, timeout: float | None = None) -> str:
    """Run `cmd`; its stdout (stderr folded in), or an error naming the command and what it said."""
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    out = proc.stdout + proc.stderr
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{out[-3000:]}")
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, probe, timeout: float = 60.0) -> None:
    """Poll `probe()` (true when ready) every half second, up to `timeout` seconds."""
    end = time.time() + timeout
    while time.time() < end:
        try:
            if probe():
                return
        except (subprocess.SubprocessError, OSError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{what} did not come up within {timeout:.0f} s")


def socket_answers(path: Path) -> bool:
    """Whether a process accepts connections on the Unix socket `path`."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(str(path))
        except OSError:
            return False
    return True


class Cluster:
    """One node (this machine, `hostname -s`), one partition; state in `tmp`."""

    def __init__(self, tmp: Path, cpus: int) -> None:
        self.tmp, self.cpus, self.host = tmp, cpus, socket.gethostname().split(".")[0]
        for sub in ("munge", "mysql", "state", "spool", "log", "run"):
            (tmp / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(tmp / "munge", 0o700)
        self.ports = {k: free_port() for k in ("ctld", "slurmd", "dbd", "mysql")}
        self.pidfiles: dict[str, Path] = {}
        self.procs: list[subprocess.Popen] = []
        self.saved: dict[Path, Path] = {}
        self.jobcomp = tmp / "log" / "jobcomp.txt"

    # ---- configuration in /etc/slurm (moved aside and restored)
    def _write_etc(self, name: str, text: str, mode: int = 0o644) -> None:
        path = ETC / name
        if path.exists() and path not in self.saved and path.read_text().startswith("ClusterName=xlser\n"):
            # this check's own, left by a run killed before its teardown (a slurm.conf naming no running
            # controller makes every scontrol, and so every `snakemake` start, wait ~9 s): not the user's
            print(f"removing {path}, left by an earlier check")
            path.unlink()
        if path.exists() and path not in self.saved:
            self.saved[path] = path.with_name(f"{name}.xlser-saved")
            os.replace(path, self.saved[path])
        elif not path.exists():
            self.saved.setdefault(path, Path())
        path.write_text(text)
        os.chmod(path, mode)

    def restore_etc(self) -> None:
        for path, aside in self.saved.items():
            path.unlink(missing_ok=True)
            if aside != Path() and aside.exists():
                os.replace(aside, path)

    def slurm_conf(self, accounting: bool) -> str:
        t = self.tmp
        acct = (
            f"AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost=localhost\n"
            f"AccountingStoragePort={self.ports['dbd']}\nAccountingStoreFlags=job_comment\n"
            if accounting
            else "AccountingStorageType=accounting_storage/none\n"
        )
        return (
            f"ClusterName=xlser\nSlurmctldHost={self.host}\nAuthType=auth/munge\nCredType=cred/munge\n"
            "SlurmUser=root\nSlurmdUser=root\n"
            f"SlurmctldPort={self.ports['ctld']}\nSlurmdPort={self.ports['slurmd']}\n"
            f"StateSaveLocation={t}/state\nSlurmdSpoolDir={t}/spool\n"
            f"SlurmctldPidFile={t}/run/slurmctld.pid\nSlurmdPidFile={t}/run/slurmd.pid\n"
            f"SlurmctldLogFile={t}/log/slurmctld.log\nSlurmdLogFile={t}/log/slurmd.log\n"
            "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nMpiDefault=none\n"
            "JobAcctGatherType=jobacct_gather/none\nSchedulerType=sched/backfill\n"
            "SelectType=select/cons_tres\nSelectTypeParameters=CR_Core\nReturnToService=2\n"
            "SlurmdParameters=config_overrides\nMinJobAge=300\nInactiveLimit=0\nKillWait=30\nWaittime=0\n"
            f"{acct}JobCompType=jobcomp/filetxt\nJobCompLoc={self.jobcomp}\n"
            f"NodeName={self.host} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={NODE_MEM_MB} State=UNKNOWN\n"
            "PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n"
        )

    def slurmdbd_conf(self) -> str:
        t = self.tmp
        return (
            "AuthType=auth/munge\nDbdHost=localhost\n"
            f"DbdPort={self.ports['dbd']}\nSlurmUser=root\nLogFile={t}/log/slurmdbd.log\n"
            f"PidFile={t}/run/slurmdbd.pid\nStorageType=accounting_storage/mysql\nStorageHost=127.0.0.1\n"
            f"StoragePort={self.ports['mysql']}\nStorageUser=slurm\nStoragePass=xlser\nStorageLoc=slurm_acct_db\n"
        )

    # ---- daemons
    def start_munge(self) -> None:
        m = self.tmp / "munge"
        if MUNGE_SOCKET.exists():
            if socket_answers(MUNGE_SOCKET):
                raise RuntimeError(f"{MUNGE_SOCKET}: a munged runs here already (a real cluster?); not touching it")
            # left by a check that was killed before its teardown: no daemon behind it
            print(f"removing the stale {MUNGE_SOCKET} (no munged answers on it)")
            for stale in (MUNGE_SOCKET, MUNGE_SOCKET.with_name(MUNGE_SOCKET.name + ".lock")):
                stale.unlink(missing_ok=True)
        MUNGE_SOCKET.parent.mkdir(parents=True, exist_ok=True)
        key = m / "munge.key"
        key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o600)
        sh(
            "munged", "--force", f"--key-file={key}", f"--socket={MUNGE_SOCKET}",
            f"--pid-file={m}/munged.pid", f"--log-file={m}/munged.log", f"--seed-file={m}/munged.seed",
        )  # fmt: skip
        self.pidfiles["munged"] = m / "munged.pid"
        wait_for("munged", MUNGE_SOCKET.exists)

    def start_mariadb(self) -> None:
        t = self.tmp
        sh("mariadb-install-db", "--no-defaults", f"--datadir={t}/mysql", "--user=root", "--skip-test-db")
        log = open(t / "log" / "mariadb.log", "w")  # noqa: SIM115 (open while the server runs)
        self.procs.append(
            subprocess.Popen(
                ["mariadbd", "--no-defaults", f"--datadir={t}/mysql", f"--socket={t}/mysql.sock",
                 f"--port={self.ports['mysql']}", "--bind-address=127.0.0.1", f"--pid-file={t}/run/mariadb.pid",
                 "--user=root"],
                stdout=log, stderr=subprocess.STDOUT,
            )
        )  # fmt: skip
        self.pidfiles["mariadbd"] = t / "run" / "mariadb.pid"
        client = ["mariadb", "--no-defaults", f"--socket={t}/mysql.sock", "-u", "root"]
        wait_for("MariaDB", lambda: subprocess.run([*client, "-e", "select 1"], capture_output=True).returncode == 0)
        sql = (
            "CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'xlser'; "
            "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1'; FLUSH PRIVILEGES;"
        )
        sh(*client, "-e", sql)

    def start_slurmdbd(self) -> None:
        self._write_etc("slurmdbd.conf", self.slurmdbd_conf(), 0o600)
        self._write_etc("slurm.conf", self.slurm_conf(accounting=True))  # where sacctmgr finds slurmdbd
        sh("slurmdbd")
        self.pidfiles["slurmdbd"] = self.tmp / "run" / "slurmdbd.pid"
        wait_for("slurmdbd", lambda: subprocess.run(["sacctmgr", "-n", "show", "cluster"]).returncode == 0, 90)
        sh("sacctmgr", "-i", "add", "cluster", "xlser")
        sh("sacctmgr", "-i", "add", "account", "xlser", "Cluster=xlser", "Description=xlser", "Organization=xlser")
        sh("sacctmgr", "-i", "add", "user", "root", "Account=xlser", "DefaultAccount=xlser")

    def start_slurm(self, accounting: bool) -> None:
        self._write_etc("slurm.conf", self.slurm_conf(accounting))
        sh("slurmctld")
        self.pidfiles["slurmctld"] = self.tmp / "run" / "slurmctld.pid"
        sh("slurmd")
        self.pidfiles["slurmd"] = self.tmp / "run" / "slurmd.pid"
        wait_for("the node", lambda: sh("sinfo", "-h", "-o", "%t", check=False).strip() == "idle", 90)

    def stop(self, *names: str) -> None:
        """Stop the daemons named (all when none), by the PIDs they wrote."""
        for name in names or list(self.pidfiles)[::-1]:
            pidfile = self.pidfiles.pop(name, None)
            if pidfile is None or not pidfile.exists():
                continue
            pid = int(pidfile.read_text().split()[0])
            try:
                os.kill(pid, signal.SIGTERM)
                for _ in range(60):
                    time.sleep(0.5)
                    os.kill(pid, 0)
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for p in self.procs if not names or "mariadbd" in names else []:
            p.wait(timeout=30)


# ---- the workflow runs


def workflow_copy(dest: Path, max_threads: int) -> Path:
    """A copy of the repository's workflow with the profile's documented edit (`max-threads:`)."""
    dest.mkdir(parents=True)
    for name in COPY:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    prof = dest / "profiles" / PROFILE / "config.yaml"
    text = prof.read_text()
    edited = text.replace("# max-threads: 4 ", f"max-threads: {max_threads}  ", 1)
    assert edited != text, "the profile's documented max-threads line is gone"
    prof.write_text(edited)
    return dest


def snakemake(work: Path, *args: str, timeout: float) -> tuple[int, str, float]:
    """(exit code, output, seconds) of Snakemake in `work`; the output also goes to `work/run.log`."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env.pop("SLURM_CONF", None)
    t0 = time.time()
    with open(work / "run.log", "w") as log:
        proc = subprocess.run(
            [sys.executable, "-m", "snakemake", *args], cwd=work, stdout=log, stderr=subprocess.STDOUT,
            env=env, timeout=timeout,
        )  # fmt: skip
    return proc.returncode, (work / "run.log").read_text(), time.time() - t0


def planned(work: Path, *args: str) -> dict[tuple[str, str], dict]:
    """{(rule, wildcard values joined by `_`, as the plugin's --comment): {local, mem_mb, runtime}}
    of every job `snakemake -n` plans with the profile."""
    code, out, _ = snakemake(work, "-n", "--workflow-profile", f"profiles/{PROFILE}", *args, timeout=600)
    if code != 0:
        raise RuntimeError(f"dry run failed:\n{out[-3000:]}")
    jobs, cur = {}, None
    for line in out.splitlines():
        s = line.strip()
        if line.startswith(("rule ", "localrule ")) and s.endswith(":"):
            cur = {"rule": s.split()[1].rstrip(":"), "local": line.startswith("localrule"), "wildcards": ""}
        elif cur and s.startswith("wildcards:"):
            cur["wildcards"] = "_".join(kv.split("=", 1)[1] for kv in s.split(":", 1)[1].strip().split(", "))
        elif cur and s.startswith("resources:"):
            res = dict(kv.split("=", 1) for kv in s.split(":", 1)[1].strip().split(", ") if "=" in kv)
            cur |= {"mem_mb": int(res["mem_mb"]), "runtime": int(res["runtime"])}
            jobs[(cur["rule"], cur["wildcards"])] = cur
            cur = None
    return jobs


def mark_local(jobs: dict[tuple[str, str], dict], log: str) -> list[str]:
    """Mark the jobs of the rules the run executed locally (`localrule <name>:` in its log; a dry
    run prints every job as `rule`, whatever the executor): the Snakefile's `localrules`."""
    local = sorted({line.split()[1].rstrip(":") for line in log.splitlines() if line.startswith("localrule ")})
    for job in jobs.values():
        job["local"] = job["rule"] in local
    return local


def torch_threads(work: Path) -> int:
    return int(yaml.safe_load((work / "config/config.yaml").read_text()).get("torch_threads", 1))


def expected_cpus(rule: str, threads: int, max_threads: int) -> int:
    """The CPUs a job should ask for: what it computes with (`torch_threads` for the model
    jobs; the rule's threads, capped by max-threads, for the others)."""
    return threads if rule in MODEL_RULES else min(RULE_THREADS.get(rule, 1), max_threads)


def sacct_jobs(since: str) -> list[dict[str, str]]:
    fields = "JobID,JobName,Comment,AllocCPUS,ReqMem,Timelimit,ReqTRES,State,ExitCode,Account,Partition"
    out = sh("sacct", "-X", "-P", "-a", "-S", since, "-o", fields)
    return list(csv.DictReader(out.splitlines(), delimiter="|"))


def check_jobs(
    jobs: dict[tuple[str, str], dict], records: list[dict[str, str]], threads: int, max_threads: int
) -> list[str]:
    """Every job but the local ones ran through sbatch exactly once, COMPLETED, with the CPUs
    it computes with, the memory and time Snakemake planned, no GPU."""
    errors: list[str] = []
    seen: dict[tuple[str, str], list[dict[str, str]]] = {}
    for r in records:
        rule, _, wc = r["Comment"].removeprefix("rule_").partition("_wildcards_")
        seen.setdefault((rule, wc), []).append(r)
    for key, job in sorted(jobs.items()):
        got = seen.pop(key, [])
        if job["local"]:
            if got:
                errors.append(f"{key}: a local rule's job went through sbatch")
            continue
        if len(got) != 1:
            errors.append(f"{key}: ran {len(got)} times through sbatch")
            continue
        r = got[0]
        have = (r["State"], int(r["AllocCPUS"]), r["ReqMem"], r["Timelimit"], "gpu" in r["ReqTRES"])
        want = ("COMPLETED", expected_cpus(key[0], threads, max_threads), f"{job['mem_mb']}M", _minutes(job["runtime"]))
        if have != (*want, False):
            errors.append(f"{key} (job {r['JobID']}): state, CPUs, memory, time, GPU {have}; expected {(*want, False)}")
    errors += [f"{key}: an sbatch job Snakemake did not plan" for key in seen]
    return errors


def _minutes(m: int) -> str:
    """SLURM's time limit format of `m` minutes."""
    d, rest = divmod(m, 1440)
    return (f"{d}-" if d else "") + f"{rest // 60:02d}:{rest % 60:02d}:00"


def _normalised(path: Path, workdir: Path) -> bytes:
    """A file's bytes as compared: text with the run's own folder written `<workdir>` (raw.csv
    and the SED draw name absolute paths), JSON without the wall-time keys (`*time_s`)."""
    data = path.read_bytes()
    if not path.name.endswith(TEXT_SUFFIXES):
        return data
    text = data.decode("utf-8").replace(str(workdir.resolve()), "<workdir>")
    if path.suffix == ".json":
        doc = json.loads(text)
        if isinstance(doc, dict):
            text = json.dumps({k: v for k, v in doc.items() if not k.endswith("time_s")}, sort_keys=True)
    return text.encode("utf-8")


def compare(local: Path, remote: Path) -> tuple[int, list[str]]:
    """(files compared, those that differ or are missing) of the deterministic outputs:
    corpora, checkpoints, features, scores, predictions, tables."""
    same, diff = 0, []
    for base in ("resources", "results"):
        for f in sorted((local / base).rglob("*")):
            rel = f.relative_to(local).as_posix()
            if not f.is_file() or rel.startswith(VOLATILE) or rel.endswith(VOLATILE_SUFFIXES):
                continue
            other = remote / rel
            if other.is_file() and _normalised(f, local) == _normalised(other, remote):
                same += 1
            else:
                diff.append(rel)
    return same, diff


def run_id(log: str) -> str:
    """The plugin's run ID (every sbatch job of the run is named so)."""
    line = next((x for x in log.splitlines() if "SLURM run ID:" in x), "")
    return line.split("SLURM run ID:", 1)[1].strip() if line else ""


def jobcomp_records(path: Path, name: str) -> list[dict[str, str]]:
    """jobcomp/filetxt's records (one `Key=value ...` line per finished job) of jobs named `name`."""
    rows = []
    for line in path.read_text().splitlines() if path.exists() else []:
        rec = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        if rec.get("Name") == name:
            rows.append(rec)
    return rows


def run_profile(work: Path, *targets: str) -> tuple[int, str, float]:
    """The workflow through the profile; status checks every 5 s instead of 40 s at first
    (the test's only change of timing; it changes no sbatch flag)."""
    return snakemake(
        work, *targets, "--workflow-profile", f"profiles/{PROFILE}", "--slurm-init-seconds-before-status-checks",
        "5", "--seconds-between-status-checks", "5", timeout=3 * 3600,
    )  # fmt: skip


def phase_accounting(cluster: Cluster, tmp: Path, local: Path, cpus: int, summary: list[str]) -> list[str]:
    """The demo through the profile on the cluster with accounting: jobs, flags, outputs."""
    for start in (cluster.start_munge, cluster.start_mariadb, cluster.start_slurmdbd):
        start()
    cluster.start_slurm(accounting=True)
    work = workflow_copy(tmp / "slurm", cpus)
    jobs = planned(work)
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - 60))
    code, log, secs = run_profile(work)
    local_rules = mark_local(jobs, log)
    rid = run_id(log)
    records = [r for r in sacct_jobs(since) if r["JobName"] == rid]
    remote = sum(not j["local"] for j in jobs.values())
    done = sum(r["State"] == "COMPLETED" for r in records)
    summary.append(
        f"accounting: snakemake exit {code} in {secs:.0f} s; {len(jobs)} jobs planned, {remote} through sbatch "
        f"(sacct: {done} of {len(records)} COMPLETED), accounts {sorted({r['Account'] for r in records})}, "
        f"partitions {sorted({r['Partition'] for r in records})}"
    )
    errors = [f"snakemake exited {code}: see {work}/run.log"] if code else []
    errors += check_jobs(jobs, records, torch_threads(work), cpus)
    flags = sorted({(r["Comment"].removeprefix("rule_").split("_wildcards_")[0], r["AllocCPUS"], r["ReqMem"],
                     r["Timelimit"]) for r in records})  # fmt: skip
    summary.append("  rule, CPUs, memory, time limit: " + "; ".join(" ".join(f) for f in flags))
    summary.append("  run on the submit node (localrules): " + ", ".join(local_rules))
    tables = sorted(p.relative_to(local).as_posix() for p in (local / "results/tables").glob("*.csv"))
    tables = [t for t in tables if not t.startswith(VOLATILE)]
    same, diff = compare(local, work)
    summary.append(f"  outputs: {same} files equal to the local run's ({len(tables)} table CSVs), {len(diff)} differ")
    errors += [f"differs from the local run: {d}" for d in diff]
    if not tables:
        errors.append(f"the local run has no tables in {local}/results/tables")
    return errors


def phase_no_accounting(cluster: Cluster, tmp: Path, cpus: int, summary: list[str]) -> list[str]:
    """slurmdbd gone: the `data` target finishes all the same (squeue); sbatch --gpus on a node without GPUs."""
    cluster.stop("slurmd", "slurmctld", "slurmdbd", "mariadbd")
    cluster.start_slurm(accounting=False)
    errors = []
    sacct = sh("sacct", "-X", check=False)
    if "accounting storage is disabled" not in sacct.lower():
        errors.append(f"sacct still answers without accounting: {sacct[:200]}")
    work = workflow_copy(tmp / "slurm-noacct", cpus)
    jobs = planned(work, "data")
    code, log, secs = run_profile(work, "data")
    mark_local(jobs, log)
    records = jobcomp_records(cluster.jobcomp, run_id(log))
    remote = sum(not j["local"] for j in jobs.values())
    done = sum(r.get("JobState") == "COMPLETED" for r in records)
    summary.append(
        f"no accounting (sacct: {sacct.strip()[:60]!r}): `data` exit {code} in {secs:.0f} s; {remote} jobs through "
        f"sbatch planned, jobcomp {done} COMPLETED of {len(records)}"
    )
    if code or done != remote or len(records) != remote:
        errors.append(f"without accounting: exit {code}, {remote} jobs planned, {done} of {len(records)} completed")
    gres = sh("sbatch", "--gpus=1", "--output=/dev/null", "--wrap=true", check=False).strip()
    summary.append(f"sbatch --gpus=1 on a node without GPUs: {gres!r}")
    if "Invalid generic resource (gres) specification" not in gres:
        errors.append(f"sbatch --gpus=1 gave {gres!r}")
    return errors


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reference", help="a finished local demo run to compare with (default: run one)")
    ap.add_argument("--workdir", help="the temporary folder (default: a new one under $TMPDIR)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, both runs)")
    ap.add_argument("--skip-no-accounting", action="store_true", help="only the run with accounting")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the daemons and /etc/slurm")
    missing = [b for b in ("munged", "mariadbd", "slurmdbd", "slurmctld", "slurmd", "sbatch") if not shutil.which(b)]
    if missing:
        sys.exit(f"missing {missing}: apt-get install -y slurm-wlm slurmdbd munge mariadb-server")
    tmp = Path(args.workdir or tempfile.mkdtemp(prefix="xlser-slurm-"))
    cpus, summary, errors = os.cpu_count() or 1, [], []
    t0 = time.time()
    if args.reference:
        local = Path(args.reference)
    else:
        local = workflow_copy(tmp / "local", cpus)
        code, _, secs = snakemake(local, "--cores", str(cpus), timeout=3 * 3600)
        summary.append(f"local: `snakemake --cores {cpus}` exit {code} in {secs:.0f} s")
        errors += [f"the local run failed: {local}/run.log"] if code else []
    cluster = Cluster(tmp / "cluster", cpus)
    try:
        errors += phase_accounting(cluster, tmp, local, cpus, summary)
        if not args.skip_no_accounting:
            errors += phase_no_accounting(cluster, tmp, cpus, summary)
    finally:
        cluster.stop()
        cluster.restore_etc()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    summary.append(f"total {time.time() - t0:.0f} s on {cpus} CPUs; {'kept ' + str(tmp) if args.keep else ''}")
    print("\n".join(summary))
    print("\n".join(["FAILED:", *errors]) if errors else "PASSED")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
