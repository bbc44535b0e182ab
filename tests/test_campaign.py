"""Campaigns on a real Dask LocalCluster with a real redis-server: a killed worker loses no
record, an interrupted campaign resumes, a failure found by one worker is replayed first by
another through the shared example database, and a lost or absent Redis is handled."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace

import pytest

pytest.importorskip("distributed", reason="Dask distributed not installed: pip install 'conv-oracle[cluster]'")
pytest.importorskip("redis", reason="redis-py not installed: pip install 'conv-oracle[cluster]'")

from conv_oracle import campaign  # noqa: E402
from conv_oracle import schema_doc  # noqa: E402
from conv_oracle.aggregate import verdicts  # noqa: E402
from conv_oracle.stream import read  # noqa: E402

CLI = [sys.executable, "-m", "conv_oracle.cli"]
FAILING = "conv_oracle.mutants:bias_ignored"       # a planted bug: every shard finds and shrinks it
FAILING_NAME = FAILING                             # one name everywhere: the one asked for
IMPLS = ["loop", FAILING]
SHARDS, EXAMPLES, PROFILE = 2, 20, "ci"           # ci: no local database, so verdicts depend on seeds alone
SETTINGS = campaign.WorkerSettings(campaign.hypothesis_version(), jax=False, trusted=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path):
    """A real redis-server on loopback, stopped after the test."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server not installed (Debian package redis-server; ./run tests installs it)")
    import redis

    port = _free_port()
    server = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                               "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.time() + 20
    while True:
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.exceptions.ConnectionError:
            if time.time() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail(f"redis-server did not start on port {port}")
            time.sleep(0.05)
    server.url = url
    yield server
    server.kill()
    server.wait()


@pytest.fixture(scope="module")
def client():
    """One embedded LocalCluster (two worker processes, one thread each) for the module."""
    with campaign.connect(workers=2) as dask_client:
        yield dask_client


def _verdicts(result: campaign.Campaign) -> dict:
    campaign.replay_failures(result, trusted=True)
    merged = campaign.merged_records(result, SETTINGS, profile=PROFILE, examples=EXAMPLES, seed=0, impls=IMPLS)
    report = campaign.merged_report(result, merged, SETTINGS)
    schema_doc.validate("conformance", report)
    return verdicts(report)


@pytest.fixture(scope="module")
def undisturbed_run(client, tmp_path_factory):
    """A campaign that nothing disturbed, and its verdicts."""
    jsonl = str(tmp_path_factory.mktemp("undisturbed") / "campaign.jsonl")
    result = campaign.run(campaign.plan(IMPLS, SHARDS, profile=PROFILE, examples=EXAMPLES), SETTINGS, jsonl=jsonl,
                          scheduler=client.scheduler.address)
    assert len(result.shards) == SHARDS * len(IMPLS) and not result.errors
    return result, _verdicts(result)


@pytest.fixture(scope="module")
def undisturbed(undisturbed_run):
    return undisturbed_run[1]


def test_undisturbed_campaign_reports_the_planted_bug_once_replayed_on_the_client(undisturbed_run):
    result, report = undisturbed_run
    by_name = {e["name"]: e for e in report["implementations"]}
    assert by_name["loop"]["status"] == "pass" and by_name[FAILING_NAME]["status"] == "fail"
    found_by = [s for s in result.shards if s.shard.impl == FAILING and s.summary.findings]
    assert len(found_by) == SHARDS, "every shard of the planted bug should find it"
    found = [(f.shrunk.search, f.shrunk.relation, f.shrunk.descriptor) for s in found_by for f in s.summary.findings]
    assert len(result.replays) == len(set(found)) < len(found), "not deduplicated by descriptor"
    assert len(by_name[FAILING_NAME]["failures"]) == len(result.replays)
    assert all(r.reproduced and r.replayed.kind == r.found.kind for r in result.replays)
    # examples count distinct cases: the shards' own counts, less the cases that two seeds both drew
    distinct = {tuple(r[k] for k in ("search", "relation", "descriptor", "seed", "fill"))
                for s in result.shards if s.shard.impl == "loop" for r in s.records
                if r.get("record") == "case" and r["search"] == "oracle"}
    assert by_name["loop"]["examples"] == len(distinct) > EXAMPLES


def test_killed_worker_loses_no_record(client, undisturbed, tmp_path):
    killed = {}

    def kill_a_busy_worker(result, dask_client):
        if killed:
            return
        busy = {w: keys for w, keys in dask_client.processing().items() if keys}
        if not busy:
            return
        worker, keys = next(iter(busy.items()))
        pid = dask_client.run(os.getpid, workers=[worker])[worker]
        os.kill(pid, signal.SIGKILL)
        killed.update(worker=worker, keys=list(keys))

    result = campaign.run(campaign.plan(IMPLS, SHARDS, profile=PROFILE, examples=EXAMPLES), SETTINGS,
                          jsonl=str(tmp_path / "campaign.jsonl"), scheduler=client.scheduler.address,
                          on_shard=kill_a_busy_worker)
    assert killed, "no worker was busy when the first shard finished: nothing was killed"
    assert not result.errors and len(result.shards) == SHARDS * len(IMPLS)
    rerun = [s for s in result.shards if any(s.shard.key in k for k in killed["keys"])]
    assert rerun and all(s.worker != killed["worker"] for s in rerun), "the killed worker's shard was not re-run"
    assert _verdicts(result) == undisturbed
    assert len(read(str(tmp_path / "campaign.jsonl"))) == sum(len(s.case_records) + 1 for s in result.shards)


def _finished(jsonl) -> int:
    """Shards marked done in a campaign's JSONL file."""
    return sum(r.get("record") == "shard" for r in read(str(jsonl))) if os.path.exists(jsonl) else 0


def _cli_campaign(out, *extra):
    return CLI + ["campaign", *[a for impl in IMPLS for a in ("--impl", impl)], "--shards", str(SHARDS),
                  "--profile", PROFILE, "--examples", str(EXAMPLES), "--no-jax", "--trusted", "--workers", "1",
                  "--out", str(out), *extra]


def test_interrupted_campaign_resumes_running_only_unfinished_shards(undisturbed, tmp_path):
    jsonl = tmp_path / "campaign.jsonl"
    proc = subprocess.Popen(_cli_campaign(tmp_path, "--jsonl", str(jsonl)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and not _finished(jsonl) and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = _finished(jsonl)
    assert 1 <= finished < SHARDS * len(IMPLS), "the campaign was not interrupted midway"
    resumed = subprocess.run(_cli_campaign(tmp_path, "--resume", str(jsonl)), capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 1, resumed.stdout + resumed.stderr      # 1: the planted bug fails
    assert f"{finished} shards finished, {SHARDS * len(IMPLS) - finished} to run" in resumed.stdout
    assert resumed.stdout.count("\nshard ") + resumed.stdout.startswith("shard ") == SHARDS * len(IMPLS) - finished
    with open(tmp_path / "conformance.json") as fh:
        assert verdicts(json.load(fh)) == undisturbed
    assert _finished(jsonl) == SHARDS * len(IMPLS)
    # the campaign's JSONL file is a report stream: every line a valid record, and the report
    # rebuilt from it has the same verdicts
    for record in read(str(jsonl)):
        schema_doc.validate("records", record)
    rebuilt = subprocess.run(CLI + ["report", "--from-jsonl", str(jsonl), "--out", str(tmp_path / "rebuilt")],
                             capture_output=True, text=True, timeout=300)
    assert rebuilt.returncode == 1, rebuilt.stdout + rebuilt.stderr       # 1: the planted bug fails
    with open(tmp_path / "rebuilt" / "conformance.json") as fh:
        assert verdicts(json.load(fh)) == undisturbed


def test_failure_found_by_one_worker_is_replayed_first_by_the_other(client, redis_url, tmp_path):
    client.wait_for_workers(2, timeout=120)      # a worker killed by an earlier test is restarted by its nanny
    first, second = sorted(client.scheduler_info()["workers"])[:2]
    shared = campaign.WorkerSettings(campaign.hypothesis_version(), jax=False, trusted=True,
                                     local_database=str(tmp_path / "db-first"), shared_database=redis_url.url)
    finder = client.submit(campaign.run_shard, campaign.Shard(FAILING, 1, "dev", EXAMPLES), shared,
                           workers=[first], pure=False).result()
    assert finder.summary.failures and finder.worker == first
    found = finder.summary.failures[0].descriptor

    def first_case_on_second_worker(settings, seed):
        result = client.submit(campaign.run_shard, campaign.Shard(FAILING, seed, "dev", EXAMPLES), settings,
                               workers=[second], pure=False).result()
        assert result.worker == second
        return result.summary.results[0]

    # its own local database is empty: only Redis can hand it the first worker's failure
    via_redis = first_case_on_second_worker(
        replace(shared, local_database=str(tmp_path / "db-second")), 2)
    assert via_redis.descriptor == found and not via_redis.ok
    alone = first_case_on_second_worker(
        replace(shared, local_database=str(tmp_path / "db-alone"), shared_database=None), 2)
    assert alone.descriptor != found, "the second worker draws that case first anyway: the test shows nothing"


def test_redis_lost_mid_run_goes_on_with_the_local_database(client, redis_url, tmp_path):
    settings = campaign.WorkerSettings(campaign.hypothesis_version(), jax=False, trusted=True,
                                       local_database=str(tmp_path / "db"), shared_database=redis_url.url)
    events = []

    def stop_redis(result, dask_client):
        if redis_url.poll() is None:
            redis_url.kill()
            redis_url.wait()

    result = campaign.run(campaign.plan([FAILING], 4, profile="dev", examples=EXAMPLES), settings,
                          jsonl=str(tmp_path / "campaign.jsonl"), scheduler=client.scheduler.address,
                          on_event=events.append, on_shard=stop_redis)
    assert not result.errors and len(result.shards) == 4
    assert result.database_lost and redis_url.url in result.database_lost
    assert any("goes on with the local database" in e for e in events)
    assert all(s.summary.findings for s in result.shards)
    assert any((tmp_path / "db").rglob("*")), "the local database kept nothing"


def test_unreachable_redis_is_one_line_and_exit_2(tmp_path):
    run = subprocess.run(_cli_campaign(tmp_path, "--database", f"redis://127.0.0.1:{_free_port()}/0"),
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stdout + run.stderr
    lines = [line for line in run.stderr.splitlines() if line.startswith("conv-oracle: error:")]
    assert len(lines) == 1 and "cannot reach the example database" in lines[0], run.stderr
    assert "Traceback" not in run.stderr and not (tmp_path / "campaign.jsonl").exists()


def test_workers_with_another_hypothesis_version_are_refused(client):
    import hypothesis

    ours = hypothesis.__version__

    def pretend(version):
        import hypothesis

        hypothesis.__version__ = version

    client.wait_for_workers(2, timeout=120)
    worker = sorted(client.scheduler_info()["workers"])[0]
    client.run(pretend, "0.0.1", workers=[worker])
    try:
        with pytest.raises(campaign.CampaignError, match=f"refusing workers .* {worker} has 0.0.1"):
            campaign.check_versions(client)
    finally:
        client.run(pretend, ours, workers=[worker])
    assert set(campaign.check_versions(client).values()) == {ours}


def test_timed_campaign_keeps_submitting_further_seeds(client, tmp_path):
    result = campaign.run(campaign.plan(["loop"], 1, profile=PROFILE, examples=5), SETTINGS,
                          jsonl=str(tmp_path / "campaign.jsonl"), scheduler=client.scheduler.address, minutes=0.1)
    seeds = sorted(s.shard.seed for s in result.shards)
    assert len(seeds) > 1 and seeds == list(range(len(seeds))), seeds
    assert _finished(tmp_path / "campaign.jsonl") == len(seeds)


def test_dtype_and_family_filters_draw_only_those():
    result = campaign.run_shard(campaign.Shard("loop", 0, PROFILE, 10, dtype="float64", spec_family="realistic"),
                                SETTINGS)
    drawn = [r["descriptor"] for r in result.records if r.get("record") == "case" and r["search"] != "honesty"]
    assert drawn and all(d.endswith(" f64") for d in drawn), drawn
    assert result.run_record["families"] == {"realistic": result.summary.examples} and result.summary.examples >= 5
